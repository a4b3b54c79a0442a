using System.Globalization;
using Azure.Data.Tables;
using EventIngest.Storage;

namespace EventIngest.Scheduling;

/// <summary>
/// Rows of the schedule table. Every scheduled event has an index row,
/// <c>{env}|{yyyyMMdd of due}</c> / <c>{due, 13 digits}|{internal id}</c>, so an environment's
/// pending events list in due order; it says where the event waits: as a marker on the due queue
/// (<c>queued</c>) or parked in the table. It is a listing aid, not the truth (the record is).
/// Parked events also have a row under <c>~parked|{bucket}|{day}</c> (no environment name starts with
/// '~'), which is what the release job scans: one of 16 buckets by a hash of the internal id, so parked
/// events are written and released in 16 key ranges at once rather than one partition per day.
/// </summary>
public static class ScheduleIndex
{
    public const string Queued = "queued";
    public const string Parked = "parked";
    public const string Cancelled = "cancelled";
    public const string ParkedPrefix = "~parked|";

    public static (string Partition, string Row) KeyFor(string environment, long due, string internalId) =>
        ($"{environment}|{Day(due)}", $"{Due(due)}|{internalId}");

    public const int ParkedBuckets = 16;

    public static (string Partition, string Row) ParkedKeyFor(string environment, long due, string internalId) =>
        (ParkedBucketPrefix(ParkedBucketOf(internalId)) + Day(due), $"{Due(due)}|{environment}|{internalId}");

    public static int ParkedBucketOf(string internalId) => (int)(QueueShards.Hash(internalId) % ParkedBuckets);

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
public sealed record ScheduledItem(string InternalId, string Name, string? Id, long Due, string RecordPartition);
