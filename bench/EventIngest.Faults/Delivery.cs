using Azure.Data.Tables;
using Azure.Storage.Queues;

namespace EventIngest.Faults;

/// <summary>What reached the queue, compared with what was acknowledged.</summary>
internal sealed record DeliveryReport(int Acknowledged, int Messages, int DistinctDelivered, int Missing, int Unexpected, int Duplicates, int OutboxRows, TimeSpan OutboxDrainedAfter)
{
    public IReadOnlyDictionary<string, int> MessagesPerId { get; init; } = new Dictionary<string, int>();

    public IReadOnlyDictionary<string, string> InsertedAt { get; init; } = new Dictionary<string, string>();

    public int MostMessagesForOneId => MessagesPerId.Count == 0 ? 0 : MessagesPerId.Values.Max();

    public double DuplicateRate => DistinctDelivered == 0 ? 0 : (double)Duplicates / DistinctDelivered;

    public override string ToString() =>
        $"""
          acknowledged events (distinct internal ids): {Acknowledged}
          messages on the queue:                       {Messages}
          distinct internal ids delivered:             {DistinctDelivered}
          acknowledged but missing:                    {Missing}
          delivered but never acknowledged:            {Unexpected}
          duplicate messages:                          {Duplicates} (rate {DuplicateRate:P3}; at most {MostMessagesForOneId} messages for one id)
          outbox rows left:                            {OutboxRows} (outbox empty {OutboxDrainedAfter.TotalSeconds:0} s after the load ended)
        """;
}

internal static class Delivery
{
    /// <summary>
    /// Waits for the repair job to empty the outbox and for the last scheduled event to fall due,
    /// then reads every message of the queue and counts messages per internal id.
    /// </summary>
    public static async Task<DeliveryReport> CheckAsync(string connectionString, IReadOnlyCollection<string> acknowledged, long lastDueMillis, TimeSpan outboxTimeout, string prefix = "ei", string queue = "events")
    {
        var outbox = new TableClient(connectionString, prefix + "outbox");
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var outboxRows = await CountAsync(outbox);
        while (outboxRows > 0 && watch.Elapsed < outboxTimeout)
        {
            await Task.Delay(2_000);
            outboxRows = await CountAsync(outbox);
        }
        var drainedAfter = watch.Elapsed;

        var untilDue = DateTimeOffset.FromUnixTimeMilliseconds(lastDueMillis + 3_000) - DateTimeOffset.UtcNow;
        if (untilDue > TimeSpan.Zero) await Task.Delay(untilDue);

        var client = new QueueClient(connectionString, queue, new QueueClientOptions { MessageEncoding = QueueMessageEncoding.Base64 });
        var perId = new Dictionary<string, int>(StringComparer.Ordinal);
        var inserted = new List<(string Id, DateTimeOffset? At)>();
        var messages = 0;
        for (var emptyPolls = 0; emptyPolls < 2;)
        {
            var batch = (await client.ReceiveMessagesAsync(32, TimeSpan.FromHours(1))).Value;
            if (batch.Length == 0)
            {
                emptyPolls++;
                await Task.Delay(1_500);
                continue;
            }
            emptyPolls = 0;
            foreach (var message in batch)
            {
                using var json = System.Text.Json.JsonDocument.Parse(message.Body.ToMemory());
                var id = json.RootElement.GetProperty("internal_id").GetString()!;
                perId[id] = perId.GetValueOrDefault(id) + 1;
                inserted.Add((id, message.InsertedOn));
                messages++;
            }
        }

        var expected = acknowledged.ToHashSet(StringComparer.Ordinal);
        return new DeliveryReport(
            expected.Count,
            messages,
            perId.Count,
            expected.Count(id => !perId.ContainsKey(id)),
            perId.Keys.Count(id => !expected.Contains(id)),
            messages - perId.Count,
            outboxRows,
            drainedAfter)
        {
            MessagesPerId = perId,
            InsertedAt = inserted.GroupBy(i => i.Id).ToDictionary(g => g.Key, g => string.Join(" ", g.Select(i => i.At?.ToString("HH:mm:ss.fff", System.Globalization.CultureInfo.InvariantCulture)).Order())),
        };
    }

    /// <summary>
    /// Of the internal ids delivered more than once, how many were written by a request the repair
    /// job completed — the documented at-least-once case (docs/architecture.md). The host logs the
    /// outbox row (the request's nonce) of every repair; each record names the nonce that wrote it.
    /// </summary>
    public static async Task<(int Duplicated, int ByRepair)> AttributeDuplicatesAsync(string connectionString, DeliveryReport report, string hostLog, string prefix = "ei")
    {
        var repaired = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in await File.ReadAllLinesAsync(hostLog))
        {
            const string marker = "from outbox row ";
            var at = line.IndexOf(marker, StringComparison.Ordinal);
            if (at >= 0) repaired.Add(line[(at + marker.Length)..].Trim());
        }
        var writers = new Dictionary<string, string>(StringComparer.Ordinal);
        var details = new Dictionary<string, string>(StringComparer.Ordinal);
        var events = new TableClient(connectionString, prefix + "events");
        await foreach (var row in events.QueryAsync<TableEntity>(select: ["RowKey", "Writer", "State", "Id", "Due", "Blob"]))
        {
            var id = EventIngest.Storage.RecordKeys.InternalIdOf(row.RowKey);
            writers[id] = row.GetString("Writer") ?? "";
            details[id] = $"state={row.GetString("State")} id={row.GetString("Id")} due={row.GetInt64("Due")} blob={row.GetString("Blob") is not null} writer={row.GetString("Writer")}";
        }
        var duplicated = report.MessagesPerId.Where(p => p.Value > 1).Select(p => p.Key).ToList();
        await File.WriteAllLinesAsync(Path.Combine(Path.GetDirectoryName(hostLog)!, "duplicates.txt"),
            report.MessagesPerId.Where(p => p.Value > 1).OrderByDescending(p => p.Value)
                .Select(p => $"{p.Key} messages={p.Value} repaired={repaired.Contains(writers.GetValueOrDefault(p.Key, ""))} {details.GetValueOrDefault(p.Key)} sent={report.InsertedAt.GetValueOrDefault(p.Key)}"));
        return (duplicated.Count, duplicated.Count(id => writers.TryGetValue(id, out var writer) && repaired.Contains(writer)));
    }

    /// <summary>Rows in a table; 0 when it does not exist.</summary>
    public static async Task<int> CountAsync(TableClient table)
    {
        var count = 0;
        try
        {
            await foreach (var _ in table.QueryAsync<TableEntity>(select: ["PartitionKey"])) count++;
        }
        catch (Azure.RequestFailedException ex) when (ex.Status == 404)
        {
        }
        return count;
    }
}
