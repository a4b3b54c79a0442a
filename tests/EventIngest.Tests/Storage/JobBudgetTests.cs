using Azure.Data.Tables;
using EventIngest.Scheduling;
using EventIngest.Storage;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using EventIngest.Delivery;

namespace EventIngest.Tests.Storage;

/// <summary>Timer jobs stop inside their budget and the next run resumes where the last one
/// stopped: a backlog larger than one run is worked off over several, with nothing lost and
/// nothing done twice. A zero budget stops a run after its first page.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class JobBudgetTests(AzuriteFixture azurite)
{
    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    [Fact]
    public async Task ACleanupStoppedByItsBudgetResumesInEveryPartitionWhereItStopped()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var storage = host.Storage;
        await storage.EnsureCreatedAsync(default);
        // 30 expired claims and 2 fresh ones in each of the 16 claim partitions.
        var keys = Enumerable.Range(0, 2000).Select(i => EventStore.ClaimKeyFor("dev", "order-" + i)).GroupBy(k => k.Partition).ToList();
        Assert.Equal(16, keys.Count);
        var expired = Now - (long)TimeSpan.FromDays(2).TotalMilliseconds;
        foreach (var partition in keys)
        {
            var rows = partition.Take(32).Select((k, i) => new TableEntity(k.Partition, k.Row) { ["CreatedAt"] = i < 30 ? expired : Now, ["Holder"] = "x" });
            await storage.Idempotency.SubmitTransactionAsync(rows.Select(r => new TableTransactionAction(TableTransactionActionType.Add, r)));
        }
        var store = host.Services.GetRequiredService<EventStore>();

        var runs = new List<int>();
        for (var run = 0; run < 4; run++) runs.Add(await store.DeleteExpiredClaimsAsync(TimeSpan.Zero, default, pageSize: 10));

        // A page of each partition per run: three runs take the 480 expired claims, none twice; the
        // fourth reaches every partition's end and leaves no checkpoint behind.
        Assert.Equal([160, 160, 160, 0], runs);
        var left = await host.RowsAsync(storage.Idempotency);
        Assert.Equal(32, left.Count);
        Assert.All(left, r => Assert.True(r.GetInt64("CreatedAt") > expired));
        Assert.DoesNotContain(left, r => r.PartitionKey == EventStore.CleanupCheckpoints);
    }

    [Fact]
    public async Task AParkedReleaseStoppedByItsBudgetResumesAndEveryEventGoesOutOnce()
    {
        var time = new ShiftedTime();
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(),
            new Dictionary<string, string?> { ["EventIngest:Scheduling:Horizon"] = "00:01:00" },
            s => s.AddSingleton<TimeProvider>(time));
        // 10 requests of 25 events due over 5 seconds: 50 parked rows of 5 events, a request's rows in one bucket.
        const int count = 250;
        var due = Now + 600_000;
        var ids = new HashSet<string?>();
        for (var r = 0; r < 10; r++)
        {
            var batch = "[" + string.Join(',', Enumerable.Range(0, 25).Select(i => $$"""{"name":"app/p","data":{"i":{{i}}},"ts":{{due + i % 5 * 1000}}}""")) + "]";
            ids.UnionWith((await TestHost.JsonAsync(await host.SendAsync(batch))).GetProperty("ids").EnumerateArray().Select(e => e.GetString()));
        }
        Assert.Equal(count, ids.Count);

        time.Offset = TimeSpan.FromMilliseconds(due - Now - 1500); // within the horizon
        var scheduler = host.Services.GetRequiredService<Scheduler>();
        var runs = new List<int>();
        const int pageSize = 2;
        do runs.Add(await scheduler.ReleaseParkedAsync(TimeSpan.Zero, default, pageSize)); while (runs[^1] > 0 && runs.Count < 100);

        // A page of rows of each bucket per run (a bucket holds the rows of a request or a few): several runs, each
        // taking what the one before left, until a run finds nothing; every event once.
        Assert.InRange(runs.Count, 3, 100);
        Assert.All(runs, r => Assert.InRange(r, 0, ScheduleIndex.ParkedBuckets * pageSize * 5));
        Assert.Equal(count, runs.Sum());
        Assert.Equal(0, runs[^1]);
        Assert.DoesNotContain(await host.RowsAsync(host.Storage.Schedule), r => r.PartitionKey.StartsWith(ScheduleIndex.ParkedPrefix, StringComparison.Ordinal));
        Assert.Equal(0, await host.DueMarkersSettledAsync());
        var delivered = (await host.ReceiveAtLeastAsync(count)).Select(m => m.GetProperty("internal_id").GetString()).ToList();
        Assert.Equal(count, delivered.Count);
        Assert.Equal(ids, delivered.ToHashSet());
    }

    [Fact]
    public async Task ParkedRowsAreSpreadOverTheBucketsAndRowsOfTheEarlierLayoutStillRelease()
    {
        var time = new ShiftedTime();
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(),
            new Dictionary<string, string?> { ["EventIngest:Scheduling:Horizon"] = "00:01:00" },
            s => s.AddSingleton<TimeProvider>(time));
        // 64 requests of one event: a parked row each, in the bucket of its request.
        const int count = 64;
        var due = Now + 600_000;
        var ids = new List<string>();
        for (var i = 0; i < count; i++)
        {
            ids.Add((await TestHost.JsonAsync(await host.SendAsync($$"""{"name":"app/p","data":{"i":{{i}}},"ts":{{due}}}"""))).GetProperty("ids")[0].GetString()!);
        }

        var parked = (await host.RowsAsync(host.Storage.Schedule)).Where(r => r.PartitionKey.StartsWith(ScheduleIndex.ParkedPrefix, StringComparison.Ordinal)).ToList();
        Assert.Equal(count, parked.Count);
        Assert.True(parked.Select(r => r.PartitionKey).Distinct().Count() >= 8, "parked rows spread over the buckets");
        Assert.All(parked, r => Assert.Equal(ScheduleIndex.ParkedBucketPrefix(ScheduleIndex.ParkedBucketOf(ScheduleIndex.InternalIdOf(r))), r.PartitionKey[..(ScheduleIndex.ParkedPrefix.Length + 2)]));
        // One row as an earlier version parked it: ~parked|{day}.
        var old = parked[0];
        await host.Storage.Schedule.DeleteEntityAsync(old.PartitionKey, old.RowKey);
        await host.Storage.Schedule.AddEntityAsync(new TableEntity(ScheduleIndex.ParkedPrefix + ScheduleIndex.Day(due), old.RowKey) { ["Due"] = due });

        time.Offset = TimeSpan.FromMilliseconds(due - Now - 1500); // within the horizon
        Assert.Equal(count, await host.Services.GetRequiredService<Scheduler>().ReleaseParkedAsync(TimeSpan.FromMinutes(1), default));

        Assert.DoesNotContain(await host.RowsAsync(host.Storage.Schedule), r => r.PartitionKey.StartsWith(ScheduleIndex.ParkedPrefix, StringComparison.Ordinal));
        Assert.Equal(0, await host.DueMarkersSettledAsync());
        Assert.Equal(ids.Order(), (await host.ReceiveAtLeastAsync(count)).Select(m => m.GetProperty("internal_id").GetString()).Order());
    }

    /// <summary>A host with a one-hour idempotency window whose scan for claims from before claims were indexed has
    /// finished (it runs until a pass after the window finds none): from then on only expiry rows find claims. The
    /// clock is 62 minutes ahead.</summary>
    private async Task<TestHost> StartWithCleanupScanDoneAsync(ShiftedTime time)
    {
        var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(),
            new Dictionary<string, string?> { ["EventIngest:Ingest:IdempotencyWindow"] = "01:00:00" },
            s => s.AddSingleton<TimeProvider>(time));
        var store = host.Services.GetRequiredService<EventStore>();
        await store.DeleteExpiredClaimsAsync(TimeSpan.FromMinutes(1), default);
        time.Offset = TimeSpan.FromMinutes(62);
        await store.DeleteExpiredClaimsAsync(TimeSpan.FromMinutes(1), default);
        return host;
    }

    [Fact]
    public async Task TheCleanupReadsWhatExpiredAndNoLiveClaim()
    {
        var time = new ShiftedTime();
        await using var host = await StartWithCleanupScanDoneAsync(time);
        var store = host.Services.GetRequiredService<EventStore>();

        static string Batch(string prefix, int count) =>
            "[" + string.Join(',', Enumerable.Range(0, count).Select(i => $$"""{"name":"app/x","id":"{{prefix}}-{{i}}"}""")) + "]";
        Assert.Equal(System.Net.HttpStatusCode.OK, (await host.SendAsync(Batch("old", 150))).StatusCode);
        time.Offset = TimeSpan.FromMinutes(125);
        foreach (var batch in Enumerable.Range(0, 4)) Assert.Equal(System.Net.HttpStatusCode.OK, (await host.SendAsync(Batch("new" + batch, 500))).StatusCode);
        // The new claims were made 125 minutes (shifted) after the old: an hour between is clear of both, however slow the sends.
        var live = (await host.RowsAsync(host.Storage.Idempotency)).Where(r => r.GetInt64("CreatedAt") > Now - 3_600_000 + (long)time.Offset.TotalMilliseconds)
            .Select(r => r.RowKey).ToHashSet();
        Assert.Equal(2000, live.Count);

        var urls = new List<string>();
        var counter = host.Services.GetRequiredService<StorageRequestCounter>();
        // The claims table and transactions only: the host's own background jobs (the due poll, the
        // depth gauges) read other tables and queues meanwhile, and have nothing to write.
        var table = "/" + host.Storage.Idempotency.Name;
        counter.Observe = message =>
        {
            var url = Uri.UnescapeDataString(message.Request.Uri.ToString());
            if (url.Contains(table, StringComparison.Ordinal) || url.EndsWith("/$batch", StringComparison.Ordinal)) lock (urls) urls.Add(url);
        };
        int deleted;
        try
        {
            deleted = await store.DeleteExpiredClaimsAsync(TimeSpan.FromMinutes(1), default);
        }
        finally
        {
            counter.Observe = null;
        }

        Assert.Equal(150, deleted);
        // Point reads of the expired claims, range queries over expired minutes' expiry rows, deletes: no request
        // names a live claim, and no query scans the claims.
        Assert.DoesNotContain(urls, url => live.Any(row => url.Contains(row, StringComparison.Ordinal)));
        var queries = urls.Where(url => url.Contains("$filter", StringComparison.Ordinal)).ToList();
        Assert.Equal(16, queries.Count);
        Assert.All(queries, q => Assert.Contains("RowKey ge '~exp|'", q, StringComparison.Ordinal));
        Assert.InRange(urls.Count, 150, 150 + 16 * 4 + 2);
        Assert.Equal(live.Order(), (await host.RowsAsync(host.Storage.Idempotency)).Select(r => r.RowKey).Order());
        // The expiry rows of the deleted claims went with them.
        var expiryRows = (await host.RowsAsync(host.Storage.Idempotency, withBookkeeping: true)).Where(r => r.RowKey.StartsWith(EventStore.ExpiryPrefix, StringComparison.Ordinal)).ToList();
        Assert.InRange(expiryRows.Count, 4, 16 * 4); // the live claims' (a row per request and partition)
        var windowStart = EventStore.ExpiryPrefix + Outbox.MinuteOf(Now + (long)time.Offset.TotalMilliseconds - 3_600_000);
        Assert.All(expiryRows, r => Assert.True(string.CompareOrdinal(r.RowKey, windowStart) > 0, $"{r.RowKey} is of an expired minute"));
    }

    [Fact]
    public async Task AClaimTheRepairWritesIsListedForTheCleanupAndGoesOnceExpired()
    {
        var time = new ShiftedTime();
        await using var host = await StartWithCleanupScanDoneAsync(time);
        var store = host.Services.GetRequiredService<EventStore>();

        // The repair claims a key for an event whose request died before its claim transaction.
        var internalId = Ids.Ulid.NewUlid(Now + (long)time.Offset.TotalMilliseconds);
        Assert.True(await store.HoldsClaimAsync("dev", "order-r", internalId, Now + (long)time.Offset.TotalMilliseconds, default));
        Assert.True(await store.HoldsClaimAsync("dev", "order-r", internalId, Now + (long)time.Offset.TotalMilliseconds, default)); // a second repair pass
        var (partition, row) = EventStore.ClaimKeyFor("dev", "order-r");
        var rows = await host.RowsAsync(host.Storage.Idempotency, withBookkeeping: true);
        Assert.Contains(rows, r => r.PartitionKey == partition && r.RowKey.StartsWith(EventStore.ExpiryPrefix, StringComparison.Ordinal) && r.GetString("Claims") == row);

        time.Offset += TimeSpan.FromMinutes(62);
        Assert.Equal(1, await store.DeleteExpiredClaimsAsync(TimeSpan.FromMinutes(1), default));
        Assert.Empty(await host.RowsAsync(host.Storage.Idempotency, withBookkeeping: false));
    }
}
