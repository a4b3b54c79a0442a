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
public sealed class RepairClaimFaultTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private StorageFaultProxy _proxy = null!;
    private TestHost _host = null!;

    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public async Task InitializeAsync()
    {
        _proxy = await StorageFaultProxy.StartAsync(azurite.ConnectionString);
        _host = await TestHost.StartAsync(_proxy.ConnectionString, azurite.NewStorageNamePrefix());
        await _host.Storage.EnsureCreatedAsync(default);
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _proxy.DisposeAsync();
    }

    [Theory]
    [InlineData(FaultKind.ResetAfterForward)]
    [InlineData(FaultKind.ServerBusy)]
    public async Task TheRepairsClaimHoldsItsKeyOnceWhenItsTransactionIsRetried(FaultKind kind)
    {
        var store = _host.Services.GetRequiredService<EventStore>();
        var internalId = Ids.Ulid.NewUlid(Now);
        var fault = _proxy.Add(new FaultRule { Service = StorageService.Table, Operation = StorageOperation.TableBatch, Kind = kind, Times = 1 });

        Assert.True(await store.HoldsClaimAsync("dev", "order-f", internalId, Now, default));

        Assert.Equal(1, fault.Applied);
        Assert.Equal(internalId, await store.ClaimHolderAsync("dev", "order-f", default));
        var (partition, row) = EventStore.ClaimKeyFor("dev", "order-f");
        var rows = await _host.RowsAsync(_host.Storage.Idempotency, withBookkeeping: true);
        Assert.Single(rows, r => r.RowKey == row);
        Assert.Single(rows, r => r.PartitionKey == partition && r.RowKey.StartsWith(EventStore.ExpiryPrefix, StringComparison.Ordinal));
        // Another event's repair finds the key held.
        Assert.False(await store.HoldsClaimAsync("dev", "order-f", Ids.Ulid.NewUlid(Now), Now, default));
    }
}
