using System.Net;
using Azure.Data.Tables;
using EventIngest.Ingest;
using EventIngest.Storage;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace EventIngest.Tests.Storage;

[Collection(AzuriteFixture.CollectionName)]
public sealed class OutboxTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task AFinishedRowIsDeletedInTheTransactionOfTheNextRowItsInstanceOpens()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var storage = host.Storage;
        await storage.EnsureCreatedAsync(default);
        var counter = host.Services.GetRequiredService<StorageRequestCounter>();
        // Not started as a hosted service: nothing deletes finished rows on a timer.
        var outbox = new Outbox(storage, NullLogger<Outbox>.Instance);

        var first = Batch();
        await outbox.OpenAsync(first, default);
        outbox.Finish(first);
        Assert.Equal(1, outbox.Waiting);
        Assert.Single(await Rows(storage));

        var before = counter.Requests;
        var second = Batch();
        await outbox.OpenAsync(second, default);
        Assert.Equal(1, counter.Requests - before); // the insert and the delete in one transaction
        Assert.Equal(0, outbox.Waiting);
        Assert.Equal(second.Nonce, Assert.Single(await Rows(storage)).RowKey);

        outbox.Finish(second);
        await outbox.FlushAsync();
        Assert.Empty(await Rows(storage));
    }

    [Fact]
    public async Task AFinishedRowAlreadyGoneDoesNotFailTheNextRequest()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var storage = host.Storage;
        await storage.EnsureCreatedAsync(default);
        var outbox = new Outbox(storage, NullLogger<Outbox>.Instance);

        var taken = Batch();
        await outbox.OpenAsync(taken, default);
        var row = Assert.Single(await Rows(storage));
        await storage.Outbox.DeleteEntityAsync(row.PartitionKey, row.RowKey); // the repair job finished it meanwhile
        outbox.Finish(taken);

        var next = Batch();
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
        for (var i = 0; i < 100 && outbox.Waiting > 0; i++) await Task.Delay(50);
        Assert.Equal(0, outbox.Waiting);
        Assert.Empty(await Rows(host.Storage));
    }

    [Fact]
    public async Task ARepairPassResumesAfterTheChunksAnEarlierPassFinished()
    {
        var prefix = azurite.NewStorageNamePrefix();
        var events = string.Join(',', Enumerable.Range(0, 250).Select(i => "{\"name\":\"app/n\",\"data\":{\"i\":" + i + "}}"));
        await using (var broken = await TestHost.StartAsync(TestHost.WithDeadQueues(azurite.ConnectionString), prefix))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await broken.SendAsync("[" + events + "]")).StatusCode);
        }

        var time = new ShiftedTime();
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, prefix, services: s => s.AddSingleton<TimeProvider>(time));
        var records = (await host.RowsAsync(host.Storage.Events)).OrderBy(r => r.RowKey, StringComparer.Ordinal).ToList();
        Assert.Equal(250, records.Count);

        // An earlier pass sent the first chunk of 100, noted it on the row, and died.
        var row = Assert.Single(await host.RowsAsync(host.Storage.Outbox));
        row["Done"] = records[99].RowKey;
        await host.Storage.Outbox.UpdateEntityAsync(row, row.ETag, TableUpdateMode.Merge);

        time.Offset = TimeSpan.FromMinutes(3);
        Assert.Equal(150, await host.Services.GetRequiredService<Jobs>().RepairOutboxAsync(default));
        var delivered = (await host.ReceiveAllAsync()).Select(m => m.GetProperty("internal_id").GetString()!).ToHashSet();
        Assert.Equal(records.Skip(100).Select(r => RecordKeys.InternalIdOf(r.RowKey)).ToHashSet(), delivered);
        Assert.Empty(await host.RowsAsync(host.Storage.Outbox));
    }

    private static IngestBatch Batch()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var id = Ulid.NewUlid(now);
        return new IngestBatch { Environment = "dev", Nonce = Ulid.NewUlid(now), ReceivedAt = now, RecordPartition = RecordKeys.Partition("dev", id), Events = [] };
    }

    private static async Task<List<TableEntity>> Rows(StorageAccount storage)
    {
        var rows = new List<TableEntity>();
        await foreach (var e in storage.Outbox.QueryAsync<TableEntity>()) rows.Add(e);
        return rows;
    }
}
