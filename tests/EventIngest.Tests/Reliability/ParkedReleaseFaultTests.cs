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
public sealed class ParkedReleaseFaultTests(AzuriteFixture azurite) : ProxiedHostTests(azurite)
{
    private readonly ShiftedTime _time = new();

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?> { ["EventIngest:Scheduling:Horizon"] = "00:01:00" };

    protected override void ConfigureServices(IServiceCollection services) => services.AddSingleton<TimeProvider>(_time);

    /// <summary>Parks 3 requests of 50 events due over 5 seconds (15 parked rows) and moves the clock to just before they are due.</summary>
    private async Task<HashSet<string>> ParkAsync()
    {
        var due = Now + 600_000;
        var ids = new HashSet<string>();
        for (var r = 0; r < 3; r++)
        {
            var batch = "[" + string.Join(',', Enumerable.Range(0, 50).Select(i => $$"""{"name":"app/p","data":{"r":{{r}},"i":{{i}}},"ts":{{due + i % 5 * 1000}}}""")) + "]";
            var body = await TestHost.JsonAsync(await Host.SendAsync(batch));
            ids.UnionWith(body.GetProperty("ids").EnumerateArray().Select(e => e.GetString()!));
        }
        Assert.Equal(15, (await Host.RowsAsync(Host.Storage.Schedule)).Count(IsParked));
        _time.Offset = TimeSpan.FromMilliseconds(due - Now - 1500);
        return ids;
    }

    private static bool IsParked(Azure.Data.Tables.TableEntity row) => row.PartitionKey.StartsWith(ScheduleIndex.ParkedPrefix, StringComparison.Ordinal);

    private async Task AssertDeliveredOnceAsync(HashSet<string> ids)
    {
        Assert.DoesNotContain(await Host.RowsAsync(Host.Storage.Schedule), IsParked);
        var delivered = (await Host.ReceiveAtLeastAsync(ids.Count)).Select(m => m.GetProperty("internal_id").GetString()!).ToList();
        Assert.Equal(0, await Host.DueMarkersSettledAsync()); // every marker, repeated ones included, came due
        delivered.AddRange((await Host.ReceiveAllAsync()).Select(m => m.GetProperty("internal_id").GetString()!));
        Assert.Equal(ids.Order(), delivered.Order());
    }

    [Fact]
    public async Task MarkersAndTransactionsThatLandWithTheirResponsesLostReleaseEveryEventOnce()
    {
        var ids = await ParkAsync();
        var sends = Proxy.Add(new FaultRule { Service = StorageService.Queue, Operation = StorageOperation.QueueSend, Kind = FaultKind.ResetAfterForward, Times = 2 });
        var batches = Proxy.Add(new FaultRule { Service = StorageService.Table, Operation = StorageOperation.TableBatch, Kind = FaultKind.ResetAfterForward, Times = 3 });

        Assert.Equal(ids.Count, await Host.Services.GetRequiredService<Scheduler>().ReleaseParkedAsync(TimeSpan.FromMinutes(1), default));

        Assert.Equal(2, sends.Applied);
        Assert.Equal(3, batches.Applied);
        await AssertDeliveredOnceAsync(ids);
    }

    [Fact]
    public async Task APassThatFailsPartWayLeavesTheRestParkedAndTheNextPassFinishesWithoutASecondDelivery()
    {
        var ids = await ParkAsync();
        var scheduler = Host.Services.GetRequiredService<Scheduler>();
        // Every transaction fails: the markers go out, the parked rows stay.
        var failing = Proxy.Add(new FaultRule { Service = StorageService.Table, Operation = StorageOperation.TableBatch, Kind = FaultKind.ServerBusy });
        await Assert.ThrowsAnyAsync<Exception>(() => scheduler.ReleaseParkedAsync(TimeSpan.FromMinutes(1), default));
        Assert.True(failing.Applied > 0);
        Assert.Contains(await Host.RowsAsync(Host.Storage.Schedule), IsParked);
        Proxy.Remove(failing);

        // The next pass sends the left rows' markers again (stale for events already released) and removes the rows.
        var moved = await scheduler.ReleaseParkedAsync(TimeSpan.FromMinutes(1), default);
        Assert.InRange(moved, 1, ids.Count);
        await AssertDeliveredOnceAsync(ids);
    }
}
