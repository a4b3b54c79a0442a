using Azure;
using Azure.Data.Tables;
using Azure.Storage.Queues;
using EventIngest.Ingest;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using EventIngest.Storage;

namespace EventIngest.Tests.Infrastructure;

/// <summary>
/// "Nothing stored", read straight from the account. A table or queue that was never created reads
/// as empty whatever a request did (<see cref="TestHost.RowsAsync"/> and
/// <see cref="TestHost.CountMessagesAsync"/> take absence for empty, which other tests rely on), so
/// a test creates the host's storage before the request (<see cref="CreateAsync"/>), and
/// <see cref="AssertNothingStoredAsync"/> fails on anything missing as well as on anything stored.
/// </summary>
public static class StoredState
{
    /// <summary>Creates every table, queue and container the host writes events to: the event
    /// tables, the large-envelope container, each shard of the default queue and of every route's
    /// queue, and the due queue.</summary>
    public static async Task CreateAsync(TestHost host)
    {
        await host.Storage.EnsureCreatedAsync(default);
        foreach (var queue in QueuesOf(host)) await host.Storage.ReadyQueueAsync(queue, default);
    }

    /// <summary>No record, claim, outbox row, schedule row, message (visible or not) on any queue the
    /// host routes to or on its due queue, or large-envelope blob — and every one of them exists, so
    /// that this was read rather than assumed.</summary>
    public static async Task AssertNothingStoredAsync(TestHost host)
    {
        // Finished requests' outbox rows are deleted shortly after their answer: settle that first.
        await host.RowsAsync(host.Storage.Outbox);

        var found = new List<string>();
        foreach (var table in new[] { host.Storage.Events, host.Storage.Idempotency, host.Storage.Outbox, host.Storage.Schedule })
        {
            found.AddRange(await TableContentAsync(table));
        }

        var container = host.Storage.LargeEvents;
        if (!await container.ExistsAsync())
        {
            found.Add($"container {container.Name} does not exist");
        }
        else
        {
            await foreach (var blob in container.GetBlobsAsync()) found.Add($"blob {blob.Name} in container {container.Name}");
        }

        // The queues the host sends to, and any other queue under its prefix.
        var queues = new SortedSet<string>(QueuesOf(host), StringComparer.Ordinal);
        var account = new QueueServiceClient(host.Storage.Options.ConnectionString);
        await foreach (var queue in account.GetQueuesAsync(prefix: host.Prefix)) queues.Add(queue.Name);
        foreach (var name in queues)
        {
            try
            {
                // The approximate count includes invisible messages (a scheduled event's due marker).
                var count = (await host.Storage.Queue(name).GetPropertiesAsync()).Value.ApproximateMessagesCount;
                if (count > 0) found.Add($"{count} message(s) on queue {name}");
            }
            catch (RequestFailedException ex) when (ex.Status == 404)
            {
                found.Add($"queue {name} does not exist");
            }
        }

        Assert.True(found.Count == 0, "expected every event table, queue and container to exist and be empty: " + string.Join("; ", found));
    }

    /// <summary>Every queue the host sends events or due markers to: each shard of the default queue and of every route's queue, and the due queue.</summary>
    public static IReadOnlyList<string> QueuesOf(TestHost host)
    {
        var routing = host.Services.GetRequiredService<IOptions<RoutingOptions>>().Value;
        return
        [
            .. QueueShards.Names(routing.DefaultQueue, routing.DefaultShards),
            .. routing.Routes.SelectMany(r => QueueShards.Names(r.Queue, r.Shards)),
            host.Storage.DueQueueName,
        ];
    }

    private static async Task<List<string>> TableContentAsync(TableClient table)
    {
        var rows = new List<string>();
        try
        {
            await foreach (var row in table.QueryAsync<TableEntity>(select: ["PartitionKey", "RowKey"])) rows.Add($"row {row.PartitionKey}/{row.RowKey} in table {table.Name}");
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            return [$"table {table.Name} does not exist"];
        }
        return rows;
    }
}
