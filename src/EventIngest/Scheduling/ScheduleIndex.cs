using System.Globalization;
using System.Text.Json;
using Azure.Data.Tables;
using EventIngest.Storage;

namespace EventIngest.Scheduling;

/// <summary>
/// Rows of the schedule table. Every scheduled event has an index row,
/// <c>{env}|{yyyyMMdd of due}</c> / <c>{due, 13 digits}|{internal id}</c>, so an environment's
/// pending events list in due order; it records where the event waits: on its queue(s), with the
/// receipts that can delete or re-time the messages, or parked in the table. Parked events also
/// have a row under <c>~parked|{day}</c> (no environment name starts with '~'), which is what the
/// release job scans.
/// </summary>
public static class ScheduleIndex
{
    public const string Queued = "queued";
    public const string Parked = "parked";
    public const string Cancelled = "cancelled";
    public const string ParkedPrefix = "~parked|";

    public static (string Partition, string Row) KeyFor(string environment, long due, string internalId) =>
        ($"{environment}|{Day(due)}", $"{Due(due)}|{internalId}");

    public static (string Partition, string Row) ParkedKeyFor(string environment, long due, string internalId) =>
        (ParkedPrefix + Day(due), $"{Due(due)}|{environment}|{internalId}");

    public static string Day(long millis) =>
        DateTimeOffset.FromUnixTimeMilliseconds(millis).UtcDateTime.ToString("yyyyMMdd", CultureInfo.InvariantCulture);

    public static string Due(long millis) => millis.ToString("D13", CultureInfo.InvariantCulture);

    public static TableEntity IndexRow(string environment, ScheduledItem item, string state, IEnumerable<MessageReceipt>? receipts)
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
        if (receipts is not null) row["Receipts"] = JsonSerializer.Serialize(receipts.ToArray(), ReceiptsContext.Default.MessageReceiptArray);
        return row;
    }

    public static MessageReceipt[] ReceiptsOf(TableEntity indexRow) =>
        indexRow.GetString("Receipts") is { } json ? JsonSerializer.Deserialize(json, ReceiptsContext.Default.MessageReceiptArray) ?? [] : [];

    public static string InternalIdOf(TableEntity indexRow) => indexRow.RowKey[(indexRow.RowKey.LastIndexOf('|') + 1)..];
}

/// <summary>An event to hold until <see cref="Due"/>: its queues and the exact message body to put on them.</summary>
public sealed record ScheduledItem(string InternalId, string Name, string? Id, long Due, string RecordPartition, IReadOnlyList<string> Queues, byte[] Body);

[System.Text.Json.Serialization.JsonSerializable(typeof(MessageReceipt[]))]
internal sealed partial class ReceiptsContext : System.Text.Json.Serialization.JsonSerializerContext;
