using System.Net;
using Azure.Data.Tables;
using EventIngest.Ingest;
using EventIngest.Storage;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Logging.Abstractions;
using EventIngest.Delivery;
using EventIngest.Ids;

namespace EventIngest.Tests.Storage;

[Collection(AzuriteFixture.CollectionName)]
public sealed class OutboxTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task FinishedRowsAreDeletedInTheTransactionOfARowTheirInstanceOpensOnceEnoughWait()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        // An account of its own, so the host's background loops (the due queue's poll) are not counted.
        var counter = new StorageRequestCounter();
        var storage = new StorageAccount(host.Services.GetRequiredService<IOptions<StorageOptions>>(), counter);
        await storage.EnsureCreatedAsync(default);
        // Not started as a hosted service: nothing deletes finished rows on a timer. Its stopwatch
        // moves only when the test moves it: how long a row waited is not left to the machine.
        var clock = new ShiftedTime { StopwatchStopped = true };
        var outbox = new Outbox(storage, clock, NullLogger<Outbox>.Instance);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        // Fewer than RideWith rows waiting, none of them old: each row is a plain insert of its own.
        for (var i = 0; i < Outbox.RideWith; i++)
        {
            var batch = Batch(now);
            var before = counter.Requests;
            await outbox.OpenAsync(batch, default);
            Assert.Equal(1, counter.Requests - before);
            outbox.Finish(batch);
        }
        Assert.Equal(Outbox.RideWith, outbox.Waiting);
        Assert.Equal(Outbox.RideWith, (await Rows(storage)).Count);

        // RideWith rows waiting: the next row carries their deletes, in the same single request.
        var next = Batch(now);
        var start = counter.Requests;
        await outbox.OpenAsync(next, default);
        Assert.Equal(1, counter.Requests - start);
        Assert.Equal(0, outbox.Waiting);
        Assert.Equal(next.Nonce, Assert.Single(await Rows(storage)).RowKey);

        // One row that has waited RideAfter rides on the next row too.
        outbox.Finish(next);
        clock.AdvanceStopwatch(Outbox.RideAfter);
        var last = Batch(now);
        await outbox.OpenAsync(last, default);
        Assert.Equal(0, outbox.Waiting);
        Assert.Equal(last.Nonce, Assert.Single(await Rows(storage)).RowKey);

        outbox.Finish(last);
        await outbox.FlushAsync();
        Assert.Empty(await Rows(storage));
    }

    [Fact]
    public async Task TheRowOfAFinishedLargeRequestIsDeletedAtOnceWithoutWaitingForARide()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var storage = host.Storage;
        await storage.EnsureCreatedAsync(default);
        // Not started as a hosted service: no timer flushes waiting rows, and nothing else is opened.
        var outbox = new Outbox(storage, new ShiftedTime { StopwatchStopped = true }, NullLogger<Outbox>.Instance);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        // A crash while the row of a large request waited would make the repair re-send up to a
        // whole round of its sends; a small request's row waits for a ride.
        var small = Batch(now, Outbox.ProgressEvery);
        var large = Batch(now, Outbox.ProgressEvery + 1);
        await outbox.OpenAsync(small, default);
        await outbox.OpenAsync(large, default);
        outbox.Finish(small);
        outbox.Finish(large);

        // The large row's delete runs in the background.
        Assert.Equal(1, await Waits.UntilAsync(() => Task.FromResult(outbox.Waiting), n => n <= 1));
        Assert.Equal(small.Nonce, Assert.Single(await Rows(storage)).RowKey);
        Assert.True(outbox.IsFinished(small.OutboxPartition, small.Nonce));
        Assert.False(outbox.IsFinished(large.OutboxPartition, large.Nonce));
    }

    [Fact]
    public async Task AFinishedRowAlreadyGoneDoesNotFailTheNextRequest()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var storage = host.Storage;
        await storage.EnsureCreatedAsync(default);
        var clock = new ShiftedTime { StopwatchStopped = true };
        var outbox = new Outbox(storage, clock, NullLogger<Outbox>.Instance);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(); // one minute, one partition

        var taken = Batch(now);
        await outbox.OpenAsync(taken, default);
        var row = Assert.Single(await Rows(storage));
        await storage.Outbox.DeleteEntityAsync(row.PartitionKey, row.RowKey); // the repair job finished it meanwhile
        outbox.Finish(taken);
        clock.AdvanceStopwatch(Outbox.RideAfter); // so that the next row carries its delete

        var next = Batch(now);
        await outbox.OpenAsync(next, default);
        Assert.Equal(next.Nonce, Assert.Single(await Rows(storage)).RowKey);
        Assert.Equal(0, outbox.Waiting);
    }

    [Fact]
    public async Task WithoutAFollowingRequestTheRowIsDeletedShortlyAfterTheAnswer()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        Assert.Equal(HttpStatusCode.OK, (await host.SendAsync("""{"name":"app/x"}""")).StatusCode);
        var outbox = host.Services.GetRequiredService<Outbox>();
        Assert.Equal(0, await Waits.UntilAsync(() => Task.FromResult(outbox.Waiting), n => n == 0));
        Assert.Empty(await Rows(host.Storage));
    }

    [Fact]
    public async Task ARepairPassResumesAfterTheChunksAnEarlierPassFinished()
    {
        var events = string.Join(',', Enumerable.Range(0, 250).Select(i => "{\"name\":\"app/n\",\"data\":{\"i\":" + i + "}}"));
        await using var died = await DiedRequest.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(), "[" + events + "]");
        var host = died.Host;
        var records = (await host.RowsAsync(host.Storage.Events)).OrderBy(r => r.RowKey, StringComparer.Ordinal).ToList();
        Assert.Equal(250, records.Count);

        // An earlier pass sent the first 100 records, noted it on the row, and died.
        var row = Assert.Single(await host.RowsAsync(host.Storage.Outbox));
        row["Done"] = records[99].RowKey;
        await host.Storage.Outbox.UpdateEntityAsync(row, row.ETag, TableUpdateMode.Merge);

        Assert.Equal(150, await died.RepairAsync());
        var delivered = (await host.ReceiveAllAsync()).Select(m => m.GetProperty("internal_id").GetString()!).ToHashSet();
        Assert.Equal(records.Skip(100).Select(r => RecordKeys.InternalIdOf(r.RowKey)).ToHashSet(), delivered);
        Assert.Empty(await host.RowsAsync(host.Storage.Outbox));
    }

    [Fact]
    public async Task ARetryThatClaimsAKeyTheFirstAttemptDiedBeforeClaimingTakesTheRecordOver()
    {
        var time = new ShiftedTime();
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(), services: s => s.AddSingleton<TimeProvider>(time));
        var headers = Seeds.Header();
        const string body = """[{"name":"app/order.placed","id":"order-1"}]""";
        Assert.Equal(HttpStatusCode.OK, (await host.SendAsync(body, headers: headers)).StatusCode);

        // Make it the state a first attempt leaves when it dies between its record and its claim:
        // the record and the outbox row, no claim, nothing sent.
        var record = Assert.Single(await host.RowsAsync(host.Storage.Events));
        var firstWriter = record.GetString("Writer");
        var claim = Assert.Single(await host.RowsAsync(host.Storage.Idempotency));
        await host.Storage.Idempotency.DeleteEntityAsync(claim.PartitionKey, claim.RowKey);
        Assert.Single(await host.ReceiveAllAsync());
        var created = record.GetInt64("ReceivedAt")!.Value;
        await host.Services.GetRequiredService<Outbox>().FlushAsync(); // the first attempt's own row, finished
        await host.Storage.Outbox.AddEntityAsync(new TableEntity(Outbox.PartitionFor(created, 0), firstWriter)
        {
            ["Env"] = "dev", ["RecordPartition"] = record.PartitionKey, ["Count"] = 1, ["Created"] = created,
        });

        // The client's retry claims the key and sends the event itself.
        var retry = await TestHost.JsonAsync(await host.SendAsync(body, headers: headers));
        Assert.Equal("accepted", retry.GetProperty("events")[0].GetProperty("outcome").GetString());
        Assert.NotEqual(firstWriter, Assert.Single(await host.RowsAsync(host.Storage.Events)).GetString("Writer"));

        // The first attempt's repair then finds nothing of its own left to send.
        await host.Services.GetRequiredService<Outbox>().FlushAsync(); // the retry's own row, finished
        time.Offset = TimeSpan.FromMinutes(3);
        Assert.Equal(0, await host.Services.GetRequiredService<Jobs>().RepairOutboxAsync(default));
        Assert.Single(await host.ReceiveAllAsync());
        Assert.Empty(await host.RowsAsync(host.Storage.Outbox));
    }

    [Fact]
    public async Task TheRepairTakesARowOverAsSoonAsItIsRepairAfterOld()
    {
        var time = new ShiftedTime();
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(),
            new Dictionary<string, string?> { ["EventIngest:Repair:RepairAfter"] = "00:01:00" }, s => s.AddSingleton<TimeProvider>(time));
        await host.Storage.EnsureCreatedAsync(default);
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var batch = Batch(now);
        await new Outbox(host.Storage, time, NullLogger<Outbox>.Instance).OpenAsync(batch, default);
        var jobs = host.Services.GetRequiredService<Jobs>();

        time.Offset = TimeSpan.FromSeconds(50); // RepairAfter is a minute
        Assert.Equal(0, await jobs.RepairOutboxAsync(default));
        Assert.Single(await Rows(host.Storage));
        time.Offset = TimeSpan.FromSeconds(61); // whatever minute the row was written in
        Assert.Equal(0, await jobs.RepairOutboxAsync(default)); // no records: nothing to send, the row is removed
        Assert.Empty(await Rows(host.Storage));
    }

    [Fact]
    public async Task OneRepairRunFindsRowsInEveryShardAndInTheEarlierMinuteFirstLayout()
    {
        var time = new ShiftedTime();
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(), services: s => s.AddSingleton<TimeProvider>(time));
        await host.Storage.EnsureCreatedAsync(default);
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var partitions = Enumerable.Range(0, Outbox.Shards).Select(shard => Outbox.PartitionFor(now, shard))
            .Append(Outbox.MinuteOf(now) + "-3") // as versions before the shard came first wrote them
            .ToList();
        foreach (var partition in partitions)
        {
            var seed = IdSeed.Random(now);
            await host.Storage.Outbox.AddEntityAsync(new TableEntity(partition, Ulid.NewUlid(now))
            {
                ["Env"] = "dev", ["RecordPartition"] = RecordKeys.Partition("dev", seed.IdFor(0)), ["Count"] = 1, ["Seed"] = seed.ToString(), ["Created"] = now,
            });
        }
        Assert.Equal(Outbox.Shards, partitions.Count(p => p[1] == '-')); // a letter, then the minute
        Assert.Equal(partitions.Count, partitions.Distinct().Count());

        time.Offset = TimeSpan.FromMinutes(3);
        await host.Services.GetRequiredService<Jobs>().RepairOutboxAsync(default);

        Assert.Empty(await Rows(host.Storage));
    }

    private static RequestAttempt Batch(long? at = null, int events = 0)
    {
        var now = at ?? DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var seed = IdSeed.Random(now);
        return new RequestAttempt("dev", Ulid.NewUlid(now), now, seed, events, Outbox.PartitionFor(now, 0), RecordKeys.Partition("dev", seed.IdFor(0)));
    }

    private static async Task<List<TableEntity>> Rows(StorageAccount storage)
    {
        var rows = new List<TableEntity>();
        await foreach (var e in storage.Outbox.QueryAsync<TableEntity>()) rows.Add(e);
        return rows;
    }
}
