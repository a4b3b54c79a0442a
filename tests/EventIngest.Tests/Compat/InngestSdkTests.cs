using System.Diagnostics;
using System.Text.Json;
using EventIngest.DevServer.Azurite;
using EventIngest.Ingest;
using EventIngest.Tests.Infrastructure;
using EventIngest.Ids;

namespace EventIngest.Tests.Compat;

/// <summary>The real <c>inngest</c> npm SDK (pinned in tools/node) sending to the local host.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class InngestSdkTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private TestHost _host = null!;

    public async Task InitializeAsync() => _host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task SdkSendOfOneEventAndOfABatchReturnsTheIdsTheServerAssigned()
    {
        var result = await RunAsync("send");
        var single = result.GetProperty("single").EnumerateArray().Select(e => e.GetString()!).ToList();
        var batch = result.GetProperty("batch").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Single(single);
        Assert.Equal(3, batch.Count);
        Assert.All(single.Concat(batch), id => Assert.True(Ulid.IsValid(id)));

        var messages = await _host.ReceiveAllAsync();
        Assert.Equal(single.Concat(batch).Order(), messages.Select(m => m.GetProperty("internal_id").GetString()!).Order());
        var first = messages.Single(m => m.GetProperty("internal_id").GetString() == single[0]);
        Assert.Equal("compat/single", first.GetProperty("name").GetString());
        Assert.Equal(1, first.GetProperty("data").GetProperty("n").GetInt32());
    }

    [Fact]
    public async Task SdkRetryWithTheSameSeedGetsTheSameIdsAndStoresOnce()
    {
        var result = await RunAsync("retry");
        var attempts = result.GetProperty("attempts").EnumerateArray().ToList();
        Assert.Equal(2, attempts.Count);
        Assert.Equal(attempts[0].GetProperty("seed").GetString(), attempts[1].GetProperty("seed").GetString());
        Assert.NotNull(IdSeed.Parse(attempts[0].GetProperty("seed").GetString()));

        var firstIds = attempts[0].GetProperty("body").GetProperty("ids").ToString();
        Assert.Equal(firstIds, attempts[1].GetProperty("body").GetProperty("ids").ToString());
        Assert.Equal(firstIds, result.GetProperty("ids").ToString());
        Assert.All(attempts[1].GetProperty("body").GetProperty("events").EnumerateArray(),
            e => Assert.Equal("duplicate", e.GetProperty("outcome").GetString()));
        Assert.Equal(2, (await _host.ReceiveAllAsync()).Count);
    }

    private async Task<JsonElement> RunAsync(string mode)
    {
        // Test-only tools live apart from Azurite (tools/azurite), so the local host's first run does not install them.
        var tools = NodeTools.Find("node", "EVENTINGEST_NODE_TOOLS");
        await NodeTools.EnsureInstalledAsync(tools, Path.Combine("node_modules", "inngest", "package.json"), installIfMissing: true, logger: null, CancellationToken.None);
        var script = Path.Combine(AppContext.BaseDirectory, "Compat", "inngest-compat.mjs");
        var start = new ProcessStartInfo("node", [script, mode, _host.BaseAddress.ToString()])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment = { ["EVENTINGEST_NODE_TOOLS"] = tools },
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        Assert.True(process.ExitCode == 0, $"node exited {process.ExitCode}: {await stderr}");
        return JsonDocument.Parse(await stdout).RootElement;
    }
}
