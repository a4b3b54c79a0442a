using Azure.Data.Tables;
using EventIngest.Scheduling;
using EventIngest.Storage;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

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
        const int count = 250;
        var due = Now + 600_000;
        var batch = "[" + string.Join(',', Enumerable.Range(0, count).Select(i => $$"""{"name":"app/p","data":{"i":{{i}}},"ts":{{due}}}""")) + "]";
        var ids = (await TestHost.JsonAsync(await host.SendAsync(batch))).GetProperty("ids").EnumerateArray().Select(e => e.GetString()).ToHashSet();
        Assert.Equal(count, ids.Count);

        time.Offset = TimeSpan.FromMilliseconds(due - Now - 1500); // within the horizon
        var scheduler = host.Services.GetRequiredService<Scheduler>();
        var runs = new List<int>();
        for (var run = 0; run < 4; run++) runs.Add(await scheduler.ReleaseParkedAsync(TimeSpan.Zero, default, pageSize: 100));

        Assert.Equal([100, 100, 50, 0], runs);
        Assert.DoesNotContain(await host.RowsAsync(host.Storage.Schedule), r => r.PartitionKey.StartsWith(ScheduleIndex.ParkedPrefix, StringComparison.Ordinal));
        Assert.Equal(0, await host.DueMarkersSettledAsync());
        var delivered = (await host.ReceiveAtLeastAsync(count)).Select(m => m.GetProperty("internal_id").GetString()).ToList();
        Assert.Equal(count, delivered.Count);
        Assert.Equal(ids, delivered.ToHashSet());
    }
}
