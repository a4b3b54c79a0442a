using EventIngest.Scheduling;
using EventIngest.StorageFaults;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace EventIngest.Tests.Reliability;

/// <summary>
/// The parked release under storage faults: markers and table transactions that land while their responses are
/// lost, and a pass that fails part-way, still give every parked event exactly one delivery, and no parked row is
/// left behind once storage answers again.
/// </summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class ParkedReleaseFaultTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private readonly ShiftedTime _time = new();
    private StorageFaultProxy _proxy = null!;
    private TestHost _host = null!;

    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public async Task InitializeAsync()
    {
        _proxy = await StorageFaultProxy.StartAsync(azurite.ConnectionString);
        _host = await TestHost.StartAsync(_proxy.ConnectionString, azurite.NewStorageNamePrefix(),
            new Dictionary<string, string?> { ["EventIngest:Scheduling:Horizon"] = "00:01:00" },
            s => s.AddSingleton<TimeProvider>(_time));
        await _host.Storage.EnsureCreatedAsync(default);
        await _host.Storage.ReadyQueueAsync(_host.DefaultQueue, default);
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _proxy.DisposeAsync();
    }

    /// <summary>Parks 3 requests of 50 events due over 5 seconds (15 parked rows) and moves the clock to just before they are due.</summary>
    private async Task<HashSet<string>> ParkAsync()
    {
        var due = Now + 600_000;
        var ids = new HashSet<string>();
        for (var r = 0; r < 3; r++)
        {
            var batch = "[" + string.Join(',', Enumerable.Range(0, 50).Select(i => $$"""{"name":"app/p","data":{"r":{{r}},"i":{{i}}},"ts":{{due + i % 5 * 1000}}}""")) + "]";
            var body = await TestHost.JsonAsync(await _host.SendAsync(batch));
            ids.UnionWith(body.GetProperty("ids").EnumerateArray().Select(e => e.GetString()!));
        }
        Assert.Equal(15, (await _host.RowsAsync(_host.Storage.Schedule)).Count(IsParked));
        _time.Offset = TimeSpan.FromMilliseconds(due - Now - 1500);
        return ids;
    }

    private static bool IsParked(Azure.Data.Tables.TableEntity row) => row.PartitionKey.StartsWith(ScheduleIndex.ParkedPrefix, StringComparison.Ordinal);

    private async Task AssertDeliveredOnceAsync(HashSet<string> ids)
    {
        Assert.DoesNotContain(await _host.RowsAsync(_host.Storage.Schedule), IsParked);
        var delivered = (await _host.ReceiveAtLeastAsync(ids.Count)).Select(m => m.GetProperty("internal_id").GetString()!).ToList();
        Assert.Equal(0, await _host.DueMarkersSettledAsync()); // every marker, repeated ones included, came due
        delivered.AddRange((await _host.ReceiveAllAsync()).Select(m => m.GetProperty("internal_id").GetString()!));
        Assert.Equal(ids.Order(), delivered.Order());
    }

    [Fact]
    public async Task MarkersAndTransactionsThatLandWithTheirResponsesLostReleaseEveryEventOnce()
    {
        var ids = await ParkAsync();
        var sends = _proxy.Add(new FaultRule { Service = StorageService.Queue, Operation = StorageOperation.QueueSend, Kind = FaultKind.ResetAfterForward, Times = 2 });
        var batches = _proxy.Add(new FaultRule { Service = StorageService.Table, Operation = StorageOperation.TableBatch, Kind = FaultKind.ResetAfterForward, Times = 3 });

        Assert.Equal(ids.Count, await _host.Services.GetRequiredService<Scheduler>().ReleaseParkedAsync(TimeSpan.FromMinutes(1), default));

        Assert.Equal(2, sends.Applied);
        Assert.Equal(3, batches.Applied);
        await AssertDeliveredOnceAsync(ids);
    }

    [Fact]
    public async Task APassThatFailsPartWayLeavesTheRestParkedAndTheNextPassFinishesWithoutASecondDelivery()
    {
        var ids = await ParkAsync();
        var scheduler = _host.Services.GetRequiredService<Scheduler>();
        // Every transaction fails: the markers go out, the parked rows stay.
        var failing = _proxy.Add(new FaultRule { Service = StorageService.Table, Operation = StorageOperation.TableBatch, Kind = FaultKind.ServerBusy });
        await Assert.ThrowsAnyAsync<Exception>(() => scheduler.ReleaseParkedAsync(TimeSpan.FromMinutes(1), default));
        Assert.True(failing.Applied > 0);
        Assert.Contains(await _host.RowsAsync(_host.Storage.Schedule), IsParked);
        _proxy.Remove(failing);

        // The next pass sends the left rows' markers again (stale for events already released) and removes the rows.
        var moved = await scheduler.ReleaseParkedAsync(TimeSpan.FromMinutes(1), default);
        Assert.InRange(moved, 1, ids.Count);
        await AssertDeliveredOnceAsync(ids);
    }
}
