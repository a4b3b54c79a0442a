using System.Diagnostics;
using System.Runtime.InteropServices;
using EventIngest.Encryption;
using EventIngest.Scheduling;
using EventIngest.Storage;
using Microsoft.Extensions.Options;

namespace EventIngest.Ingest;

/// <summary>
/// Seals each event's <c>user</c>, then stores and enqueues the validated events of one request:
/// outbox row → large envelopes to blobs → records (seed-keyed ones claim their key) →
/// caller-key claims → queue messages (scheduled ones delayed or parked) → answer; the outbox row
/// is removed afterwards, off the request's path (see <see cref="Outbox"/>).
/// Once the outbox row exists, a crash at any later point is finished by <see cref="OutboxRepair"/>,
/// so an acknowledged event always reaches its queue. See docs/architecture.md.
/// </summary>
public sealed class IngestPipeline(
    StorageAccount storage,
    Outbox outbox,
    EventStore store,
    EventQueue queue,
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

    public async Task<IReadOnlyList<EventOutcome>> IngestAsync(string environment, IdSeed? headerSeed, IReadOnlyList<ParsedEvent> events, long receivedAt, CancellationToken ct)
    {
        if (events.Count == 0) return [];
        var started = Stopwatch.StartNew();
        await storage.EnsureCreatedAsync(ct);

        var batch = await PrepareAsync(environment, headerSeed ?? IdSeed.Random(receivedAt), events, receivedAt, ct);

        await outbox.OpenAsync(batch, ct);
        await queue.StoreLargeAsync(environment, batch.Events.Where(e => !e.IsDuplicate), ct);
        CheckDeadline(started);
        await store.WriteRecordsAsync(batch, ct);
        await store.ClaimKeysAsync(batch, ct);
        CheckDeadline(started);

        var accepted = batch.Events.Where(e => !e.IsDuplicate).ToList();
        await Task.WhenAll(
            queue.SendAsync(environment, accepted.Where(e => e.Due is null), ct),
            scheduler.PlaceAsync(environment, accepted.Where(e => e.Due is not null).Select(e => ToScheduled(batch, e)).ToList(), ct));

        // Everything is on its queues: the answer goes out now, the outbox row is removed after it.
        outbox.Finish(batch);

        var outcomes = new EventOutcome[batch.Events.Count];
        foreach (var e in batch.Events) outcomes[e.Index] = e.ToOutcome();
        return outcomes;
    }

    private ScheduledItem ToScheduled(IngestBatch batch, PendingEvent e) =>
        new(e.InternalId, e.Name, e.Id, e.Due!.Value, batch.RecordPartition, e.Queues,
            queue.MessageFor(batch.Environment, e.InternalId, e.Name, e.Message, e.BlobName, e.Message.Length));

    private async Task<IngestBatch> PrepareAsync(string environment, IdSeed seed, IReadOnlyList<ParsedEvent> events, long receivedAt, CancellationToken ct)
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
        var sealedUsers = await protector.SealBatchAsync(environment, toSeal, ct);

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
                Queues = router.QueuesFor(e.Name),
                Message = stored ? EventMessage.Build(internalIds[i], environment, e, sealedUsers[sealedIndex++], receivedAt) : [],
                SameKeyAs = stored ? null : pending[sameKeyAs[i]],
            };
        }

        return new IngestBatch
        {
            Environment = environment,
            Nonce = Ulid.NewUlid(receivedAt),
            ReceivedAt = receivedAt,
            RecordPartition = RecordKeys.Partition(environment, pending[0].InternalId),
            Events = pending,
        };
    }

    private void CheckDeadline(Stopwatch started)
    {
        if (started.Elapsed > _deadline)
        {
            throw new StorageUnavailableException($"The request took longer than {_deadline.TotalSeconds:0} s; the repair job completes what was written.");
        }
    }
}
