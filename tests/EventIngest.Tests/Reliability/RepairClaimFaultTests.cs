using EventIngest.Storage;
using EventIngest.StorageFaults;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace EventIngest.Tests.Reliability;

/// <summary>
/// The repair's claim of a caller key (for an event whose request died before its own claim) under storage faults:
/// a claim transaction that lands while its answer is lost, or one throttled and retried, still leaves the event
/// holding its key exactly once, listed for the cleanup.
/// </summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class RepairClaimFaultTests(AzuriteFixture azurite) : ProxiedHostTests(azurite)
{
    [Theory]
    [InlineData(FaultKind.ResetAfterForward)]
    [InlineData(FaultKind.ServerBusy)]
    public async Task TheRepairsClaimHoldsItsKeyOnceWhenItsTransactionIsRetried(FaultKind kind)
    {
        var store = Host.Services.GetRequiredService<EventStore>();
        var internalId = Ids.Ulid.NewUlid(Now);
        var fault = Proxy.Add(new FaultRule { Service = StorageService.Table, Operation = StorageOperation.TableBatch, Kind = kind, Times = 1 });

        Assert.True(await store.HoldsClaimAsync("dev", "order-f", internalId, Now, default));

        Assert.Equal(1, fault.Applied);
        Assert.Equal(internalId, await store.ClaimHolderAsync("dev", "order-f", default));
        var (partition, row) = EventStore.ClaimKeyFor("dev", "order-f");
        var rows = await Host.RowsAsync(Host.Storage.Idempotency, withBookkeeping: true);
        Assert.Single(rows, r => r.RowKey == row);
        Assert.Single(rows, r => r.PartitionKey == partition && r.RowKey.StartsWith(EventStore.ExpiryPrefix, StringComparison.Ordinal));
        // Another event's repair finds the key held.
        Assert.False(await store.HoldsClaimAsync("dev", "order-f", Ids.Ulid.NewUlid(Now), Now, default));
    }
}
