namespace EventIngest.DevServer;

/// <summary>Starts Azurite for the local host when no storage is configured.</summary>
internal static class LocalStorage
{
    public static Task<LocalAzurite?> EnsureAsync(WebApplicationBuilder builder)
    {
        var c = builder.Configuration;
        if (!string.IsNullOrEmpty(c["EventIngest:Storage:ConnectionString"]) || !string.IsNullOrEmpty(c["EventIngest:Storage:TableServiceUri"]))
        {
            return Task.FromResult<LocalAzurite?>(null);
        }
        throw new InvalidOperationException("Azurite bootstrap not wired yet");
    }
}

internal sealed class LocalAzurite : IAsyncDisposable
{
    public string Description => "";
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
