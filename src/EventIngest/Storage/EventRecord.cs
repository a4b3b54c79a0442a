using Azure;
using Azure.Data.Tables;

namespace EventIngest.Storage;

/// <summary>
/// One row of the events table: an event as ingest stored it, with its delivery state, or a void
/// record (an id fenced off by the repair). This type is the one place that knows the table's column
/// names; everything that reads or writes a record goes through it (docs/architecture.md, storage layout).
/// </summary>
internal sealed class EventRecord
{
    /// <summary>Column names of the events table.</summary>
    public static class Column
    {
        public const string Name = "Name";
        public const string Id = "Id";
        public const string Ts = "Ts";
        public const string V = "V";
        public const string ReceivedAt = "ReceivedAt";
        public const string State = "State";
        public const string Due = "Due";
        public const string Queues = "Queues";
        public const string Message = "Message";
        public const string Blob = "Blob";
        public const string Writer = "Writer";
        public const string Outbox = "Outbox";
        public const string Fingerprint = "Fingerprint";
        public const string FencedBy = "FencedBy";
        public const string ReleasingSince = "ReleasingSince";
        public const string Releaser = "Releaser";
    }

    /// <summary>What the API shows of a record (<see cref="Writer"/> and <see cref="Outbox"/> tell whether its
    /// request is still in flight).</summary>
    public static readonly IReadOnlyList<string> ViewColumns =
        ["PartitionKey", "RowKey", Column.Name, Column.Id, Column.Ts, Column.V, Column.ReceivedAt, Column.State, Column.Due,
         Column.Queues, Column.Message, Column.Blob, Column.Writer, Column.Outbox];

    /// <summary>What a writer needs to tell whose a record it collided with is.</summary>
    public static readonly IReadOnlyList<string> OwnerColumns =
        ["RowKey", Column.ReceivedAt, Column.Writer, Column.State, Column.FencedBy, Column.Fingerprint];

    public required string PartitionKey { get; init; }
    public required string InternalId { get; init; }
    public string RowKey => RecordKeys.Row(InternalId);
    public required string State { get; init; }
    /// <summary>Empty for a void record.</summary>
    public string Name { get; init; } = "";
    /// <summary>The caller's <c>id</c>, the key of its idempotency claim.</summary>
    public string? Id { get; init; }
    public long Ts { get; init; }
    public string? V { get; init; }
    public long ReceivedAt { get; init; }
    /// <summary>Set for a scheduled event: when it becomes deliverable.</summary>
    public long? Due { get; init; }
    public IReadOnlyList<string> Queues { get; init; } = [];
    /// <summary>The queue envelope. Stored in the table only when <see cref="Blob"/> is null; a record read back
    /// whose envelope is in a blob has none here (<see cref="LargeEnvelopes.ReadAsync"/> reads it).</summary>
    public byte[]? Message { get; init; }
    public string? Blob { get; init; }
    /// <summary>The nonce of the request attempt that wrote the record.</summary>
    public string? Writer { get; init; }
    /// <summary>The outbox partition of that request's row.</summary>
    public string? Outbox { get; init; }
    public byte[]? Fingerprint { get; init; }
    /// <summary>For a void record: the nonce of the request it fences off.</summary>
    public string? FencedBy { get; init; }
    public long? ReleasingSince { get; init; }
    public string? Releaser { get; init; }
    public ETag ETag { get; init; }

    /// <summary>The record of an id fenced off for the request <paramref name="nonce"/>.</summary>
    public static EventRecord Void(string partitionKey, string internalId, string nonce, long now) =>
        new() { PartitionKey = partitionKey, InternalId = internalId, State = RecordState.Void, FencedBy = nonce, ReceivedAt = now };

    public static EventRecord FromEntity(TableEntity entity) => new()
    {
        PartitionKey = entity.PartitionKey,
        InternalId = RecordKeys.InternalIdOf(entity.RowKey),
        State = entity.GetString(Column.State) ?? "",
        Name = entity.GetString(Column.Name) ?? "",
        Id = entity.GetString(Column.Id),
        Ts = entity.GetInt64(Column.Ts) ?? 0,
        V = entity.GetString(Column.V),
        ReceivedAt = entity.GetInt64(Column.ReceivedAt) ?? 0,
        Due = entity.GetInt64(Column.Due),
        Queues = entity.GetString(Column.Queues) is { Length: > 0 } queues ? queues.Split(',', StringSplitOptions.RemoveEmptyEntries) : [],
        Message = entity.GetBinary(Column.Message),
        Blob = entity.GetString(Column.Blob),
        Writer = entity.GetString(Column.Writer),
        Outbox = entity.GetString(Column.Outbox),
        Fingerprint = entity.GetBinary(Column.Fingerprint),
        FencedBy = entity.GetString(Column.FencedBy),
        ReleasingSince = entity.GetInt64(Column.ReleasingSince),
        Releaser = entity.GetString(Column.Releaser),
        ETag = entity.ETag,
    };

    public TableEntity ToEntity()
    {
        var entity = new TableEntity(PartitionKey, RowKey) { [Column.State] = State, [Column.ReceivedAt] = ReceivedAt };
        if (State == RecordState.Void)
        {
            entity[Column.FencedBy] = FencedBy;
            return entity;
        }
        entity[Column.Name] = Name;
        entity[Column.Ts] = Ts;
        entity[Column.Queues] = string.Join(',', Queues);
        if (Writer is not null) entity[Column.Writer] = Writer;
        if (Outbox is not null) entity[Column.Outbox] = Outbox;
        if (Fingerprint is not null) entity[Column.Fingerprint] = Fingerprint;
        if (Id is not null) entity[Column.Id] = Id;
        if (V is not null) entity[Column.V] = V;
        if (Due is { } due) entity[Column.Due] = due;
        if (Blob is null) entity[Column.Message] = Message;
        else entity[Column.Blob] = Blob;
        if (ReleasingSince is { } since) entity[Column.ReleasingSince] = since;
        if (Releaser is not null) entity[Column.Releaser] = Releaser;
        return entity;
    }

    /// <summary>A merge that sets the record's state alone.</summary>
    public TableEntity StateChange(string state) => new(PartitionKey, RowKey) { [Column.State] = state };

    /// <summary>A merge that takes the record for a release: <see cref="RecordState.Releasing"/>, by whom, since when.</summary>
    public TableEntity ReleaseTake(long now, string releaser) =>
        new(PartitionKey, RowKey) { [Column.State] = RecordState.Releasing, [Column.ReleasingSince] = now, [Column.Releaser] = releaser };

    /// <summary>A merge that moves a scheduled record to a new time, with its envelope rewritten for it (inline, or in a blob).</summary>
    public TableEntity Move(long due, byte[] message, string? blob)
    {
        var change = new TableEntity(PartitionKey, RowKey) { [Column.Due] = due, [Column.Ts] = due };
        if (blob is null) change[Column.Message] = message;
        else change[Column.Blob] = blob;
        return change;
    }

    /// <summary>A filter on one column, the value quoted as the table service expects.</summary>
    public static string Where(string column, string op, object value) =>
        column + " " + op + " " + TableClient.CreateQueryFilter($"{value}");

    /// <summary>The records of a partition that one request attempt wrote, in row-key order, after <paramref name="afterRow"/> if given.</summary>
    public static string WrittenBy(string partitionKey, string nonce, string? afterRow = null) =>
        afterRow is null
            ? TableClient.CreateQueryFilter($"PartitionKey eq {partitionKey}") + " and " + Where(Column.Writer, "eq", nonce)
            : TableClient.CreateQueryFilter($"PartitionKey eq {partitionKey} and RowKey gt {afterRow}") + " and " + Where(Column.Writer, "eq", nonce);
}

internal static class RecordState
{
    /// <summary>Recorded; on its queue(s) unless the request died, in which case the repair job sends it.</summary>
    public const string Pending = "pending";
    /// <summary>Held until <c>Due</c>; released only by a due marker for exactly that time (Scheduling/Scheduler.cs).</summary>
    public const string Scheduled = "scheduled";
    /// <summary>Due, and being sent to its queues by a release that holds it (<c>ReleasingSince</c>) for a lease.</summary>
    public const string Releasing = "releasing";
    /// <summary>A scheduled event sent to its queues.</summary>
    public const string Released = "released";
    /// <summary>A scheduled event cancelled before it was due.</summary>
    public const string Cancelled = "cancelled";
    /// <summary>No event: an id fenced off by the repair job so that a late write of a request it
    /// took over cannot land. Never shown; a later attempt of the same request may take the id.</summary>
    public const string Void = "void";
}
