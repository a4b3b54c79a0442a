using System.Globalization;
using Azure.Data.Tables;
using EventIngest.Storage;

namespace EventIngest.Scheduling;

/// <summary>
/// Rows of the schedule table. Every scheduled event has an index row,
/// <c>{env}|{bucket letter}|{yyyyMMdd of due}</c> / <c>{due, 13 digits}|{internal id}</c>, so an environment's
/// pending events list in due order within each of 16 buckets, and a listing merges the buckets. The bucket is a
/// hash of the first 19 characters of the internal id, which every event of one request shares: a request's
/// index rows go in one transaction per 100, and an environment's scheduled events spread over 16 partitions
/// rather than one per due day. The row says where the event waits: as a marker on the due queue
/// (<c>queued</c>) or parked in the table. It is a listing aid, not the truth (the record is). Rows of earlier
/// versions, <c>{env}|{yyyyMMdd}</c>, are still listed and tidied (a day's digits sort before the letters).
/// Parked events also have a row under <c>~parked|{bucket}|{day}</c> (no environment name starts with
/// '~'), which is what the release job scans: one row per request, due second and up to
/// <see cref="DueMarker.MaxGroup"/> events (fewer for long environment names), holding the due marker the release sends as it is. A lone event's row
/// is keyed by its own id, so a cancel or reschedule removes it; a group's row is left to the release, where the
/// marker of a cancelled or moved event is stale and releases nothing.
/// </summary>
internal static class ScheduleIndex
{
    public const string Queued = "queued";
    public const string Parked = "parked";
    public const string Cancelled = "cancelled";
    public const string ParkedPrefix = "~parked|";

    /// <summary>Buckets of index rows per environment, and of parked rows.</summary>
    public const int Buckets = 16;

    public const int ParkedBuckets = Buckets;

    /// <summary>The bucket of an event: by the part of its internal id its whole request shares.</summary>
    public static int BucketOf(string internalId) =>
        (int)(QueueShards.Hash(internalId.Length > RequestPrefix ? internalId[..RequestPrefix] : internalId) % Buckets);

    // Ids of one seed share their first 19 characters (docs/architecture.md, Storage layout).
    private const int RequestPrefix = 19;

    public static (string Partition, string Row) KeyFor(string environment, long due, string internalId) =>
        (IndexBucketPrefix(environment, BucketOf(internalId)) + Day(due), $"{Due(due)}|{internalId}");

    /// <summary>Where an earlier version put the index row: <c>{env}|{yyyyMMdd}</c>.</summary>
    public static (string Partition, string Row) LegacyKeyFor(string environment, long due, string internalId) =>
        ($"{environment}|{Day(due)}", $"{Due(due)}|{internalId}");

    /// <summary><c>{env}|{letter}|</c>: what every index partition of the environment's bucket starts with.</summary>
    public static string IndexBucketPrefix(string environment, int bucket) => $"{environment}|{(char)('a' + bucket)}|";

    /// <summary>The key ranges that hold an environment's index rows due on <paramref name="fromDay"/> or later: one per
    /// bucket, then the earlier versions' partitions. Each lists in due order.</summary>
    public static IEnumerable<(string From, string Until)> IndexRanges(string environment, string fromDay) =>
        Enumerable.Range(0, Buckets)
            .Select(b => (IndexBucketPrefix(environment, b) + fromDay, IndexBucketPrefix(environment, b) + "~"))
            .Append(($"{environment}|{fromDay}", $"{environment}|:"));

    /// <summary>The parked row of a lone event (what a cancel or reschedule removes).</summary>
    public static (string Partition, string Row) ParkedKeyFor(string environment, long due, string internalId) =>
        (ParkedBucketPrefix(ParkedBucketOf(internalId)) + Day(due), $"{Due(due)}|{environment}|{internalId}");

    public static int ParkedBucketOf(string internalId) => BucketOf(internalId);

    /// <summary>Parked rows for <paramref name="items"/> (of one request): one per due second and up to
    /// <see cref="DueMarker.MaxGroup"/> events, each holding its due marker. A group's row key ends in
    /// <c>*{first internal id}</c>, which no lone event's key does.</summary>
    public static IEnumerable<TableEntity> ParkedRows(string environment, IEnumerable<ScheduledItem> items) =>
        DueMarker.Chunks(items.Select(i => new DueMarker(environment, i.InternalId, i.Due)))
            .Select(chunk =>
            {
                var (body, due) = DueMarker.Group(chunk).Single();
                var (pk, rk) = ParkedKeyFor(environment, due, chunk[0].InternalId);
                if (chunk.Count > 1) rk = $"{Due(due)}|{environment}|*{chunk[0].InternalId}";
                return new TableEntity(pk, rk) { ["Due"] = due, ["Count"] = chunk.Count, ["Marker"] = body };
            });

    /// <summary>The events a parked row holds: its marker's, or (a row of an earlier version, one event and no
    /// marker) the one its key names. <c>Legacy</c>: the event's index row has the earlier layout.</summary>
    public static (IReadOnlyList<DueMarker> Events, bool Legacy) ParkedEvents(TableEntity row)
    {
        if (row.GetBinary("Marker") is { } marker && DueMarker.ParseAll(BinaryData.FromBytes(marker)) is { } events) return (events, false);
        var parts = row.RowKey.Split('|');
        return ([new DueMarker(parts[1], parts[2], row.GetInt64("Due")!.Value)], true);
    }

    /// <summary><c>~parked|{bucket in hex}|</c>: what every parked partition of the bucket starts with. Parked rows of
    /// earlier versions, <c>~parked|{day}</c>, sort elsewhere (a day's digits are followed by a digit, not '|').</summary>
    public static string ParkedBucketPrefix(int bucket) => ParkedPrefix + bucket.ToString("x", CultureInfo.InvariantCulture) + "|";

    public static string Day(long millis) =>
        DateTimeOffset.FromUnixTimeMilliseconds(millis).UtcDateTime.ToString("yyyyMMdd", CultureInfo.InvariantCulture);

    public static string Due(long millis) => millis.ToString("D13", CultureInfo.InvariantCulture);

    public static TableEntity IndexRow(string environment, ScheduledItem item, string state)
    {
        var (pk, rk) = KeyFor(environment, item.Due, item.InternalId);
        var row = new TableEntity(pk, rk)
        {
            ["State"] = state,
            ["Due"] = item.Due,
            ["Name"] = item.Name,
            ["RecordPartition"] = item.RecordPartition,
        };
        if (item.Id is not null) row["Id"] = item.Id;
        return row;
    }

    public static string InternalIdOf(TableEntity indexRow) => indexRow.RowKey[(indexRow.RowKey.LastIndexOf('|') + 1)..];
}

/// <summary>An event to hold until <see cref="Due"/>; its record says where it goes and what it carries.</summary>
internal sealed record ScheduledItem(string InternalId, string Name, string? Id, long Due, string RecordPartition);
