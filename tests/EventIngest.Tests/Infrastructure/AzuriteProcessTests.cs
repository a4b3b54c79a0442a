using System.Diagnostics;
using System.Net.Sockets;
using Azure.Data.Tables;
using EventIngest.DevServer.Azurite;

namespace EventIngest.Tests.Infrastructure;

public sealed class AzuriteProcessTests : IDisposable
{
    private readonly string location =
        Path.Combine(Path.GetTempPath(), "eventingest-azurite-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task DataPersistedToALocationSurvivesARestart()
    {
        await using (var first = await AzuriteProcess.StartAsync(location))
        {
            var table = new TableClient(first.ConnectionString, "kept");
            await table.CreateAsync();
            await table.AddEntityAsync(new TableEntity("p", "r") { ["Value"] = 42 });
        }

        await using var second = await AzuriteProcess.StartAsync(location);
        var entity = await new TableClient(second.ConnectionString, "kept").GetEntityAsync<TableEntity>("p", "r");

        Assert.Equal(42, entity.Value.GetInt32("Value"));
    }

    [Fact]
    public async Task StartingOnALocationStopsTheAzuriteLeftRunningThere()
    {
        await using var abandoned = await AzuriteProcess.StartAsync(location);

        await using var current = await AzuriteProcess.StartAsync(location);

        Assert.True(await HasExitedAsync(abandoned.ProcessId), "the earlier Azurite still runs");
        await new TableClient(current.ConnectionString, "usable").CreateAsync();
    }

    [Fact]
    public async Task DisposingStopsAzuriteAndFreesItsPorts()
    {
        var azurite = await AzuriteProcess.StartAsync();
        var blobPort = azurite.BlobPort;

        await azurite.DisposeAsync();

        Assert.True(await HasExitedAsync(azurite.ProcessId), "Azurite still runs after dispose");
        // Refused, or answered by a server another test has started on the freed port since: not by Azurite.
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        try
        {
            using var response = await http.GetAsync($"http://127.0.0.1:{blobPort}/devstoreaccount1?comp=list");
            Assert.DoesNotContain("Azurite", response.Headers.Server.ToString(), StringComparison.Ordinal);
        }
        catch (HttpRequestException ex) when (ex.InnerException is SocketException)
        {
        }
    }

    [Fact]
    public async Task AStartThatTimesOutFailsWithAClearMessage()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(
            () => AzuriteProcess.StartAsync(startTimeout: TimeSpan.FromMilliseconds(1)));

        Assert.Contains("did not report its ports", error.Message, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        if (Directory.Exists(location))
        {
            Directory.Delete(location, recursive: true);
        }
    }

    private static async Task<bool> HasExitedAsync(int processId)
    {
        // The process may linger briefly as a zombie until its parent reaps it.
        for (var attempt = 0; attempt < 50; attempt++)
        {
            try
            {
                using var process = Process.GetProcessById(processId);
                if (process.HasExited)
                {
                    return true;
                }
            }
            catch (ArgumentException)
            {
                return true;
            }

            await Task.Delay(100);
        }

        return false;
    }
}
