using System.Diagnostics;
using System.Net;
using EventIngest.Tests.Infrastructure;

namespace EventIngest.Tests.Storage;

[Collection(AzuriteFixture.CollectionName)]
public sealed class OutageTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task UnreachableStorageGives503WithRetryAfterQuickly()
    {
        // Every storage call is refused.
        var dead = $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DevServer.Azurite.AzuriteProcess.AccountKey};" +
                   $"BlobEndpoint={DeadPort.Endpoint};QueueEndpoint={DeadPort.Endpoint};TableEndpoint={DeadPort.Endpoint};";

        await using var host = await TestHost.StartAsync(dead, azurite.NewStorageNamePrefix());
        var watch = Stopwatch.StartNew();
        var response = await host.SendAsync("""{"name":"app/x"}""");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.True(response.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        Assert.Equal(503, (await TestHost.JsonAsync(response)).GetProperty("status").GetInt32());
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"took {watch.Elapsed}");
    }
}
