using Azure;
using Azure.Data.Tables;
using EventIngest.Storage;
using EventIngest.Scheduling;
using EventIngest.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using EventIngest.Ids;

namespace EventIngest.Delivery;

/// <summary>
/// Completes requests that died (or gave up) after writing their outbox row. It first fences the
/// request off (<see cref="EventStore.FenceAsync"/>), so nothing it still had on its way can land
/// later unseen; then every record the request wrote, from where the request noted it had sent
/// up to (<c>SentThrough</c>), is claimed (if it has a caller key) and sent to its queues (a scheduled one put back in
/// place unless it already is), then the row is removed. Records go in chunks of 16, sent at once;
/// each finished chunk is noted on the row, so a pass that dies part-way is resumed, not repeated.
/// A pass with nothing stuck costs one query per outbox shard, made at once. Two passes never work on the same row: each takes
/// a row by updating it with its ETag first.
/// </summary>
internal sealed class OutboxRepair(StorageAccount storage, EventStore store, EventQueue queue, Scheduler scheduler, IngestMetrics metrics, IOptions<RepairOptions> options, TimeProvider time, ILogger<OutboxRepair> logger)
{
    // One round of parallel sends, then one merge on the row: a pass killed mid-way repeats at most this many.
    private const int ChunkSize = 16;
    private readonly TimeSpan _after = options.Value.RepairAfter;

    public async Task<int> RunOnceAsync(TimeSpan budget, CancellationToken ct)
    {
        await storage.EnsureCreatedAsync(ct);
        var started = time.GetTimestamp();
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        // Partitions are a shard and a minute: in each shard every minute up to the cutoff's, rows created before it.
        var cutoff = now - (long)_after.TotalMilliseconds;
        var lastMinute = Outbox.MinuteOf(cutoff) + "~";
        var ranges = Enumerable.Range(0, Outbox.Shards)
            .Select(shard => Outbox.ShardPrefix(shard))
            .Select(prefix => TableClient.CreateQueryFilter($"PartitionKey ge {prefix + "-"} and PartitionKey lt {prefix + "-" + lastMinute}") + " and " + Outbox.CreatedBefore(cutoff))
            // Rows of earlier versions, minute first (yyyyMMddHHmm-{n}): digits sort before the shards' letters.
            .Append(TableClient.CreateQueryFilter($"PartitionKey lt {lastMinute}") + " and " + Outbox.CreatedBefore(cutoff));
        var repaired = 0;
        // The shards are read at once: a backlog in one does not hold up the others.
        await Task.WhenAll(ranges.Select(async filter =>
        {
            await foreach (var row in storage.Outbox.QueryAsync<TableEntity>(filter, maxPerPage: 100, cancellationToken: ct))
            {
                // Past the budget, the rows not taken wait for the next run (they are their own checkpoint).
                if (time.GetElapsedTime(started) >= budget) break;
                if (!await TakeAsync(row, ct)) continue;
                using var span = IngestActivities.StartJob(IngestActivities.Repair);
                Interlocked.Add(ref repaired, await RepairAsync(row, ct));
            }
        }));
        return repaired;
    }

    private async Task<bool> TakeAsync(TableEntity row, CancellationToken ct)
    {
        row[Outbox.Column.Attempts] = (row.GetInt32(Outbox.Column.Attempts) ?? 0) + 1;
        try
        {
            var response = await storage.Outbox.UpdateEntityAsync(row, row.ETag, TableUpdateMode.Merge, ct);
            row.ETag = response.Headers.ETag ?? row.ETag;
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status is 404 or 412)
        {
            return false; // finished or taken by another pass
        }
    }

    private async Task<int> RepairAsync(TableEntity row, CancellationToken ct)
    {
        var environment = row.GetString(Outbox.Column.Env);
        var partition = row.GetString(Outbox.Column.RecordPartition);
        var nonce = row.RowKey;
        var seed = IdSeed.Parse(row.GetString(Outbox.Column.Seed));
        var count = row.GetInt32(Outbox.Column.Count) ?? 0;
        // First the fence: from here on no write of the request can land, so what is read below is
        // all it will ever have written (rows of older versions carry no seed and are not fenced).
        if (seed is not null) await store.FenceAsync(partition, seed, count, nonce, ct);

        if (row.GetBoolean(Outbox.Column.Abandoned) == true)
        {
            await store.DeleteWrittenByAsync(partition, nonce, ct);
            await DeleteRowAsync(row, ct);
            logger.LogWarning("Removed what a refused request wrote: outbox row {Nonce}", nonce);
            return 0;
        }

        // Events the request itself noted as sent (in request order) are not sent again.
        var sentThrough = row.GetInt32(Outbox.Column.SentThrough) ?? 0;
        var indexOf = seed is not null && sentThrough > 0
            ? Enumerable.Range(0, count).ToDictionary(seed.IdFor, i => i, StringComparer.Ordinal)
            : null;

        // Records come in row-key order; "Done" is the last row key of the chunks a pass finished,
        // so a pass interrupted part-way does not make the next one send those chunks again.
        var filter = EventRecord.WrittenBy(partition, nonce, afterRow: row.GetString(Outbox.Column.Done));
        var sent = 0;
        var chunk = new List<EventRecord>(ChunkSize);
        await foreach (var entity in storage.Events.QueryAsync<TableEntity>(filter, maxPerPage: 1000, cancellationToken: ct))
        {
            var record = EventRecord.FromEntity(entity);
            if (indexOf is not null && indexOf.TryGetValue(record.InternalId, out var index) && index < sentThrough) continue;
            chunk.Add(record);
            if (chunk.Count < ChunkSize) continue;
            sent += await RepairChunkAsync(environment, chunk, ct);
            if (!await RecordProgressAsync(row, chunk[^1].RowKey, ct)) return sent;
            chunk.Clear();
        }
        if (chunk.Count > 0) sent += await RepairChunkAsync(environment, chunk, ct);
        await DeleteRowAsync(row, ct);
        metrics.Repaired(environment, sent, time.GetUtcNow() - DateTimeOffset.FromUnixTimeMilliseconds(row.GetInt64(Outbox.Column.Created) ?? 0));
        logger.LogWarning("Repaired an interrupted request: {Count} events sent from outbox row {Nonce}", sent, nonce);
        return sent;
    }

    private async Task DeleteRowAsync(TableEntity row, CancellationToken ct)
    {
        try
        {
            await storage.Outbox.DeleteEntityAsync(row.PartitionKey, row.RowKey, row.ETag, ct);
        }
        catch (RequestFailedException ex) when (ex.Status is 404 or 412)
        {
            // Removed by the request itself after all, or taken over by another pass.
        }
    }

    private async Task<int> RepairChunkAsync(string environment, List<EventRecord> records, CancellationToken ct)
    {
        var sent = 0;
        await Parallel.ForEachAsync(records, new ParallelOptions { MaxDegreeOfParallelism = ChunkSize, CancellationToken = ct }, async (record, token) =>
        {
            if (await RepairRecordAsync(environment, record, token)) Interlocked.Increment(ref sent);
        });
        return sent;
    }

    private async Task<bool> RepairRecordAsync(string environment, EventRecord record, CancellationToken ct)
    {
        var internalId = record.InternalId;
        if (record.Id is { } id && !await store.HoldsClaimAsync(environment, id, internalId, record.ReceivedAt, ct))
        {
            // Another event won the key: this record was never acknowledged.
            await storage.Events.DeleteEntityAsync(record.PartitionKey, record.RowKey, ETag.All, ct);
            return false;
        }
        switch (record.State)
        {
            case RecordState.Pending:
                await queue.SendRecordAsync(environment, record, ct);
                return true;
            case RecordState.Scheduled:
                await scheduler.EnsurePlacedAsync(environment, record, ct);
                return true;
            default:
                return false; // void, or already released or cancelled
        }
    }

    /// <summary>False when another pass has taken the row over meanwhile (it continues from here).</summary>
    private async Task<bool> RecordProgressAsync(TableEntity row, string lastRowKey, CancellationToken ct)
    {
        var progress = new TableEntity(row.PartitionKey, row.RowKey) { [Outbox.Column.Done] = lastRowKey };
        try
        {
            var response = await storage.Outbox.UpdateEntityAsync(progress, row.ETag, TableUpdateMode.Merge, ct);
            row.ETag = response.Headers.ETag ?? row.ETag;
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status is 404 or 412)
        {
            return false;
        }
    }
}
