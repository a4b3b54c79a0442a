using EventIngest.Ids;

namespace EventIngest.Storage;

/// <summary>One attempt of one request, as the tables see it: the rows it writes carry its nonce (a record's
/// <c>Writer</c>, a claim's), its records share <see cref="RecordPartition"/>, and its outbox row is in
/// <see cref="OutboxPartition"/>. With <see cref="Seed"/> and <see cref="EventCount"/> it names every id it may write.</summary>
internal sealed record RequestAttempt(string Environment, string Nonce, long ReceivedAt, IdSeed Seed, int EventCount, string OutboxPartition, string RecordPartition);

/// <summary>How an event is protected against being stored twice.</summary>
internal enum KeyKind
{
    /// <summary>No seed header and no <c>id</c>: every send is a new event.</summary>
    None,
    /// <summary>The seed-derived internal id is the key; the event record itself is the claim.</summary>
    Seed,
    /// <summary>The caller's <c>id</c> is the key; a claim row in the idempotency table points at the winner.</summary>
    Caller,
}

/// <summary>A record to write: the event's position in its request (for the answer), the record, how it is keyed.</summary>
internal readonly record struct RecordWrite(int Index, EventRecord Record, KeyKind Key);

/// <summary>What writing a record came to.</summary>
internal enum RecordWritten
{
    /// <summary>This attempt wrote it (or took over a void record, or its own insert was retried).</summary>
    Written,
    /// <summary>An earlier attempt wrote the same caller-keyed event; its claim decides.</summary>
    Existed,
    /// <summary>An earlier attempt wrote the same seed-keyed event: this one is its duplicate.</summary>
    Duplicate,
}

/// <summary>A caller key (<see cref="EventRecord.Id"/>) to claim for a record, and what writing the record came to.</summary>
internal readonly record struct KeyClaim(int Index, EventRecord Record, RecordWritten Written);
