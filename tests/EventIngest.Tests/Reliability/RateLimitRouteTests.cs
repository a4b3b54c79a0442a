using System.Net;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace EventIngest.Tests.Reliability;

[Collection(AzuriteFixture.CollectionName)]
public sealed class RateLimitRouteTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task KeyOverItsRateGets429WithRetryAfterInTheEnvelopeAndNothingStored()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(), new Dictionary<string, string?>
        {
            ["EventIngest:RateLimit:EventsPerSecond"] = "0.1",
            ["EventIngest:RateLimit:Burst"] = "3",
        }, s => s.AddSingleton<TimeProvider>(new ShiftedTime { StopwatchStopped = true })); // no refill, however slow the machine

        var batch = await host.SendAsync("""[{"name":"app/a"},{"name":"app/b"},{"name":"app/c"}]""", key: "busy-key");
        Assert.Equal(HttpStatusCode.OK, batch.StatusCode);

        var limited = await host.SendAsync("""{"name":"app/d"}""", key: "busy-key");
        Assert.Equal((HttpStatusCode)429, limited.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(10), limited.Headers.RetryAfter?.Delta);
        var body = await TestHost.JsonAsync(limited);
        Assert.Equal(429, body.GetProperty("status").GetInt32());
        Assert.Empty(body.GetProperty("ids").EnumerateArray());
        Assert.Contains("Rate limit", body.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("busy-key", await limited.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var otherKey = await host.SendAsync("""{"name":"app/e"}""", key: "quiet-key");
        Assert.Equal(HttpStatusCode.OK, otherKey.StatusCode);

        Assert.Equal(4, (await host.ReceiveAllAsync()).Count);
    }
}
