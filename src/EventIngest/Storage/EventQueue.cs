using Azure.Storage.Blobs.Models;
using EventIngest.Ingest;

namespace EventIngest.Storage;

/// <summary>
/// Puts events on their queues, one message per event and queue. Envelopes too large for a
/// queue message are stored as blobs first and the message carries a reference (claim check).
/// </summary>
public sealed class EventQueue(StorageAccount storage)
{
    private const int SendConcurrency = 32;

    public static string BlobNameFor(string environment, string internalId) => $"{environment}/{internalId}.json";

    /// <summary>Uploads the envelopes that cannot go inline; must finish before their records are written.</summary>
    public async Task StoreLargeAsync(string environment, IEnumerable<PendingEvent> events, CancellationToken ct)
    {
        var large = events.Where(e => e.Message.Length > EventMessage.InlineLimit).ToList();
        foreach (var e in large) e.BlobName = BlobNameFor(environment, e.InternalId);
        await Parallel.ForEachAsync(large, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (e, token) =>
            await storage.LargeEvents.GetBlobClient(e.BlobName).UploadAsync(BinaryData.FromBytes(e.Message), new BlobUploadOptions(), token));
    }

    /// <summary>The message body for an event: the envelope itself, or a claim check pointing at its blob.</summary>
    public byte[] MessageFor(string environment, string internalId, string name, byte[]? envelope, string? blobName, int envelopeLength) =>
        blobName is null
            ? envelope!
            : EventMessage.BuildClaimCheck(internalId, environment, name, storage.LargeEvents.Name, blobName, envelopeLength);

    public Task SendAsync(string environment, IEnumerable<PendingEvent> events, CancellationToken ct) =>
        SendAsync(events.SelectMany(e => e.Queues.Select(q => (q, MessageFor(environment, e.InternalId, e.Name, e.Message, e.BlobName, e.Message.Length)))), ct);

    public Task SendAsync(IEnumerable<(string Queue, byte[] Body)> messages, CancellationToken ct) =>
        Parallel.ForEachAsync(messages, new ParallelOptions { MaxDegreeOfParallelism = SendConcurrency, CancellationToken = ct }, async (m, token) =>
        {
            var client = await storage.ReadyQueueAsync(m.Queue, token);
            await client.SendMessageAsync(BinaryData.FromBytes(m.Body), cancellationToken: token);
        });
}
