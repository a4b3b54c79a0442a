using Azure;
using Azure.Data.Tables;

namespace EventIngest.Storage;

/// <summary>One replay of an event: its delivery id, the queues it went to and when.</summary>
internal sealed record ReplayEntry(string DeliveryId, IReadOnlyList<string> Queues, long ReplayedAt);

/// <summary>
/// The replays of each event, so that whoever looks at an event can tell its deliveries apart.
/// A replay is a delivery, not an event: it writes no event record, only this row — partition
/// <c>{env}|{internalId}</c>, row the delivery id (a ULID, so rows come back oldest first).
/// </summary>
internal sealed class ReplayLog(StorageAccount storage)
{
    /// <summary>Replays kept per answer; an event replayed more often shows its first ones.</summary>
    public const int MaxListed = 100;

    public async Task AddAsync(string environment, string internalId, ReplayEntry entry, CancellationToken ct)
    {
        await storage.EnsureCreatedAsync(ct);
        try
        {
            await storage.Replays.AddEntityAsync(new TableEntity(Partition(environment, internalId), entry.DeliveryId)
            {
                ["Queues"] = string.Join(',', entry.Queues),
                ["ReplayedAt"] = entry.ReplayedAt,
            }, ct);
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            // The row is keyed by this delivery's own id: our insert landed and its answer was lost.
        }
    }

    public async Task<IReadOnlyList<ReplayEntry>> ListAsync(string environment, string internalId, CancellationToken ct)
    {
        await storage.EnsureCreatedAsync(ct);
        var partition = Partition(environment, internalId);
        var entries = new List<ReplayEntry>();
        await foreach (var row in storage.Replays.QueryAsync<TableEntity>(r => r.PartitionKey == partition, maxPerPage: MaxListed, select: ["RowKey", "Queues", "ReplayedAt"], cancellationToken: ct))
        {
            entries.Add(new ReplayEntry(row.RowKey, (row.GetString("Queues") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries), row.GetInt64("ReplayedAt") ?? 0));
            if (entries.Count == MaxListed) break;
        }
        return entries;
    }

    private static string Partition(string environment, string internalId) => environment + "|" + internalId;
}
