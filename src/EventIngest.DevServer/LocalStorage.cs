using EventIngest.DevServer.Azurite;

namespace EventIngest.DevServer;

/// <summary>
/// Storage for the local host: the configured account if there is one, otherwise an Azurite of
/// its own that keeps its data under the local data folder and stops with the host.
/// </summary>
internal static class LocalStorage
{
    public static async Task<LocalAzurite?> EnsureAsync(WebApplicationBuilder builder)
    {
        var c = builder.Configuration;
        if (!string.IsNullOrEmpty(c["EventIngest:Storage:ConnectionString"]) || !string.IsNullOrEmpty(c["EventIngest:Storage:TableServiceUri"]))
        {
            return null;
        }

        var dataPath = DataPath(c);
        using var loggerFactory = LoggerFactory.Create(l => l.AddSimpleConsole(o => o.SingleLine = true));
        var logger = loggerFactory.CreateLogger("EventIngest.DevServer.Azurite");
        logger.LogInformation("No storage configured: starting Azurite with data in {Path}", dataPath);
        var azurite = await AzuriteProcess.StartAsync(Path.Combine(dataPath, "azurite"), logger);
        c["EventIngest:Storage:ConnectionString"] = azurite.ConnectionString;
        return new LocalAzurite(azurite);
    }

    /// <summary>Where the local host keeps Azurite's data (and, later, its local key): <c>EventIngest:Local:DataPath</c>,
    /// else <c>.data</c> at the repository root.</summary>
    public static string DataPath(IConfiguration configuration)
    {
        if (configuration["EventIngest:Local:DataPath"] is { Length: > 0 } configured) return Path.GetFullPath(configured);
        try
        {
            var tools = AzuriteProcess.FindToolsDirectory();
            return Path.GetFullPath(Path.Combine(tools, "..", "..", ".data"));
        }
        catch (InvalidOperationException)
        {
            return Path.GetFullPath(".data");
        }
    }
}

internal sealed class LocalAzurite(AzuriteProcess azurite) : IAsyncDisposable
{
    public string Description => $"Azurite (tables :{azurite.TablePort}, queues :{azurite.QueuePort}, blobs :{azurite.BlobPort}, data in {azurite.Location})";
    public ValueTask DisposeAsync() => azurite.DisposeAsync();
}
