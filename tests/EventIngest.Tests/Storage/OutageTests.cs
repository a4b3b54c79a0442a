using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using EventIngest.Tests.Infrastructure;

namespace EventIngest.Tests.Storage;

[Collection(AzuriteFixture.CollectionName)]
public sealed class OutageTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task UnreachableStorageGives503WithRetryAfterQuickly()
    {
        // A port nobody listens on: every storage call is refused.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var dead = $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DevServer.Azurite.AzuriteProcess.AccountKey};" +
                   $"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{port}/devstoreaccount1;TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;";

        await using var host = await TestHost.StartAsync(dead, azurite.NewStorageNamePrefix());
        var watch = Stopwatch.StartNew();
        var response = await host.SendAsync("""{"name":"app/x"}""");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.True(response.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        Assert.Equal(503, (await TestHost.JsonAsync(response)).GetProperty("status").GetInt32());
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"took {watch.Elapsed}");
    }
}
