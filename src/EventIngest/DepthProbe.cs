using Azure;
using Azure.Data.Tables;
using EventIngest.Ingest;
using EventIngest.Scheduling;
using EventIngest.Storage;
using Microsoft.Extensions.Options;
using EventIngest.Delivery;
using EventIngest.Telemetry;

namespace EventIngest;

/// <summary>
/// Measures what waits in storage — messages on each consumer queue and its poison queue, scheduled
/// events on the due queue and parked, outbox rows past <c>RepairAfter</c> — for the gauges of
/// <see cref="IngestMetrics"/>. Run after the repair job, once a minute: a queue's depth is one
/// request, the parked and overdue counts read keys only and stop at <see cref="CountCap"/>.
/// </summary>
internal sealed class DepthProbe(StorageAccount storage, IngestMetrics metrics, IOptions<RoutingOptions> routing, IOptions<RepairOptions> repair, TimeProvider time)
{
    /// <summary>Counts of parked events and overdue rows stop here (the gauge then reads "at least").</summary>
    public const int CountCap = 10_000;

    public const string EventsKind = "events";
    public const string PoisonKind = "poison";
    public const string DueKind = "due";

    private readonly IReadOnlyList<string> _queues = ConsumerQueues(routing.Value);

    public async Task MeasureAsync(CancellationToken ct)
    {
        await storage.EnsureCreatedAsync(ct);
        var depths = new List<(string Queue, string Kind, long Messages)>(_queues.Count * 2 + 1);
        var counted = await Task.WhenAll(_queues.Select(async q =>
            (Queue: q, Events: await DepthAsync(q, ct), Poison: await DepthAsync(q + "-poison", ct))));
        foreach (var (queue, events, poison) in counted)
        {
            depths.Add((queue, EventsKind, events));
            depths.Add((queue + "-poison", PoisonKind, poison));
        }
        var waiting = await DepthAsync(storage.DueQueueName, ct);
        depths.Add((storage.DueQueueName, DueKind, waiting));

        var parked = await CountAsync(storage.Schedule,
            TableClient.CreateQueryFilter($"PartitionKey ge {ScheduleIndex.ParkedPrefix} and PartitionKey lt {ScheduleIndex.ParkedPrefix + "~"}"), ct, perRow: "Count");
        var cutoff = time.GetUtcNow().ToUnixTimeMilliseconds() - (long)repair.Value.RepairAfter.TotalMilliseconds;
        // The outbox holds only requests in flight (or stuck): a filter over the whole table reads few rows,
        // whatever layout its partitions have (shard first, or minute first from earlier versions).
        var overdue = await CountAsync(storage.Outbox, Outbox.CreatedBefore(cutoff), ct);
        metrics.SetDepths(depths, waiting, parked, overdue);
    }

    /// <summary>Every queue the service sends events to, shards included.</summary>
    public static IReadOnlyList<string> ConsumerQueues(RoutingOptions routing) =>
        [.. QueueShards.Names(routing.DefaultQueue, routing.DefaultShards)
            .Concat(routing.Routes.SelectMany(r => QueueShards.Names(r.Queue, r.Shards)))
            .Distinct(StringComparer.Ordinal)];

    private async Task<long> DepthAsync(string queue, CancellationToken ct)
    {
        try
        {
            return (await storage.Queue(queue).GetPropertiesAsync(ct)).Value.ApproximateMessagesCount;
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            return 0; // never created: nothing was ever sent there
        }
    }

    /// <summary>Rows matching <paramref name="filter"/>, or the sum of their <paramref name="perRow"/> column (1 where
    /// absent: a parked row holds one event or a group), up to <see cref="CountCap"/>.</summary>
    private static async Task<long> CountAsync(TableClient table, string filter, CancellationToken ct, string? perRow = null)
    {
        long count = 0;
        await foreach (var row in table.QueryAsync<TableEntity>(filter, maxPerPage: 1000, select: [perRow ?? "PartitionKey"], cancellationToken: ct))
        {
            count += perRow is null ? 1 : row.GetInt32(perRow) ?? 1;
            if (count >= CountCap) break;
        }
        return count;
    }
}
