using System.Net;
using EventIngest.StorageFaults;
using EventIngest.Tests.Api;
using EventIngest.Tests.Infrastructure;

namespace EventIngest.Tests.Reliability;

/// <summary>A replay answered 200 is on its queue once and logged once, also when the log's write is slow,
/// throttled, or lands while its answer is lost (its retry then meets that write).</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class ReplayFaultTests(AzuriteFixture azurite) : ProxiedHostTests(azurite)
{
    [Theory]
    [InlineData(FaultKind.ResetAfterForward)]
    [InlineData(FaultKind.ServerBusy)]
    [InlineData(FaultKind.Latency)]
    public async Task AReplayWhoseLogWriteLandsWhileItsAnswerIsLostIs200AndLoggedOnce(FaultKind kind)
    {
        var id = Assert.Single(await Host.SendForIdsAsync("""{"name":"app/x"}"""));
        Assert.Single(await Host.ReceiveAtLeastAsync(1));
        var lost = Proxy.Add(new FaultRule
        {
            Service = StorageService.Table,
            Operation = StorageOperation.TableInsert,
            Kind = kind,
            Delay = TimeSpan.FromSeconds(3),
            Times = 1,
            When = r => r.PathAndQuery.Contains(Host.Prefix + "replays", StringComparison.Ordinal),
        });

        var (status, body) = await Host.ReplayAsync(id);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(1, lost.Applied);
        var deliveryId = body.GetProperty("data").GetProperty("delivery_id").GetString();
        var replayed = Assert.Single(await Host.ReceiveAtLeastAsync(1));
        Assert.Equal(deliveryId, replayed.GetProperty("delivery_id").GetString());
        var logged = Assert.Single(await Host.RowsAsync(Host.Storage.Replays));
        Assert.Equal(deliveryId, logged.RowKey);
        Assert.Empty(await Host.ReceiveAllAsync());
    }
}
