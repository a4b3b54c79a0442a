using Azure;
using Azure.Data.Tables;
using EventIngest.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventIngest.Scheduling;

public enum ScheduleChange
{
    Done,
    NotFound,
    /// <summary>Already on its queue and due (or taken by a consumer): too late to change.</summary>
    Released,
    Cancelled,
    /// <summary>Not a scheduled event.</summary>
    NotScheduled,
    /// <summary>Changed by someone else meanwhile; retrying may succeed.</summary>
    Conflict,
}

/// <summary>
/// Holds events until they are due. An event due within <see cref="SchedulingOptions.Horizon"/>
/// goes on its queue at once with a visibility delay, so the queue service itself releases it on
/// time (visibility is set in whole seconds, rounded up: never early, at most one second late).
/// A later one is parked in the schedule table until the release job moves it to its queue,
/// again with a delay. The index row is the event's single point of truth: every change to it is
/// ETag-conditional, so concurrent releases, cancels and reschedules have exactly one winner.
/// </summary>
public sealed class Scheduler(StorageAccount storage, EventQueue queue, IOptions<SchedulingOptions> options, TimeProvider time, ILogger<Scheduler> logger)
{
    private readonly TimeSpan _horizon = options.Value.Horizon;

    private long Now => time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Puts items on their queues (delayed) or parks them, and writes their index rows.
    /// Safe to repeat: rows are upserted.</summary>
    public async Task PlaceAsync(string environment, IReadOnlyList<ScheduledItem> items, CancellationToken ct)
    {
        if (items.Count == 0) return;
        var now = Now;
        var near = items.Where(i => i.Due - now <= _horizon.TotalMilliseconds).ToList();
        var far = items.Where(i => i.Due - now > _horizon.TotalMilliseconds).ToList();

        var indexRows = new List<TableEntity>(items.Count);
        if (near.Count > 0)
        {
            var receipts = await SendAsync(near, ct);
            indexRows.AddRange(near.Select((item, n) => ScheduleIndex.IndexRow(environment, item, ScheduleIndex.Queued, receipts[n])));
        }
        indexRows.AddRange(far.Select(item => ScheduleIndex.IndexRow(environment, item, ScheduleIndex.Parked, null)));

        // Parked rows first: an index row saying "parked" must never lack the row the release job scans.
        await UpsertAsync(far.Select(item =>
        {
            var (pk, rk) = ScheduleIndex.ParkedKeyFor(environment, item.Due, item.InternalId);
            return new TableEntity(pk, rk) { ["Due"] = item.Due };
        }), ct);
        await UpsertAsync(indexRows, ct);
    }

    private async Task<List<MessageReceipt[]>> SendAsync(IReadOnlyList<ScheduledItem> items, CancellationToken ct)
    {
        var messages = items.SelectMany(i => i.Queues.Select(q => (q, i.Body, i.Due))).ToList();
        var sent = await queue.SendDelayedAsync(messages, time, ct);
        var result = new List<MessageReceipt[]>(items.Count);
        var offset = 0;
        foreach (var item in items)
        {
            result.Add(sent[offset..(offset + item.Queues.Count)]);
            offset += item.Queues.Count;
        }
        return result;
    }

    private async Task UpsertAsync(IEnumerable<TableEntity> rows, CancellationToken ct)
    {
        foreach (var chunk in rows.GroupBy(r => r.PartitionKey).SelectMany(g => g.Chunk(100)))
        {
            await storage.Schedule.SubmitTransactionAsync(chunk.Select(r => new TableTransactionAction(TableTransactionActionType.UpsertReplace, r)), ct);
        }
    }

    /// <summary>The release job: moves parked events that have come within the horizon onto their
    /// queues. With nothing to move it costs one query.</summary>
    public async Task<int> ReleaseParkedAsync(CancellationToken ct)
    {
        await storage.EnsureCreatedAsync(ct);
        var limit = Now + (long)_horizon.TotalMilliseconds;
        var filter = TableClient.CreateQueryFilter(
            $"PartitionKey ge {ScheduleIndex.ParkedPrefix} and PartitionKey le {ScheduleIndex.ParkedPrefix + ScheduleIndex.Day(limit)} and Due le {limit}");
        var moved = 0;
        await foreach (var parked in storage.Schedule.QueryAsync<TableEntity>(filter, cancellationToken: ct))
        {
            if (await MoveParkedAsync(parked, ct)) moved++;
        }
        return moved;
    }

    private async Task<bool> MoveParkedAsync(TableEntity parked, CancellationToken ct)
    {
        var parts = parked.RowKey.Split('|');
        var (environment, internalId, due) = (parts[1], parts[2], parked.GetInt64("Due")!.Value);
        var (pk, rk) = ScheduleIndex.KeyFor(environment, due, internalId);
        var index = await GetAsync(storage.Schedule, pk, rk, ct);
        if (index?.GetString("State") != ScheduleIndex.Parked)
        {
            await DeleteQuietlyAsync(parked, ct); // cancelled, rescheduled or moved already
            return false;
        }

        var item = await ItemFromRecordAsync(environment, internalId, due, index, ct);
        if (item is null)
        {
            logger.LogWarning("Parked event {InternalId} has no record; dropping its schedule rows", internalId);
            await DeleteQuietlyAsync(parked, ct);
            return false;
        }

        var receipts = (await SendAsync([item], ct))[0];
        var queued = ScheduleIndex.IndexRow(environment, item, ScheduleIndex.Queued, receipts);
        var mover = Guid.NewGuid().ToString("N");
        queued["Mover"] = mover;
        try
        {
            await storage.Schedule.UpdateEntityAsync(queued, index.ETag, TableUpdateMode.Replace, ct);
        }
        catch (RequestFailedException ex) when (ex.Status is 412 or 404)
        {
            // Another release, a cancel or a reschedule won: take back what this pass sent.
            // A retried update can fail with 412 although its first attempt landed: check whose it is.
            if (ex.Status == 412 && (await GetAsync(storage.Schedule, pk, rk, ct))?.GetString("Mover") == mover)
            {
                await DeleteQuietlyAsync(parked, ct);
                return true;
            }
            foreach (var r in receipts) await queue.TryDeleteAsync(r, ct);
            return false;
        }
        await DeleteQuietlyAsync(parked, ct);
        return true;
    }

    /// <summary>Cancels a pending scheduled event: its messages are deleted before they become visible.</summary>
    public async Task<ScheduleChange> CancelAsync(string environment, string internalId, CancellationToken ct)
    {
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var (record, index, verdict) = await LoadPendingAsync(environment, internalId, ct);
            if (verdict != ScheduleChange.Done) return verdict;

            if (!await RemovePlacementAsync(index!, ct))
            {
                var now = await LoadPendingAsync(environment, internalId, ct);
                return now.Verdict == ScheduleChange.Cancelled ? ScheduleChange.Cancelled : ScheduleChange.Released;
            }
            try
            {
                index!["State"] = ScheduleIndex.Cancelled;
                await storage.Schedule.UpdateEntityAsync(index, index.ETag, TableUpdateMode.Merge, ct);
            }
            catch (RequestFailedException ex) when (ex.Status is 412 or 404)
            {
                continue; // moved by the release job meanwhile: look again
            }
            await storage.Events.UpdateEntityAsync(new TableEntity(record!.PartitionKey, record.RowKey) { ["State"] = RecordState.Cancelled }, ETag.All, TableUpdateMode.Merge, ct);
            return ScheduleChange.Done;
        }
        return ScheduleChange.Conflict;
    }

    /// <summary>Moves a pending scheduled event to a new time. The new placement is made before the
    /// old one is removed, so a crash in between can deliver twice but never loses the event.</summary>
    public async Task<ScheduleChange> RescheduleAsync(string environment, string internalId, long newTs, CancellationToken ct)
    {
        var (record, index, verdict) = await LoadPendingAsync(environment, internalId, ct);
        if (verdict != ScheduleChange.Done) return verdict;

        var envelope = await EnvelopeAsync(record!, ct);
        var updated = EventMessage.WithTs(envelope, newTs);
        var blob = record!.GetString("Blob");
        if (blob is not null)
        {
            blob = EventQueue.BlobNameFor(environment, internalId) + "." + ScheduleIndex.Due(newTs);
            await storage.LargeEvents.GetBlobClient(blob).UploadAsync(BinaryData.FromBytes(updated), overwrite: true, ct);
        }
        var item = new ScheduledItem(internalId, record.GetString("Name"), record.GetString("Id"), newTs, record.PartitionKey,
            Queues(record), queue.MessageFor(environment, internalId, record.GetString("Name"), updated, blob, updated.Length));
        var sameKey = ScheduleIndex.KeyFor(environment, newTs, internalId) == (index!.PartitionKey, index.RowKey);

        if (!sameKey) await PlaceAsync(environment, [item], ct);
        if (!await RemovePlacementAsync(index, ct))
        {
            if (!sameKey) await UndoPlacementAsync(environment, item, ct);
            return ScheduleChange.Released;
        }
        if (sameKey)
        {
            await PlaceAsync(environment, [item], ct);
        }
        else
        {
            try
            {
                await storage.Schedule.DeleteEntityAsync(index.PartitionKey, index.RowKey, index.ETag, ct);
            }
            catch (RequestFailedException ex) when (ex.Status is 412 or 404)
            {
                await UndoPlacementAsync(environment, item, ct);
                return ScheduleChange.Conflict;
            }
        }

        var change = new TableEntity(record.PartitionKey, record.RowKey) { ["Due"] = newTs, ["Ts"] = newTs };
        if (blob is null) change["Message"] = updated;
        else change["Blob"] = blob;
        await storage.Events.UpdateEntityAsync(change, ETag.All, TableUpdateMode.Merge, ct);
        return ScheduleChange.Done;
    }

    /// <summary>Pending scheduled events of an environment in due order, after the cursor (an
    /// index key). Costs one query per page: the keys are in due order.</summary>
    public async Task<(List<TableEntity> Items, string? Next)> ListPendingAsync(string environment, long? dueBefore, int limit, string? cursor, CancellationToken ct)
    {
        await storage.EnsureCreatedAsync(ct);
        var now = Now;
        var (fromPartition, afterRow) = cursor is null
            ? (ScheduleIndex.KeyFor(environment, now, "").Partition, "")
            : (cursor[..cursor.IndexOf('#', StringComparison.Ordinal)], cursor[(cursor.IndexOf('#', StringComparison.Ordinal) + 1)..]);
        var before = dueBefore ?? long.MaxValue;
        var filter = TableClient.CreateQueryFilter(
            $"PartitionKey ge {fromPartition} and PartitionKey lt {environment + "|~"} and (PartitionKey gt {fromPartition} or RowKey gt {afterRow}) and State ne {ScheduleIndex.Cancelled} and Due gt {now} and Due lt {before}");
        var items = new List<TableEntity>(limit);
        await foreach (var page in storage.Schedule.QueryAsync<TableEntity>(filter, maxPerPage: limit, cancellationToken: ct).AsPages())
        {
            foreach (var row in page.Values)
            {
                items.Add(row);
                if (items.Count == limit) return (items, $"{row.PartitionKey}#{row.RowKey}");
            }
        }
        return (items, null);
    }

    /// <summary>Puts the record's scheduled events back into place if their request died before it
    /// could (called by the repair job); leaves placed ones alone.</summary>
    public async Task EnsurePlacedAsync(string environment, TableEntity record, byte[] body, CancellationToken ct)
    {
        var internalId = RecordKeys.InternalIdOf(record.RowKey);
        var due = record.GetInt64("Due")!.Value;
        var (pk, rk) = ScheduleIndex.KeyFor(environment, due, internalId);
        if (await GetAsync(storage.Schedule, pk, rk, ct) is not null) return;
        await PlaceAsync(environment, [new ScheduledItem(internalId, record.GetString("Name"), record.GetString("Id"), due, record.PartitionKey, Queues(record), body)], ct);
    }

    private async Task<(TableEntity? Record, TableEntity? Index, ScheduleChange Verdict)> LoadPendingAsync(string environment, string internalId, CancellationToken ct)
    {
        await storage.EnsureCreatedAsync(ct);
        var record = await GetAsync(storage.Events, RecordKeys.Partition(environment, internalId), RecordKeys.Row(internalId), ct);
        if (record is null) return (null, null, ScheduleChange.NotFound);
        switch (record.GetString("State"))
        {
            case RecordState.Cancelled: return (record, null, ScheduleChange.Cancelled);
            case RecordState.Scheduled: break;
            default: return (record, null, ScheduleChange.NotScheduled);
        }
        var due = record.GetInt64("Due")!.Value;
        if (due <= Now) return (record, null, ScheduleChange.Released);
        var (pk, rk) = ScheduleIndex.KeyFor(environment, due, internalId);
        var index = await GetAsync(storage.Schedule, pk, rk, ct);
        return index?.GetString("State") switch
        {
            null => (record, null, ScheduleChange.Conflict), // its request is still placing it
            ScheduleIndex.Cancelled => (record, index, ScheduleChange.Cancelled),
            _ => (record, index, ScheduleChange.Done),
        };
    }

    /// <summary>Deletes the event's waiting messages, or its parked row. False when a message is
    /// already gone, i.e. the event has been released.</summary>
    private async Task<bool> RemovePlacementAsync(TableEntity index, CancellationToken ct)
    {
        if (index.GetString("State") == ScheduleIndex.Parked)
        {
            var (pk, rk) = ScheduleIndex.ParkedKeyFor(index.PartitionKey[..index.PartitionKey.LastIndexOf('|')], index.GetInt64("Due")!.Value, ScheduleIndex.InternalIdOf(index));
            await DeleteQuietlyAsync(new TableEntity(pk, rk), ct);
            return true;
        }
        var all = true;
        foreach (var receipt in ScheduleIndex.ReceiptsOf(index)) all &= await queue.TryDeleteAsync(receipt, ct);
        return all;
    }

    private async Task UndoPlacementAsync(string environment, ScheduledItem item, CancellationToken ct)
    {
        var (pk, rk) = ScheduleIndex.KeyFor(environment, item.Due, item.InternalId);
        if (await GetAsync(storage.Schedule, pk, rk, ct) is { } placed)
        {
            await RemovePlacementAsync(placed, ct);
            await DeleteQuietlyAsync(placed, ct);
        }
    }

    private async Task<ScheduledItem?> ItemFromRecordAsync(string environment, string internalId, long due, TableEntity index, CancellationToken ct)
    {
        var record = await GetAsync(storage.Events, RecordKeys.Partition(environment, internalId), RecordKeys.Row(internalId), ct);
        if (record is null) return null;
        var envelope = record.GetBinary("Message");
        var blob = record.GetString("Blob");
        var body = queue.MessageFor(environment, internalId, record.GetString("Name"), envelope, blob, envelope?.Length ?? 0);
        return new ScheduledItem(internalId, record.GetString("Name"), index.GetString("Id"), due, record.PartitionKey, Queues(record), body);
    }

    private async Task<byte[]> EnvelopeAsync(TableEntity record, CancellationToken ct) =>
        record.GetBinary("Message") ?? (await storage.LargeEvents.GetBlobClient(record.GetString("Blob")).DownloadContentAsync(ct)).Value.Content.ToArray();

    private static string[] Queues(TableEntity record) => record.GetString("Queues").Split(',', StringSplitOptions.RemoveEmptyEntries);

    private static async Task<TableEntity?> GetAsync(TableClient table, string pk, string rk, CancellationToken ct)
    {
        var response = await table.GetEntityIfExistsAsync<TableEntity>(pk, rk, cancellationToken: ct);
        return response.HasValue ? response.Value : null;
    }

    private async Task DeleteQuietlyAsync(TableEntity row, CancellationToken ct)
    {
        try
        {
            await storage.Schedule.DeleteEntityAsync(row.PartitionKey, row.RowKey, ETag.All, ct);
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
        }
    }
}
