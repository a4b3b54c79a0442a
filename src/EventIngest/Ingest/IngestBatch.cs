using EventIngest.Ids;
using EventIngest.Storage;

namespace EventIngest.Ingest;

internal enum Outcome
{
    Accepted,
    Scheduled,
    Duplicate,
}

/// <summary>What the caller is told about one event: its internal id (the original's for a
/// duplicate), the outcome and, when scheduled, when it is due.</summary>
internal readonly record struct EventReceipt(string Id, Outcome Outcome, long? Due);

/// <summary>One event on its way through the pipeline.</summary>
internal sealed class PendingEvent
{
    public required int Index { get; init; }
    public required string InternalId { get; init; }
    public required string Name { get; init; }
    public string? Id { get; init; }
    public required long Ts { get; init; }
    public string? V { get; init; }
    /// <summary>Set for a scheduled event: the time it becomes deliverable.</summary>
    public long? Due { get; init; }
    public required KeyKind Key { get; init; }
    public required IReadOnlyList<string> Queues { get; init; }
    /// <summary>The queue envelope (see <see cref="Storage.EventMessage"/>).</summary>
    public required byte[] Message { get; init; }
    /// <summary>What makes a retry the same event (<see cref="EventFingerprint"/>).</summary>
    public required byte[] Fingerprint { get; init; }
    /// <summary>The event's record, once its envelope is stored (inline, or as a blob: <see cref="LargeEnvelopes"/>).</summary>
    public EventRecord? Record { get; set; }

    /// <summary>What writing the record came to (<see cref="EventStore.WriteRecordsAsync"/>).</summary>
    public RecordWritten Written { get; set; }
    /// <summary>Set when the event is a duplicate: the internal id of the event that won.</summary>
    public string? DuplicateOf { get; set; }
    /// <summary>An earlier event of the same request with the same <c>id</c>.</summary>
    public PendingEvent? SameKeyAs { get; init; }

    public bool IsDuplicate => DuplicateOf is not null || SameKeyAs is not null;

    public EventReceipt ToOutcome()
    {
        if (SameKeyAs is { } first) return new EventReceipt(first.ToOutcome().Id, Outcome.Duplicate, null);
        if (DuplicateOf is { } original) return new EventReceipt(original, Outcome.Duplicate, null);
        return Due is { } due ? new EventReceipt(InternalId, Outcome.Scheduled, due) : new EventReceipt(InternalId, Outcome.Accepted, null);
    }
}

/// <summary>The events of one request, and what identifies the request in the outbox.</summary>
internal sealed class IngestBatch
{
    public required string Environment { get; init; }
    /// <summary>Unique per request attempt: records carry it so the repair job finds what this attempt wrote.</summary>
    public required string Nonce { get; init; }
    public required long ReceivedAt { get; init; }
    /// <summary>The seed of the internal ids: with the event count it names every id the request may write.</summary>
    public required IdSeed Seed { get; init; }
    /// <summary>The outbox partition of the request's row; records name it, so a reader can tell whether the request is still in flight.</summary>
    public required string OutboxPartition { get; init; }
    /// <summary>The record partition: all ids of one seed share their first 19 characters.</summary>
    public required string RecordPartition { get; init; }
    public required IReadOnlyList<PendingEvent> Events { get; init; }

    private RequestAttempt? _attempt;

    /// <summary>The request attempt as storage and the outbox know it.</summary>
    public RequestAttempt Attempt => _attempt ??= new(Environment, Nonce, ReceivedAt, Seed, Events.Count, OutboxPartition, RecordPartition);
}
