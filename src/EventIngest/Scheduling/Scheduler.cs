using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;
using EventIngest.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using EventIngest.Delivery;

namespace EventIngest.Scheduling;

internal enum ScheduleChange
{
    Done,
    NotFound,
    /// <summary>Already released to its queues (or being released): too late to change.</summary>
    Released,
    Cancelled,
    /// <summary>Not a scheduled event.</summary>
    NotScheduled,
    /// <summary>Changed by someone else meanwhile; retrying may succeed.</summary>
    Conflict,
}

/// <summary>
/// Holds events until they are due. The event's record is the single point of truth: its
/// <c>State</c> (<c>scheduled</c> → <c>releasing</c> → <c>released</c>, or <c>cancelled</c>)
/// and its <c>Due</c>, every change ETag-conditional. What waits on a queue is only a marker on
/// the internal due queue, sent invisible until the due time (a parked row in the schedule table
/// when due beyond <see cref="SchedulingOptions.Horizon"/>, since queue delays stop at 7 days).
/// When a marker becomes visible the release (<see cref="ReleaseDueAsync"/>) checks the record:
/// only a record still <c>scheduled</c> for exactly that due time is released, by first taking
/// it (<c>releasing</c>, conditional), then sending its envelope to its queues, then marking it
/// <c>released</c>. So a cancel is one conditional update — answered 200, the event never fires,
/// whatever markers exist (a marker whose send was retried after its response was lost
/// included); a reschedule sends a marker for the new time and then moves <c>Due</c> in one
/// conditional update, which leaves every older marker stale. Index rows in the schedule table
/// only list pending events (<c>GET /v1/scheduled</c>).
/// </summary>
internal sealed class Scheduler(StorageAccount storage, EventQueue queue, LargeEnvelopes large, Telemetry.IngestMetrics metrics, IOptions<SchedulingOptions> options, IOptions<RepairOptions> repairOptions, TimeProvider time, ILogger<Scheduler> logger)
{
    private const int ReceiveBatch = 32;

    /// <summary>How far ahead of this instance's clock another's may be: a marker is received no
    /// earlier than its due time by the clock of whoever sent it (its delay is rounded up).</summary>
    private const long MarkerVisibleEarly = 1000;

    /// <summary>How long a release holds an event before another may take it over (its process
    /// died): half of <c>RepairAfter</c>, so a due event is out within that bound (G1).</summary>
    private readonly TimeSpan _lease = repairOptions.Value.RepairAfter / 2;

    private readonly TimeSpan _horizon = options.Value.Horizon;

    private long Now => time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Puts a due marker on the due queue (or parks the event) and writes the index rows.
    /// Safe to repeat: a second marker for the same due time releases nothing twice.</summary>
    public async Task PlaceAsync(string environment, IReadOnlyList<ScheduledItem> items, CancellationToken ct)
    {
        if (items.Count == 0) return;
        var now = Now;
        var near = items.Where(i => i.Due - now <= _horizon.TotalMilliseconds).ToList();
        var far = items.Where(i => i.Due - now > _horizon.TotalMilliseconds).ToList();

        await SendMarkersAsync(environment, near, ct);
        await UpsertAsync(ScheduleIndex.ParkedRows(environment, far), ct);
        await UpsertAsync([
            .. near.Select(item => ScheduleIndex.IndexRow(environment, item, ScheduleIndex.Queued)),
            .. far.Select(item => ScheduleIndex.IndexRow(environment, item, ScheduleIndex.Parked))], ct);
    }

    private async Task SendMarkersAsync(string environment, IReadOnlyList<ScheduledItem> items, CancellationToken ct)
    {
        if (items.Count == 0) return;
        await queue.SendDelayedAsync([.. DueMarker.Group(items.Select(i => new DueMarker(environment, i.InternalId, i.Due))).Select(m => (storage.DueQueueName, m.Body, m.Due))], time, ct);
        foreach (var item in items) Expect(item.Due);
    }

    private async Task UpsertAsync(IEnumerable<TableEntity> rows, CancellationToken ct)
    {
        foreach (var chunk in rows.GroupBy(r => r.PartitionKey).SelectMany(g => g.Chunk(100)))
        {
            await storage.Schedule.SubmitTransactionAsync(chunk.Select(r => new TableTransactionAction(TableTransactionActionType.UpsertReplace, r)), ct);
        }
    }

    /// <summary>The release job for parked events: those now within the horizon get their due
    /// marker; the parked row goes. The 16 buckets of parked rows are read four at a time, each a page of rows
    /// at a time (a row holds a request's events of one due second): the markers are sent in parallel, the index
    /// rows and the parked rows then change in transactions of up to 100, so the release keeps pace with the queue
    /// rather than with round trips.
    /// Each bucket stops after the page during which <paramref name="budget"/> passed; what is left is
    /// found by the next run (released rows are gone). With nothing to move it costs one query per bucket.</summary>
    public async Task<int> ReleaseParkedAsync(TimeSpan budget, CancellationToken ct, int pageSize = ReleasePage)
    {
        await storage.EnsureCreatedAsync(ct);
        var started = time.GetTimestamp();
        var limit = Now + (long)_horizon.TotalMilliseconds;
        var lastDay = ScheduleIndex.Day(limit);
        var ranges = Enumerable.Range(0, ScheduleIndex.ParkedBuckets)
            .Select(bucket => ScheduleIndex.ParkedBucketPrefix(bucket))
            .Select(prefix => TableClient.CreateQueryFilter($"PartitionKey ge {prefix} and PartitionKey le {prefix + lastDay} and Due le {limit}"))
            // Rows parked by earlier versions, ~parked|{day}.
            .Append(TableClient.CreateQueryFilter($"PartitionKey ge {ScheduleIndex.ParkedPrefix + "2"} and PartitionKey le {ScheduleIndex.ParkedPrefix + lastDay} and Due le {limit}"));
        var moved = 0;
        // A few buckets at a time: each range query is a scan of its own, and more at once only queue up
        // behind each other in the storage service (on Azurite, past the operation timeout).
        await Parallel.ForEachAsync(ranges, new ParallelOptions { MaxDegreeOfParallelism = ParkedBucketsAtOnce, CancellationToken = ct }, async (filter, token) =>
            Interlocked.Add(ref moved, await ReleaseParkedRangeAsync(filter, started, budget, pageSize, token)));
        return moved;
    }

    private async Task<int> ReleaseParkedRangeAsync(string filter, long started, TimeSpan budget, int pageSize, CancellationToken ct)
    {
        var moved = 0;
        Task finishing = Task.CompletedTask; // the previous page's table work, overlapping this page's sends
        try
        {
            await foreach (var page in storage.Schedule.QueryAsync<TableEntity>(filter, maxPerPage: pageSize, cancellationToken: ct).AsPages())
            {
                var rows = page.Values.SelectMany(parked =>
                {
                    var (events, legacy) = ScheduleIndex.ParkedEvents(parked);
                    return events.Select(e => (e.Environment, e.InternalId, e.Due, Legacy: legacy));
                }).ToList();
                // Markers first: a crash after them leaves parked rows that release again, and a second
                // marker for the same due time releases nothing twice. A marker for a cancelled or
                // rescheduled event is stale and releases nothing.
                try
                {
                    await queue.SendDelayedAsync([.. DueMarker.Group(rows.Select(r => new DueMarker(r.Environment, r.InternalId, r.Due))).Select(m => (storage.DueQueueName, m.Body, m.Due))], time, ct);
                }
                finally
                {
                    await finishing; // never left running, whatever the sends did
                }
                foreach (var r in rows) Expect(r.Due);
                // Then the index rows say "queued" and the parked rows go, while the next page's markers are sent.
                finishing = Task.WhenAll(
                    ChangeInTransactionsAsync(
                        rows.Select(r =>
                        {
                            var (pk, rk) = r.Legacy ? ScheduleIndex.LegacyKeyFor(r.Environment, r.Due, r.InternalId) : ScheduleIndex.KeyFor(r.Environment, r.Due, r.InternalId);
                            return new TableEntity(pk, rk) { ["State"] = ScheduleIndex.Queued };
                        }),
                        TableTransactionActionType.UpdateMerge, ct),
                    ChangeInTransactionsAsync(page.Values.Select(r => new TableEntity(r.PartitionKey, r.RowKey)), TableTransactionActionType.Delete, ct));
                moved += rows.Count;
                if (time.GetElapsedTime(started) >= budget) break;
            }
        }
        finally
        {
            await finishing;
        }
        return moved;
    }

    private const int ReleasePage = 1000;
    private const int ParkedBucketsAtOnce = 4;

    // Schedule transactions in flight from this instance, every bucket of a release together: 16
    // buckets each with their own page's transactions would put hundreds of 100-entity transactions
    // on the storage service at once and push some past the operation timeout.
    private readonly SemaphoreSlim _transactionSlots = new(8, 8);

    /// <summary>Merges into or deletes schedule rows, up to 100 of a partition per transaction. A row
    /// gone meanwhile (a cancel, a reschedule or a racing pass tidied it) fails its transaction as a
    /// whole; that chunk is then done row by row, where a missing row is no error.</summary>
    private async Task ChangeInTransactionsAsync(IEnumerable<TableEntity> rows, TableTransactionActionType action, CancellationToken ct)
    {
        var chunks = rows.GroupBy(r => r.PartitionKey).SelectMany(g => g.Chunk(100)).ToList();
        await Parallel.ForEachAsync(chunks, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (chunk, token) =>
        {
            await _transactionSlots.WaitAsync(token);
            try
            {
                await QuietRows.ChangeAsync(storage.Schedule, chunk, action, token);
            }
            finally
            {
                _transactionSlots.Release();
            }
        });
    }

    /// <summary>
    /// Receives due markers and releases their events until <paramref name="budget"/> has passed
    /// (or at once, with <see cref="TimeSpan.Zero"/>, after one pass over what is visible).
    /// An idle queue is polled less and less often, from <paramref name="idlePause"/> up to eight
    /// times it, except around the due times of markers this instance sent (a receive is cheap on
    /// Azure, but on Azurite its cost grows with every message stored, so a steady fast poll slowed
    /// large requests down). Returns the events released.
    /// </summary>
    public async Task<int> ReleaseDueAsync(TimeSpan budget, TimeSpan idlePause, CancellationToken ct)
    {
        await storage.EnsureCreatedAsync(ct);
        var due = await storage.ReadyQueueAsync(storage.DueQueueName, ct);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var released = 0;
        var backoff = idlePause;
        while (true)
        {
            QueueMessage[] markers = (await due.ReceiveMessagesAsync(ReceiveBatch, _lease, ct)).Value;
            await Parallel.ForEachAsync(markers, new ParallelOptions { MaxDegreeOfParallelism = ReceiveBatch, CancellationToken = ct }, async (marker, token) =>
            {
                try
                {
                    Interlocked.Add(ref released, await ReleaseAsync(marker, token));
                }
                catch (Exception ex) when (StorageErrors.IsTransient(ex) && !token.IsCancellationRequested)
                {
                    // The marker becomes visible again when its lease ends, and the release is retried.
                    logger.LogWarning(ex, "Releasing a scheduled event failed; retried when its marker is visible again");
                }
            });
            if (watch.Elapsed >= budget) return released;
            if (markers.Length == ReceiveBatch) continue;
            backoff = markers.Length > 0 ? idlePause : TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, idlePause.Ticks * 8));
            await Task.Delay(NextPoll(backoff, idlePause), time, ct);
        }
    }

    // Due times of markers this instance sent, so the poll is quick when one falls due (bounded:
    // past the bound, markers are found by the slower idle poll).
    private readonly SortedSet<long> _expected = [];
    private readonly Lock _expectedGate = new();

    private void Expect(long due)
    {
        lock (_expectedGate)
        {
            if (_expected.Count < 10_000) _expected.Add(due);
        }
    }

    /// <summary>The idle pause, shortened to the next expected due time; the quick pause while an
    /// expected marker may be becoming visible (up to a second after its due time, visibility being
    /// whole seconds).</summary>
    private TimeSpan NextPoll(TimeSpan backoff, TimeSpan quick)
    {
        var now = Now;
        lock (_expectedGate)
        {
            while (_expected.Count > 0 && _expected.Min < now - 1_500) _expected.Remove(_expected.Min);
            if (_expected.Count == 0) return backoff;
            var next = _expected.Min;
            if (next <= now) return quick;
            return TimeSpan.FromMilliseconds(Math.Min(backoff.TotalMilliseconds, next - now));
        }
    }

    /// <summary>Releases the events a marker carries and deletes it. A marker seen before its time is put back
    /// until then. For a marker of one event held by another release, the marker waits for that release's lease;
    /// in a group, such an event gets a marker of its own for then, and the others go on. If a release fails, the
    /// marker stays and comes back after its lease: events already released are then stale and skipped.</summary>
    private async Task<int> ReleaseAsync(QueueMessage marker, CancellationToken ct)
    {
        var due = await storage.ReadyQueueAsync(storage.DueQueueName, ct);
        if (DueMarker.ParseAll(marker.Body) is not { } items)
        {
            logger.LogWarning("Dropped an unreadable due marker {MessageId}", marker.MessageId);
            await DeleteMarkerAsync(due, marker, ct);
            return 0;
        }
        var wait = items.Max(i => i.Due) - Now;
        if (wait > 0)
        {
            // Visible before its time (a clock behind the queue's, or a marker re-timed): wait again.
            await DelayMarkerAsync(due, marker, TimeSpan.FromMilliseconds(wait), ct);
            return 0;
        }

        if (items.Count == 1)
        {
            var (released, heldFor) = await ReleaseOneAsync(items[0], ct);
            if (heldFor is { } left)
            {
                await DelayMarkerAsync(due, marker, left, ct);
                return 0;
            }
            await DeleteMarkerAsync(due, marker, ct);
            return released ? 1 : 0;
        }

        var count = 0;
        await Parallel.ForEachAsync(items, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (item, token) =>
        {
            var (released, heldFor) = await ReleaseOneAsync(item, token);
            if (heldFor is { } left)
            {
                var at = Now + (long)left.TotalMilliseconds;
                await queue.SendDelayedAsync([(storage.DueQueueName, DueMarker.Build(item.Environment, item.InternalId, item.Due), at)], time, token);
            }
            if (released) Interlocked.Increment(ref count);
        });
        await DeleteMarkerAsync(due, marker, ct);
        return count;
    }

    /// <summary>Releases one due event: takes its record (<c>releasing</c>, conditional), sends its envelope to its
    /// queues, marks it <c>released</c>. Nothing happens for a record that is not scheduled for exactly this due time
    /// (stale); <c>HeldFor</c> is set when another release holds it, for the rest of that release's lease.</summary>
    private async Task<(bool Released, TimeSpan? HeldFor)> ReleaseOneAsync(DueMarker m, CancellationToken ct)
    {
        var releaser = Guid.NewGuid().ToString("N");
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var record = await GetAsync(storage.Events, RecordKeys.Partition(m.Environment, m.InternalId), RecordKeys.Row(m.InternalId), ct);
            var state = record?.State;
            if (record is null || record.Due != m.Due || state is not (RecordState.Scheduled or RecordState.Releasing)) return (false, null); // stale
            var ours = record.Releaser == releaser; // our take landed, its answer was lost
            if (!ours && state == RecordState.Releasing && record.ReleasingSince is { } since && Now - since < _lease.TotalMilliseconds)
            {
                // Another release holds it; look again once its lease is over.
                return (false, TimeSpan.FromMilliseconds(_lease.TotalMilliseconds - (Now - since)));
            }
            var held = record.ETag;
            if (!ours)
            {
                var take = record.ReleaseTake(Now, releaser);
                try
                {
                    held = (await storage.Events.UpdateEntityAsync(take, record.ETag, TableUpdateMode.Merge, ct)).Headers.ETag ?? ETag.All;
                }
                catch (RequestFailedException ex) when (ex.Status is 412 or 404)
                {
                    continue; // cancelled, rescheduled or taken meanwhile (or our own take, retried): look again
                }
            }
            await queue.SendRecordAsync(m.Environment, record, ct);
            metrics.Released(m.Environment, TimeSpan.FromMilliseconds(Now - m.Due));
            try
            {
                await storage.Events.UpdateEntityAsync(record.StateChange(RecordState.Released), held, TableUpdateMode.Merge, ct);
            }
            catch (RequestFailedException ex) when (ex.Status is 412 or 404)
            {
                // Our own update retried after it landed, or a release that took over after our lease.
            }
            await DeleteIndexQuietlyAsync(m.Environment, m.Due, m.InternalId, ct);
            return (true, null);
        }
        return (false, null);
    }

    // A marker held past its lease may have been received again meanwhile: its pop receipt is then
    // stale (404/400), and the release that holds it now decides.
    private static async Task DeleteMarkerAsync(QueueClient due, QueueMessage marker, CancellationToken ct)
    {
        try
        {
            await due.DeleteMessageAsync(marker.MessageId, marker.PopReceipt, ct);
        }
        catch (RequestFailedException ex) when (ex.Status is 404 or 400)
        {
        }
    }

    private static async Task DelayMarkerAsync(QueueClient due, QueueMessage marker, TimeSpan delay, CancellationToken ct)
    {
        try
        {
            await due.UpdateMessageAsync(marker.MessageId, marker.PopReceipt, visibilityTimeout: EventQueue.VisibilityDelay(delay), cancellationToken: ct);
        }
        catch (RequestFailedException ex) when (ex.Status is 404 or 400)
        {
        }
    }

    /// <summary>Cancels a scheduled event not yet released: one conditional update of its record.
    /// Answered <see cref="ScheduleChange.Done"/>, the event is never delivered.</summary>
    public async Task<ScheduleChange> CancelAsync(string environment, string internalId, CancellationToken ct)
    {
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var (record, verdict) = await LoadScheduledAsync(environment, internalId, ct);
            if (verdict != ScheduleChange.Done) return verdict;
            try
            {
                await storage.Events.UpdateEntityAsync(record!.StateChange(RecordState.Cancelled), record.ETag, TableUpdateMode.Merge, ct);
            }
            catch (RequestFailedException ex) when (ex.Status is 412 or 404)
            {
                // Changed meanwhile, or our own update retried after it landed: look again.
                if ((await LoadScheduledAsync(environment, internalId, ct)).Verdict == ScheduleChange.Cancelled) break;
                continue;
            }
            var due = record.Due!.Value;
            await TidyAsync(environment, due, internalId, ScheduleIndex.Cancelled, ct);
            return ScheduleChange.Done;
        }
        var now = await LoadScheduledAsync(environment, internalId, ct);
        return now.Verdict == ScheduleChange.Cancelled ? ScheduleChange.Done : ScheduleChange.Conflict;
    }

    /// <summary>Moves a scheduled event not yet released to a new time: a marker for the new time
    /// first, then <c>Due</c>, <c>Ts</c> and the envelope in one conditional update of the record,
    /// then a second marker if the new time was due by then. Until that update the old time holds;
    /// after it the new one, and no other.</summary>
    public async Task<ScheduleChange> RescheduleAsync(string environment, string internalId, long newTs, CancellationToken ct)
    {
        var (record, verdict) = await LoadScheduledAsync(environment, internalId, ct);
        if (verdict != ScheduleChange.Done) return verdict;
        var oldDue = record!.Due!.Value;

        var envelope = await large.ReadAsync(record, ct);
        var updated = EventMessage.WithTs(envelope, newTs);
        var blob = record.Blob;
        if (blob is not null) blob = await large.StoreAsync(environment, internalId, ScheduleIndex.Due(newTs), updated, ct);
        var item = new ScheduledItem(internalId, record.Name, record.Id, newTs, record.PartitionKey);
        await PlaceAsync(environment, [item], ct);

        // From the move on, a client that hangs up stops nothing: an update cancelled in flight may
        // still land, and the event then needs what follows.
        var finish = CancellationToken.None;
        var change = record.Move(newTs, updated, blob);
        try
        {
            await storage.Events.UpdateEntityAsync(change, record.ETag, TableUpdateMode.Merge, finish);
        }
        catch (RequestFailedException ex) when (ex.Status is 412 or 404)
        {
            var (now, nowVerdict) = await LoadScheduledAsync(environment, internalId, finish);
            if (nowVerdict != ScheduleChange.Done || now!.Due != newTs)
            {
                // Released, cancelled or moved by someone else: the marker just sent is stale.
                if (oldDue != newTs) await DeleteIndexQuietlyAsync(environment, newTs, internalId, finish);
                return nowVerdict == ScheduleChange.Done ? ScheduleChange.Conflict : nowVerdict;
            }
            // Our own update, retried by the SDK after it had landed.
        }
        // The new time's marker went out before the record moved. If it was visible by now (a time
        // already due, or a slow update), a release may have met it while the record still held the
        // old time, taken it for stale and deleted it: send another. A repeated marker is harmless.
        if (Now + MarkerVisibleEarly >= newTs) await SendMarkersAsync(environment, [item], finish);
        if (oldDue != newTs) await TidyAsync(environment, oldDue, internalId, null, finish);
        return ScheduleChange.Done;
    }

    /// <summary>Pending scheduled events of an environment in due order, after the cursor (the last index
    /// row key listed, after a <c>#</c>). The buckets are read at once, each in due order from the cursor, and
    /// merged. Each index row is checked against its record, so a row left behind by an interrupted cancel or
    /// reschedule is never listed.</summary>
    public async Task<(List<TableEntity> Items, string? Next)> ListPendingAsync(string environment, long? dueBefore, int limit, string? cursor, CancellationToken ct)
    {
        await storage.EnsureCreatedAsync(ct);
        var now = Now;
        var afterRow = cursor is null ? "" : cursor[(cursor.IndexOf('#', StringComparison.Ordinal) + 1)..];
        // A row key starts with the 13-digit due time: rows after the cursor are due on its day or later.
        var from = afterRow.Length >= 13 && long.TryParse(afterRow.AsSpan(0, 13), System.Globalization.CultureInfo.InvariantCulture, out var after) ? Math.Max(after, now) : now;
        var before = dueBefore ?? long.MaxValue;
        var ranges = await Task.WhenAll(ScheduleIndex.IndexRanges(environment, ScheduleIndex.Day(from)).Select(async range =>
        {
            var filter = TableClient.CreateQueryFilter(
                $"PartitionKey ge {range.From} and PartitionKey lt {range.Until} and RowKey gt {afterRow} and State ne {ScheduleIndex.Cancelled} and Due gt {now} and Due lt {before}");
            var found = new List<TableEntity>(limit);
            await foreach (var page in storage.Schedule.QueryAsync<TableEntity>(filter, maxPerPage: limit, cancellationToken: ct).AsPages())
            {
                found.AddRange(page.Values.Take(limit - found.Count));
                if (found.Count == limit) break;
            }
            return found;
        }));
        var merged = ranges.SelectMany(r => r).OrderBy(r => r.RowKey, StringComparer.Ordinal).ToList();
        var rows = merged.Take(limit).ToList();
        // More may follow when the merge had more than a page, or when a bucket filled its share.
        var next = merged.Count > limit || ranges.Any(r => r.Count == limit) ? $"{environment}|{ScheduleIndex.Day(rows[^1].GetInt64("Due")!.Value)}#{rows[^1].RowKey}" : null;
        var current = new bool[rows.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, rows.Count), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = ct }, async (i, token) =>
        {
            var internalId = ScheduleIndex.InternalIdOf(rows[i]);
            var record = await GetAsync(storage.Events, RecordKeys.Partition(environment, internalId), RecordKeys.Row(internalId), token);
            current[i] = record?.State == RecordState.Scheduled && record.Due == rows[i].GetInt64("Due");
        });
        return ([.. rows.Where((_, i) => current[i])], next);
    }

    /// <summary>Puts a scheduled record's marker (and index row) in place again, for the repair job.
    /// A repeated marker is harmless: only the record decides what is released.</summary>
    public Task EnsurePlacedAsync(string environment, EventRecord record, CancellationToken ct) =>
        PlaceAsync(environment, [new ScheduledItem(record.InternalId, record.Name, record.Id, record.Due!.Value, record.PartitionKey)], ct);

    private async Task<(EventRecord? Record, ScheduleChange Verdict)> LoadScheduledAsync(string environment, string internalId, CancellationToken ct)
    {
        await storage.EnsureCreatedAsync(ct);
        var record = await GetAsync(storage.Events, RecordKeys.Partition(environment, internalId), RecordKeys.Row(internalId), ct);
        return record?.State switch
        {
            null or RecordState.Void => (null, ScheduleChange.NotFound),
            RecordState.Scheduled => (record, ScheduleChange.Done),
            RecordState.Cancelled => (record, ScheduleChange.Cancelled),
            RecordState.Releasing or RecordState.Released => (record, ScheduleChange.Released),
            _ => (record, ScheduleChange.NotScheduled),
        };
    }

    /// <summary>After a cancel or a reschedule: the old index row is marked (or removed) and a parked
    /// row removed. Best effort: what stays behind is stale and is skipped by listing and release.</summary>
    private async Task TidyAsync(string environment, long due, string internalId, string? indexState, CancellationToken ct)
    {
        try
        {
            if (indexState is null) await DeleteIndexQuietlyAsync(environment, due, internalId, ct);
            else
            {
                var (ipk, irk) = ScheduleIndex.KeyFor(environment, due, internalId);
                if (!await QuietRows.MergeAsync(storage.Schedule, new TableEntity(ipk, irk) { ["State"] = indexState }, ct))
                {
                    (ipk, irk) = ScheduleIndex.LegacyKeyFor(environment, due, internalId);
                    await QuietRows.MergeAsync(storage.Schedule, new TableEntity(ipk, irk) { ["State"] = indexState }, ct);
                }
            }
            var (pk, rk) = ScheduleIndex.ParkedKeyFor(environment, due, internalId);
            await QuietRows.DeleteAsync(storage.Schedule, new TableEntity(pk, rk), ct);
        }
        catch (Exception ex) when (StorageErrors.IsTransient(ex) && !ct.IsCancellationRequested)
        {
            logger.LogWarning(ex, "Could not tidy the schedule rows of {InternalId}; they are stale and skipped", internalId);
        }
    }

    /// <summary>Removes an event's index row, or the row an earlier version wrote when there is none in the
    /// current layout (one more request, for those events only).</summary>
    private async Task DeleteIndexQuietlyAsync(string environment, long due, string internalId, CancellationToken ct)
    {
        var (pk, rk) = ScheduleIndex.KeyFor(environment, due, internalId);
        if (await QuietRows.DeleteAsync(storage.Schedule, new TableEntity(pk, rk), ct)) return;
        (pk, rk) = ScheduleIndex.LegacyKeyFor(environment, due, internalId);
        await QuietRows.DeleteAsync(storage.Schedule, new TableEntity(pk, rk), ct);
    }

    private static async Task<EventRecord?> GetAsync(TableClient table, string pk, string rk, CancellationToken ct)
    {
        var response = await table.GetEntityIfExistsAsync<TableEntity>(pk, rk, cancellationToken: ct);
        return response.HasValue ? EventRecord.FromEntity(response.Value!) : null;
    }
}

/// <summary>The body of a due marker: which event, in which environment, for which due time. A marker may
/// also carry several events due in the same second (<see cref="Group"/>): <c>{"events":[…]}</c>, one queue
/// message for all of them.</summary>
internal sealed record DueMarker(string Environment, string InternalId, long Due)
{
    /// <summary>Events per grouped marker at most.</summary>
    public const int MaxGroup = 400;

    /// <summary>Bytes of a grouped marker at most, well under the 48,000 a queue message holds before base64 (and the
    /// 64 KiB of a table property, where a parked row keeps it): an event takes 82 bytes plus its environment's name,
    /// so 400 fit with names up to 18 characters, and about 270 with the longest (64).</summary>
    public const int MaxGroupBytes = 40_000;

    public static byte[] Build(string environment, string internalId, long due) =>
        JsonSerializer.SerializeToUtf8Bytes(new DueMarker(environment, internalId, due), DueMarkerContext.Default.DueMarker);

    /// <summary>Markers for <paramref name="items"/>: one per whole second of due time (queue visibility is whole
    /// seconds, so they would become visible together anyway) and up to <see cref="MaxGroup"/> events or
    /// <see cref="MaxGroupBytes"/>, each with the latest due time it carries.</summary>
    public static IEnumerable<(byte[] Body, long Due)> Group(IEnumerable<DueMarker> items) =>
        Chunks(items).Select(chunk => chunk.Count == 1
            ? (Build(chunk[0].Environment, chunk[0].InternalId, chunk[0].Due), chunk[0].Due)
            : (JsonSerializer.SerializeToUtf8Bytes(new DueMarkerGroup([.. chunk]), DueMarkerContext.Default.DueMarkerGroup), chunk.Max(i => i.Due)));

    /// <summary>The events of each marker <see cref="Group"/> makes, in order.</summary>
    public static IEnumerable<List<DueMarker>> Chunks(IEnumerable<DueMarker> items)
    {
        foreach (var second in items.GroupBy(i => (i.Due + 999) / 1000))
        {
            var chunk = new List<DueMarker>();
            var bytes = 0;
            foreach (var item in second)
            {
                var size = 82 + item.Environment.Length + item.InternalId.Length - 26;
                if (chunk.Count == MaxGroup || (chunk.Count > 0 && bytes + size > MaxGroupBytes))
                {
                    yield return chunk;
                    chunk = [];
                    bytes = 0;
                }
                chunk.Add(item);
                bytes += size;
            }
            if (chunk.Count > 0) yield return chunk;
        }
    }

    /// <summary>The events a marker carries: one, or a group; null for a body that is neither.</summary>
    public static IReadOnlyList<DueMarker>? ParseAll(BinaryData body)
    {
        try
        {
            var group = JsonSerializer.Deserialize(body.ToMemory().Span, DueMarkerContext.Default.DueMarkerGroup);
            if (group?.Events is { Length: > 0 } events) return events.All(e => e is { Environment: not null, InternalId: not null }) ? events : null;
            var one = JsonSerializer.Deserialize(body.ToMemory().Span, DueMarkerContext.Default.DueMarker);
            return one is { Environment: not null, InternalId: not null } ? [one] : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>A marker for several events due in the same second.</summary>
internal sealed record DueMarkerGroup(DueMarker[] Events);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower)]
[System.Text.Json.Serialization.JsonSerializable(typeof(DueMarker))]
[System.Text.Json.Serialization.JsonSerializable(typeof(DueMarkerGroup))]
internal sealed partial class DueMarkerContext : System.Text.Json.Serialization.JsonSerializerContext;
