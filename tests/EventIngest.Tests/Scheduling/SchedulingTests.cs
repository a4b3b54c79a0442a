using Azure.Data.Tables;
using EventIngest.Ingest;
using EventIngest.Scheduling;
using EventIngest.Storage;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace EventIngest.Tests.Scheduling;

[Collection(AzuriteFixture.CollectionName)]
public sealed class SchedulingTests(AzuriteFixture azurite)
{
    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    // A long storage timeout: on a loaded machine a send that times out and is retried by the
    // SDK after it had landed would be a second message, which this suite must not mistake for
    // the release path sending twice.
    private Task<TestHost> StartAsync(ShiftedTime? time = null, string horizon = "6.00:00:00", string repairAfter = "00:02:00") =>
        TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(),
            new Dictionary<string, string?>
            {
                ["EventIngest:Scheduling:Horizon"] = horizon,
                ["EventIngest:Storage:OperationTimeout"] = "00:01:00",
                ["EventIngest:Repair:RepairAfter"] = repairAfter,
            },
            time is null ? null : s => s.AddSingleton<TimeProvider>(time));

    private static async Task<(string Id, long Due)> ScheduleAsync(TestHost host, long ts, string name = "app/later")
    {
        var body = await TestHost.JsonAsync(await host.SendAsync($$$"""{"name":"{{{name}}}","ts":{{{ts}}}}"""));
        var e = body.GetProperty("events")[0];
        Assert.Equal("scheduled", e.GetProperty("outcome").GetString());
        return (e.GetProperty("id").GetString()!, e.GetProperty("due").GetInt64());
    }

    // How soon after its due time an event appears (about a second: visibility is whole seconds,
    // and the release polls) is a figure of the machine, measured by the benchmarks, not asserted.
    [Fact]
    public async Task ScheduledEventIsInvisibleBeforeItsDueTimeAndVisibleAfter()
    {
        await using var host = await StartAsync();
        var (id, due) = await ScheduleAsync(host, Now + 5000);

        var (message, seenAt) = Assert.NotNull(await host.FirstMessageAsync());
        Assert.Equal(id, message.GetProperty("internal_id").GetString());
        Assert.True(seenAt >= due, $"visible {due - seenAt} ms before due");
    }

    [Fact]
    public async Task FarFutureEventStaysParkedAcrossReleasePasses()
    {
        await using var host = await StartAsync();
        var ts = new DateTimeOffset(2099, 12, 31, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds();
        var (id, due) = await ScheduleAsync(host, ts);
        Assert.Equal(ts, due);
        var jobs = host.Services.GetRequiredService<Jobs>();
        for (var i = 0; i < 3; i++) Assert.Equal(0, await jobs.ReleaseParkedAsync(default));
        Assert.Equal(0, await host.CountMessagesAsync());
        var rows = await host.RowsAsync(host.Storage.Schedule);
        Assert.Equal(2, rows.Count); // index row + parked row
        Assert.Contains(rows, r => r.GetString("State") == ScheduleIndex.Parked && r.RowKey.EndsWith(id, StringComparison.Ordinal));
    }

    [Fact]
    public async Task ADuplicateOfAScheduledEventIsADuplicate()
    {
        await using var host = await StartAsync();
        var ts = Now + 3_600_000;
        var first = await TestHost.JsonAsync(await host.SendAsync($$"""{"name":"app/x","id":"k","ts":{{ts}}}"""));
        var again = await TestHost.JsonAsync(await host.SendAsync($$"""{"name":"app/x","id":"k","ts":{{ts}}}"""));
        Assert.Equal("duplicate", again.GetProperty("events")[0].GetProperty("outcome").GetString());
        Assert.Equal(first.GetProperty("ids")[0].GetString(), again.GetProperty("ids")[0].GetString());
        Assert.Equal(1, await host.CountMessagesAsync(host.Storage.DueQueueName));
    }

    [Fact]
    public async Task ConcurrentReleasePassesEnqueueEachParkedEventExactlyOnce()
    {
        var time = new ShiftedTime();
        await using var host = await StartAsync(time, horizon: "00:01:00");
        var due = Now + 600_000;
        const int count = 200;
        var batch = "[" + string.Join(',', Enumerable.Range(0, count).Select(i => $$"""{"name":"app/p","data":{"i":{{i}}},"ts":{{due}}}""")) + "]";
        var body = await TestHost.JsonAsync(await host.SendAsync(batch));
        Assert.Equal(count, body.GetProperty("events").EnumerateArray().Count(e => e.GetProperty("outcome").GetString() == "scheduled"));
        Assert.Equal(0, await host.CountMessagesAsync());

        time.Offset = TimeSpan.FromMilliseconds(due - Now - 1500); // 1.5 s before due: within the one-minute horizon
        var scheduler = host.Services.GetRequiredService<Scheduler>();
        // Passes racing over the same parked rows may each send a due marker; only one release sends the event.
        var moved = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => scheduler.ReleaseParkedAsync(TimeSpan.MaxValue, default))));
        Assert.True(moved.Sum() >= count, $"{moved.Sum()} moved");
        Assert.Equal(0, await scheduler.ReleaseParkedAsync(TimeSpan.MaxValue, default));
        var rows = await host.RowsAsync(host.Storage.Schedule);
        Assert.DoesNotContain(rows, r => r.PartitionKey.StartsWith(ScheduleIndex.ParkedPrefix, StringComparison.Ordinal));

        // Every marker handled, released or stale: a second release of any event would have been sent.
        Assert.Equal(0, await host.DueMarkersSettledAsync(TimeSpan.FromMinutes(3)));
        var delivered = await host.ReceiveAtLeastAsync(count);
        Assert.Equal(count, delivered.Select(m => m.GetProperty("internal_id").GetString()).Distinct().Count());
        // Up to four markers per event: a second send happens only when a release outlives its lease
        // (half of RepairAfter) on a loaded machine, which is the at-least-once case.
        Assert.True(delivered.Count <= count + count / 100, $"{delivered.Count - count} events released twice");
    }

    [Fact]
    public async Task EventsDueInTheSameSecondShareAMarkerAndEachGoesOutOnce()
    {
        await using var host = await StartAsync();
        var due = (Now / 1000 + 8) * 1000 + 500; // all in one second, some seconds ahead
        const int count = 450;
        var batch = "[" + string.Join(',', Enumerable.Range(0, count).Select(i => $$"""{"name":"app/later","data":{"i":{{i}}},"ts":{{due}}}""")) + "]";
        var ids = (await TestHost.JsonAsync(await host.SendAsync(batch))).GetProperty("ids").EnumerateArray().Select(e => e.GetString()).ToList();

        // One marker per 400 events of a second, not one per event.
        Assert.Equal((count + DueMarker.MaxGroup - 1) / DueMarker.MaxGroup, await host.CountMessagesAsync(host.Storage.DueQueueName));

        Assert.Equal(0, await host.DueMarkersSettledAsync());
        var delivered = await host.ReceiveAtLeastAsync(count);
        Assert.Equal(ids.Order(), delivered.Select(m => m.GetProperty("internal_id").GetString()).Order());
        Assert.All(delivered, m => Assert.Equal(due, m.GetProperty("ts").GetInt64()));
    }

    [Fact]
    public async Task AGroupedMarkerSkipsACancelledEventAndLeavesOneHeldByAnotherReleaseForLater()
    {
        await using var host = await StartAsync();
        var due = (Now / 1000 + 8) * 1000 + 500; // one second: one marker for the five
        var batch = "[" + string.Join(',', Enumerable.Range(0, 5).Select(i => $$"""{"name":"app/later","data":{"i":{{i}}},"ts":{{due}}}""")) + "]";
        var ids = (await TestHost.JsonAsync(await host.SendAsync(batch))).GetProperty("ids").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Equal(1, await host.CountMessagesAsync(host.Storage.DueQueueName));
        Assert.Equal(ScheduleChange.Done, await host.Services.GetRequiredService<Scheduler>().CancelAsync("dev", ids[1], default));
        // Another release holds ids[2], for ten minutes and more.
        var held = Assert.Single(await host.RowsAsync(host.Storage.Events), r => RecordKeys.InternalIdOf(r.RowKey) == ids[2]);
        await host.Storage.Events.UpdateEntityAsync(new TableEntity(held.PartitionKey, held.RowKey)
        {
            ["State"] = RecordState.Releasing, ["ReleasingSince"] = Now + 600_000, ["Releaser"] = "another",
        }, held.ETag, TableUpdateMode.Merge);

        var delivered = await host.ReceiveAtLeastAsync(3);

        Assert.Equal(new[] { ids[0], ids[3], ids[4] }.Order(), delivered.Select(m => m.GetProperty("internal_id").GetString()).Order());
        // The group's marker is gone; the held event waits on a marker of its own, for when that lease is over.
        Assert.Equal(1, await Waits.UntilAsync(() => host.CountMessagesAsync(host.Storage.DueQueueName), n => n == 1));
        var queue = host.Storage.Queue(host.Storage.DueQueueName);
        Assert.Empty((await queue.PeekMessagesAsync(1)).Value); // invisible until then
    }

    [Fact]
    public async Task ReleaseInterruptedBeforeRemovingTheParkedRowDoesNotSendTwice()
    {
        var time = new ShiftedTime();
        // The two markers come due together; the one that meets the other's release waits out its
        // lease (half of RepairAfter) before it is found stale.
        await using var host = await StartAsync(time, horizon: "00:01:00", repairAfter: "00:00:20");
        var (id, due) = await ScheduleAsync(host, Now + 120_000);
        var parked = (await host.RowsAsync(host.Storage.Schedule)).Single(r => r.PartitionKey.StartsWith(ScheduleIndex.ParkedPrefix, StringComparison.Ordinal));

        time.Offset = TimeSpan.FromMilliseconds(due - Now - 1500);
        var scheduler = host.Services.GetRequiredService<Scheduler>();
        Assert.Equal(1, await scheduler.ReleaseParkedAsync(TimeSpan.MaxValue, default));
        // The state a crash between "marker sent" and "parked row deleted" leaves behind: the next
        // pass sends a second marker for the same due time, and the event still goes out once.
        await host.Storage.Schedule.UpsertEntityAsync(new TableEntity(parked.PartitionKey, parked.RowKey) { ["Due"] = due });
        Assert.Equal(1, await scheduler.ReleaseParkedAsync(TimeSpan.MaxValue, default));
        Assert.Equal(0, await host.DueMarkersSettledAsync()); // both markers handled
        var message = Assert.Single(await host.ReceiveAtLeastAsync(1));
        Assert.Equal(id, message.GetProperty("internal_id").GetString());
    }

    [Fact]
    public async Task CancelledEventIsNeverDeliveredAndCannotBeCancelledTwice()
    {
        await using var host = await StartAsync();
        var (id, _) = await ScheduleAsync(host, Now + 10_000);
        var scheduler = host.Services.GetRequiredService<Scheduler>();
        Assert.Equal(ScheduleChange.Done, await scheduler.CancelAsync("dev", id, default));
        Assert.Equal(ScheduleChange.Cancelled, await scheduler.CancelAsync("dev", id, default));
        Assert.Equal(ScheduleChange.Cancelled, await scheduler.RescheduleAsync("dev", id, Now + 60_000, default));
        Assert.Equal(0, await host.DueMarkersSettledAsync()); // its marker came due and released nothing
        Assert.Empty(await host.ReceiveAllAsync());
        var record = Assert.Single(await host.RowsAsync(host.Storage.Events));
        Assert.Equal(RecordState.Cancelled, record.GetString("State"));
    }

    [Fact]
    public async Task CancellingAParkedEventRemovesItFromTheReleasePath()
    {
        var time = new ShiftedTime();
        await using var host = await StartAsync(time, horizon: "00:01:00");
        var (id, _) = await ScheduleAsync(host, Now + 120_000);
        var scheduler = host.Services.GetRequiredService<Scheduler>();
        Assert.Equal(ScheduleChange.Done, await scheduler.CancelAsync("dev", id, default));
        time.Offset = TimeSpan.FromSeconds(90);
        Assert.Equal(0, await scheduler.ReleaseParkedAsync(TimeSpan.MaxValue, default));
        Assert.Equal(0, await host.CountMessagesAsync());
    }

    [Fact]
    public async Task ReleasedEventCannotBeCancelledOrRescheduled()
    {
        await using var host = await StartAsync();
        var (id, _) = await ScheduleAsync(host, Now + 5000);
        var message = Assert.Single(await host.ReceiveAtLeastAsync(1));
        Assert.Equal(id, message.GetProperty("internal_id").GetString());
        Assert.Equal(0, await host.DueMarkersSettledAsync());
        var scheduler = host.Services.GetRequiredService<Scheduler>();
        Assert.Equal(ScheduleChange.Released, await scheduler.CancelAsync("dev", id, default));
        Assert.Equal(ScheduleChange.Released, await scheduler.RescheduleAsync("dev", id, Now + 60_000, default));
        Assert.Empty(await host.ReceiveAllAsync());
    }

    [Fact]
    public async Task RescheduledEventArrivesAtItsNewTimeWithTheNewTs()
    {
        await using var host = await StartAsync();
        var (id, _) = await ScheduleAsync(host, Now + 60_000);
        var scheduler = host.Services.GetRequiredService<Scheduler>();
        var newTs = Now + 2000;
        Assert.Equal(ScheduleChange.Done, await scheduler.RescheduleAsync("dev", id, newTs, default));

        var (message, seenAt) = Assert.NotNull(await host.FirstMessageAsync());
        Assert.True(seenAt >= newTs, $"visible {newTs - seenAt} ms before its new time");
        Assert.Equal(id, message.GetProperty("internal_id").GetString());
        Assert.Equal(newTs, message.GetProperty("ts").GetInt64());
        Assert.Empty(await host.ReceiveAllAsync());
        var (items, _) = await scheduler.ListPendingAsync("dev", null, 10, null, default);
        Assert.Empty(items);
    }

    [Fact]
    public async Task ReschedulingAParkedEventIntoTheHorizonQueuesIt()
    {
        await using var host = await StartAsync();
        var (id, _) = await ScheduleAsync(host, new DateTimeOffset(2090, 1, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds());
        var scheduler = host.Services.GetRequiredService<Scheduler>();
        var newTs = Now + 1500;
        Assert.Equal(ScheduleChange.Done, await scheduler.RescheduleAsync("dev", id, newTs, default));
        Assert.Single(await host.ReceiveAtLeastAsync(1));
        Assert.DoesNotContain(await host.RowsAsync(host.Storage.Schedule), r => r.PartitionKey.StartsWith(ScheduleIndex.ParkedPrefix, StringComparison.Ordinal));
    }

    [Fact]
    public async Task PendingEventsListInDueOrderAcrossPages()
    {
        await using var host = await StartAsync();
        var baseTs = Now + 3_600_000;
        var ids = new List<string>();
        for (var i = 0; i < 7; i++) ids.Add((await ScheduleAsync(host, baseTs + (6 - i) * 86_400_000L)).Id); // later first
        var scheduler = host.Services.GetRequiredService<Scheduler>();

        var (seen, _) = await Paging.AllAsync(async cursor =>
        {
            var (items, next) = await scheduler.ListPendingAsync("dev", null, 3, cursor, default);
            return (items.Select(ScheduleIndex.InternalIdOf), next);
        });
        ids.Reverse();
        Assert.Equal(ids, seen);

        var (early, _) = await scheduler.ListPendingAsync("dev", baseTs + 2 * 86_400_000L, 10, null, default);
        Assert.Equal(ids.Take(2), early.Select(ScheduleIndex.InternalIdOf));
        Assert.Empty((await scheduler.ListPendingAsync("other", null, 10, null, default)).Items);
    }

    [Fact]
    public async Task ScheduledEventWhoseRequestDiedIsPlacedByTheRepairJob()
    {
        var ts = Now + 4000;
        await using var died = await DiedRequest.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(), $$"""{"name":"app/x","ts":{{ts}}}""");
        Assert.Equal(1, await died.RepairAsync());
        Assert.Single(await died.Host.ReceiveAtLeastAsync(1));
    }
}
