using System.Diagnostics;
using System.Runtime.InteropServices;
using EventIngest.Encryption;
using EventIngest.Scheduling;
using EventIngest.Storage;
using EventIngest.Telemetry;
using Microsoft.Extensions.Options;
using EventIngest.Delivery;
using EventIngest.Ids;

namespace EventIngest.Ingest;

/// <summary>
/// Seals each event's <c>user</c>, then stores and enqueues the validated events of one request:
/// outbox row → large envelopes to blobs → records (seed-keyed ones claim their key) →
/// caller-key claims → queue messages (scheduled ones as due markers or parked), whose progress
/// is noted on the outbox row → answer; the outbox row is removed afterwards, off the
/// request's path (see <see cref="Outbox"/>).
/// Once the outbox row exists, a crash at any later point is finished by <see cref="OutboxRepair"/>,
/// so an acknowledged event always reaches its queue. See docs/architecture.md.
/// </summary>
internal sealed class IngestPipeline(
    StorageAccount storage,
    Outbox outbox,
    EventStore store,
    EventQueue queue,
    LargeEnvelopes large,
    Scheduler scheduler,
    UserDataProtector protector,
    QueueRouter router,
    IOptions<IngestOptions> options,
    IOptions<RepairOptions> repairOptions)
{
    private readonly IngestOptions _options = options.Value;
    // The request must have written everything it acknowledges well before the repair job may
    // take its outbox row over; past this it gives up with 503 and the repair finishes the work.
    private readonly TimeSpan _deadline = repairOptions.Value.RepairAfter / 2;

    /// <param name="traceParent">The request's W3C trace context, carried in each of its messages so a consumer continues the trace.</param>
    /// <param name="requestAborted">The client hung up. Honoured only until the outbox row is written:
    /// from then on the request finishes what it started (or stops at its deadline, leaving the
    /// rest to the repair job), so a client that goes away never leaves a half-sent request behind.</param>
    public async Task<IReadOnlyList<EventReceipt>> IngestAsync(string environment, IdSeed? headerSeed, IReadOnlyList<ParsedEvent> events, long receivedAt, string? traceParent, CancellationToken requestAborted)
    {
        if (events.Count == 0) return [];
        var started = Stopwatch.StartNew();
        await storage.EnsureCreatedAsync(requestAborted);

        var batch = await PrepareAsync(environment, headerSeed ?? IdSeed.Random(receivedAt), events, receivedAt, traceParent, requestAborted);
        requestAborted.ThrowIfCancellationRequested();

        // Every storage call from here on stops at the deadline (not only between steps): past it the
        // repair job may take the request over, and it fences off whatever is still on its way.
        using var deadline = new CancellationTokenSource(_deadline - started.Elapsed is { Ticks: > 0 } left ? left : TimeSpan.Zero);
        var ct = deadline.Token;
        try
        {
            using (IngestActivities.StartStep(IngestActivities.Record))
            {
                await outbox.OpenAsync(batch.Attempt, ct);
                try
                {
                    var stored = batch.Events.Where(e => !e.IsDuplicate).ToList();
                    var blobs = await large.StoreAsync(environment, batch.Nonce, [.. stored.Select(e => (e.InternalId, e.Message))], ct);
                    for (var i = 0; i < stored.Count; i++) stored[i].Record = RecordOf(batch, stored[i], blobs[i]);
                    var written = await store.WriteRecordsAsync(batch.Attempt, [.. stored.Select(e => new RecordWrite(e.Index, e.Record!, e.Key))], ct);
                    for (var i = 0; i < stored.Count; i++)
                    {
                        stored[i].Written = written[i];
                        if (written[i] == RecordWritten.Duplicate) stored[i].DuplicateOf = stored[i].InternalId;
                    }
                }
                catch (SeedReusedException)
                {
                    await AbandonAsync(batch, ct);
                    throw;
                }
            }
            using (IngestActivities.StartStep(IngestActivities.Claim)) await ClaimKeysAsync(batch, ct);
            using (IngestActivities.StartStep(IngestActivities.Send)) await SendAsync(batch, ct);
        }
        catch (OperationCanceledException ex) when (deadline.IsCancellationRequested)
        {
            throw new StorageUnavailableException($"The request took longer than {_deadline.TotalSeconds:0} s; the repair job completes what was written.", ex);
        }

        // Everything is on its queues: the answer goes out now, the outbox row is removed after it.
        outbox.Finish(batch.Attempt);

        var outcomes = new EventReceipt[batch.Events.Count];
        foreach (var e in batch.Events) outcomes[e.Index] = e.ToOutcome();
        return outcomes;
    }

    /// <summary>Claims the caller keys (<c>id</c>) of the batch; losers become duplicates of the winner.</summary>
    private async Task ClaimKeysAsync(IngestBatch batch, CancellationToken ct)
    {
        var claimants = batch.Events.Where(e => e.Key == KeyKind.Caller && !e.IsDuplicate).ToList();
        if (claimants.Count == 0) return;
        var lost = await store.ClaimKeysAsync(batch.Attempt, [.. claimants.Select(e => new KeyClaim(e.Index, e.Record!, e.Written))], ct);
        foreach (var (i, holder) in lost) claimants[i].DuplicateOf = holder;
    }

    /// <summary>Scheduled events get their markers first; then every other event is sent, and
    /// whenever the events sent without a gap from the start of the request have grown by
    /// <see cref="Outbox.ProgressEvery"/>, that count is noted on the outbox row (one note at a time,
    /// while the sends go on).</summary>
    private async Task SendAsync(IngestBatch batch, CancellationToken ct)
    {
        var progress = new SendProgress(batch.Events);
        await scheduler.PlaceAsync(batch.Environment, [.. batch.Events.Where(e => !e.IsDuplicate && e.Due is not null).Select(e => ToScheduled(batch, e))], ct);
        foreach (var e in batch.Events.Where(e => e.Due is not null)) progress.Sent(e.Index);

        var toSend = batch.Events.Where(e => !e.IsDuplicate && e.Due is null).ToList();
        await queue.SendAsync(batch.Environment, [.. toSend.Select(e => e.Record!)], router.IsPacked,
            i => progress.Sent(toSend[i].Index, through => outbox.NoteProgressAsync(batch.Attempt, through, ct)), ct);
        await progress.LastNote;
    }

    /// <summary>Which events are sent, and how many from the start of the request are without a
    /// gap; starts a note of that count when it has grown by <see cref="Outbox.ProgressEvery"/> and no
    /// note is in flight.</summary>
    private sealed class SendProgress
    {
        private readonly bool[] _sent;
        private readonly Lock _gate = new();
        private int _through;
        private int _noted;

        public SendProgress(IReadOnlyList<PendingEvent> events)
        {
            _sent = new bool[events.Count];
            foreach (var e in events) _sent[e.Index] = e.IsDuplicate; // nothing to send for a duplicate
        }

        public Task LastNote { get; private set; } = Task.CompletedTask;

        public void Sent(int index, Func<int, Task>? note = null)
        {
            lock (_gate)
            {
                _sent[index] = true;
                while (_through < _sent.Length && _sent[_through]) _through++;
                if (note is null || _through == _sent.Length || _through - _noted < Outbox.ProgressEvery || !LastNote.IsCompleted) return;
                _noted = _through;
                LastNote = note(_through);
            }
        }
    }

    /// <summary>A refused request (409) takes back what it wrote; if it cannot, the repair job does.</summary>
    private async Task AbandonAsync(IngestBatch batch, CancellationToken ct)
    {
        await outbox.MarkAbandonedAsync(batch.Attempt, ct);
        await store.DeleteWrittenByAsync(batch.RecordPartition, batch.Nonce, ct);
        await outbox.DeleteAsync(batch.Attempt, ct);
    }

    /// <summary>The record of an event: the envelope inline, or the blob it was stored in.</summary>
    private static EventRecord RecordOf(IngestBatch batch, PendingEvent e, string? blob) => new()
    {
        PartitionKey = batch.RecordPartition,
        InternalId = e.InternalId,
        Name = e.Name,
        Id = e.Id,
        Ts = e.Ts,
        V = e.V,
        ReceivedAt = batch.ReceivedAt,
        State = e.Due is null ? RecordState.Pending : RecordState.Scheduled,
        Due = e.Due,
        Queues = e.Queues,
        Message = e.Message,
        Blob = blob,
        Writer = batch.Nonce,
        Outbox = batch.OutboxPartition,
        Fingerprint = e.Fingerprint,
    };

    private static ScheduledItem ToScheduled(IngestBatch batch, PendingEvent e) =>
        new(e.InternalId, e.Name, e.Id, e.Due!.Value, batch.RecordPartition);

    private async Task<IngestBatch> PrepareAsync(string environment, IdSeed seed, IReadOnlyList<ParsedEvent> events, long receivedAt, string? traceParent, CancellationToken ct)
    {
        var internalIds = new string[events.Count];
        var firstWithId = new Dictionary<string, int>(StringComparer.Ordinal);
        var sameKeyAs = new int[events.Count];
        var toSeal = new List<UserToSeal>(events.Count);
        for (var i = 0; i < events.Count; i++)
        {
            internalIds[i] = seed.IdFor(events[i].Index);
            sameKeyAs[i] = -1;
            if (events[i].Id is { } id && !firstWithId.TryAdd(id, i))
            {
                sameKeyAs[i] = firstWithId[id]; // stored once, as its first occurrence
                continue;
            }
            toSeal.Add(new UserToSeal(internalIds[i], events[i].User is { } user ? JsonMarshal.GetRawUtf8Value(user).ToArray() : "{}"u8.ToArray()));
        }

        // Sealing comes before any write: with key management down, nothing is stored.
        string[] sealedUsers;
        using (IngestActivities.StartStep(IngestActivities.Seal)) sealedUsers = await protector.SealBatchAsync(environment, toSeal, ct);

        var scheduleAfter = receivedAt + (long)_options.ClockSkew.TotalMilliseconds;
        var pending = new PendingEvent[events.Count];
        var sealedIndex = 0;
        for (var i = 0; i < events.Count; i++)
        {
            var e = events[i];
            var stored = sameKeyAs[i] < 0;
            pending[i] = new PendingEvent
            {
                Index = i,
                InternalId = internalIds[i],
                Name = e.Name,
                Id = e.Id,
                Ts = e.Ts,
                V = e.V,
                Due = e.Ts > scheduleAfter ? e.Ts : null,
                Key = e.Id is not null ? KeyKind.Caller : seed.FromHeader ? KeyKind.Seed : KeyKind.None,
                Queues = router.QueuesFor(e.Name, internalIds[i]),
                Message = stored ? e.ToMessage(internalIds[i], environment, sealedUsers[sealedIndex++], receivedAt, traceParent) : [],
                Fingerprint = stored ? EventFingerprint.Of(e) : [],
                SameKeyAs = stored ? null : pending[sameKeyAs[i]],
            };
        }

        return new IngestBatch
        {
            Environment = environment,
            Nonce = Ulid.NewUlid(receivedAt),
            ReceivedAt = receivedAt,
            Seed = seed,
            OutboxPartition = outbox.PartitionFor(receivedAt),
            RecordPartition = RecordKeys.Partition(environment, pending[0].InternalId),
            Events = pending,
        };
    }

}
