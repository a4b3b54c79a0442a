using System.Net;
using Azure.Data.Tables;
using EventIngest.Scheduling;
using EventIngest.Tests.Api;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace EventIngest.Tests.Scheduling;

/// <summary>Where scheduled events wait in the schedule table: parked rows of a request grouped by due second,
/// index rows spread over buckets, and rows of the earlier layouts still listed, tidied and released.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class ScheduleLayoutTests(AzuriteFixture azurite)
{
    // The environment of the test host's key.
    private const string Env = "dev";

    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private Task<TestHost> StartAsync(ShiftedTime time) =>
        TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(),
            new Dictionary<string, string?>
            {
                ["EventIngest:Scheduling:Horizon"] = "00:01:00",
                ["EventIngest:Storage:OperationTimeout"] = "00:01:00",
            },
            s => s.AddSingleton<TimeProvider>(time));

    private static string Batch(int count, Func<int, long> due) =>
        "[" + string.Join(',', Enumerable.Range(0, count).Select(i => $$"""{"name":"app/p","data":{"i":{{i}}},"ts":{{due(i)}}}""")) + "]";

    private static async Task<List<string>> IdsAsync(HttpResponseMessage response) =>
        [.. (await TestHost.JsonAsync(response)).GetProperty("ids").EnumerateArray().Select(e => e.GetString()!)];

    private static bool IsParked(TableEntity row) => row.PartitionKey.StartsWith(ScheduleIndex.ParkedPrefix, StringComparison.Ordinal);

    [Fact]
    public async Task ARequestParksOneRowPerDueSecondAndEveryEventIsReleasedOnce()
    {
        var time = new ShiftedTime();
        await using var host = await StartAsync(time);
        var due = (Now + 600_000) / 1000 * 1000;
        // 300 events due over three seconds, and a lone event.
        var ids = await IdsAsync(await host.SendAsync(Batch(300, i => due + i / 100 * 1000 + i % 100 + 1)));
        var lone = (await IdsAsync(await host.SendAsync(Batch(1, _ => due + 5_000))))[0];

        var parked = (await host.RowsAsync(host.Storage.Schedule)).Where(IsParked).ToList();
        Assert.Equal(4, parked.Count);
        Assert.Equal(new[] { 1, 100, 100, 100 }, parked.Select(r => r.GetInt32("Count")!.Value).Order());
        // The lone event's row is keyed by its id, so a cancel can remove it.
        Assert.Contains(parked, r => (r.PartitionKey, r.RowKey) == ScheduleIndex.ParkedKeyFor(Env, due + 5_000, lone));

        // One of the group is cancelled before the release: its marker is stale and releases nothing.
        Assert.Equal(HttpStatusCode.OK, (await host.Client.DeleteAsync($"v1/events/{ids[150]}")).StatusCode);

        time.Offset = TimeSpan.FromMilliseconds(due - Now - 1500); // within the horizon
        Assert.Equal(301, await host.Services.GetRequiredService<Scheduler>().ReleaseParkedAsync(TimeSpan.FromMinutes(1), default));
        Assert.DoesNotContain(await host.RowsAsync(host.Storage.Schedule), IsParked);

        var expected = ids.Where((_, i) => i != 150).Append(lone).Order().ToList();
        var delivered = (await host.ReceiveAtLeastAsync(expected.Count)).Select(m => m.GetProperty("internal_id").GetString()!).ToList();
        Assert.Equal(expected, delivered.Order());
    }

    [Fact]
    public async Task IndexRowsSpreadOverBucketsAndListInDueOrderWithRowsOfTheEarlierLayout()
    {
        var time = new ShiftedTime();
        await using var host = await StartAsync(time);
        var due = Now + 3_600_000;
        // 24 requests of 3 events, their due times interleaved: request r's event i is due at r + 24 i.
        var byDue = new SortedDictionary<long, string>();
        for (var r = 0; r < 24; r++)
        {
            var ids = await IdsAsync(await host.SendAsync(Batch(3, i => due + (r + 24 * i) * 1000)));
            for (var i = 0; i < 3; i++) byDue[due + (r + 24 * i) * 1000] = ids[i];
        }
        var index = (await host.RowsAsync(host.Storage.Schedule)).Where(r => !IsParked(r)).ToList();
        Assert.Equal(72, index.Count);
        Assert.True(index.Select(r => r.PartitionKey).Distinct().Count() >= 8, "index rows of one environment and day spread over the buckets");
        // A request's rows share one partition (one transaction per 100 events).
        Assert.All(index.GroupBy(r => r.GetString("RecordPartition")), g => Assert.Single(g.Select(r => r.PartitionKey).Distinct()));

        // One event's index row as an earlier version wrote it: {env}|{day}.
        var old = index.Single(r => r.RowKey.EndsWith(byDue.Values.ElementAt(10), StringComparison.Ordinal));
        await host.Storage.Schedule.DeleteEntityAsync(old.PartitionKey, old.RowKey);
        old = new TableEntity(old) { PartitionKey = ScheduleIndex.LegacyKeyFor(Env, old.GetInt64("Due")!.Value, ScheduleIndex.InternalIdOf(old)).Partition };
        await host.Storage.Schedule.AddEntityAsync(old);

        var (listed, pages) = await host.ListAllAsync("limit=5", path: "v1/scheduled");
        Assert.Equal(byDue.Values, listed.InternalIds());
        Assert.True(pages >= 15);

        // A reschedule of that event tidies its row of the earlier layout.
        var moved = byDue.Values.ElementAt(10);
        Assert.Equal(HttpStatusCode.OK, (await host.Client.PatchAsync($"v1/events/{moved}", System.Net.Http.Json.JsonContent.Create(new { ts = due + 500_000 }))).StatusCode);
        Assert.DoesNotContain(await host.RowsAsync(host.Storage.Schedule), r => r.PartitionKey == old.PartitionKey);
        (listed, _) = await host.ListAllAsync("limit=7", path: "v1/scheduled");
        Assert.Equal(byDue.Values.Where(id => id != moved).Append(moved), listed.InternalIds());
    }

    [Fact]
    public async Task ParkedRowsOfEarlierLayoutsStillReleaseAndTheirIndexRowsSayQueued()
    {
        var time = new ShiftedTime();
        await using var host = await StartAsync(time);
        var due = Now + 600_000;
        var ids = await IdsAsync(await host.SendAsync(Batch(2, i => due + i * 1000)));
        var schedule = host.Storage.Schedule;
        // Both events as an earlier version parked them: a row each under ~parked|{day} and ~parked|{bucket}|{day}
        // without a marker, and index rows under {env}|{day}.
        foreach (var row in (await host.RowsAsync(schedule)).ToList()) await schedule.DeleteEntityAsync(row.PartitionKey, row.RowKey);
        for (var i = 0; i < 2; i++)
        {
            var at = due + i * 1000;
            var partition = i == 0 ? ScheduleIndex.ParkedPrefix + ScheduleIndex.Day(at) : ScheduleIndex.ParkedBucketPrefix(7) + ScheduleIndex.Day(at);
            await schedule.AddEntityAsync(new TableEntity(partition, $"{ScheduleIndex.Due(at)}|{Env}|{ids[i]}") { ["Due"] = at });
            var (pk, rk) = ScheduleIndex.LegacyKeyFor(Env, at, ids[i]);
            await schedule.AddEntityAsync(new TableEntity(pk, rk) { ["State"] = ScheduleIndex.Parked, ["Due"] = at, ["Name"] = "app/p" });
        }

        time.Offset = TimeSpan.FromMilliseconds(due - Now - 30_000); // within the horizon, not yet due
        Assert.Equal(2, await host.Services.GetRequiredService<Scheduler>().ReleaseParkedAsync(TimeSpan.FromMinutes(1), default));
        var rows = await host.RowsAsync(schedule);
        Assert.DoesNotContain(rows, IsParked);
        Assert.Equal(new[] { ScheduleIndex.Queued, ScheduleIndex.Queued }, rows.Select(r => r.GetString("State")));
    }
}
