using Azure.Storage.Blobs.Models;

namespace EventIngest.Storage;

/// <summary>
/// Envelopes over <see cref="EventMessage.InlineLimit"/>: each is stored as a blob of the large-events
/// container, and its queue message is a pointer to it (a claim check, docs/message-format.md). The one
/// place that decides what goes inline, names the blobs, writes and reads them — for ingest, replay and
/// reschedule alike.
/// </summary>
internal sealed class LargeEnvelopes(StorageAccount storage)
{
    public static bool IsLarge(int bytes) => bytes > EventMessage.InlineLimit;

    /// <summary>A blob per event and attempt (a request attempt's nonce, a replay's delivery, a reschedule's due
    /// time): a later attempt never overwrites the envelope an earlier one's record or message points at.</summary>
    public static string BlobNameFor(string environment, string internalId, string attempt) => $"{environment}/{internalId}.{attempt}.json";

    /// <summary>Uploads the envelopes that cannot go inline; must finish before their records are written.</summary>
    /// <returns>By position, the blob each envelope went to, or null for one that goes inline.</returns>
    public async Task<string?[]> StoreAsync(string environment, string attempt, IReadOnlyList<(string InternalId, byte[] Envelope)> envelopes, CancellationToken ct)
    {
        var blobs = new string?[envelopes.Count];
        var large = new List<int>();
        for (var i = 0; i < envelopes.Count; i++)
        {
            if (!IsLarge(envelopes[i].Envelope.Length)) continue;
            blobs[i] = BlobNameFor(environment, envelopes[i].InternalId, attempt);
            large.Add(i);
        }
        if (large.Count == 0) return blobs;
        await Parallel.ForEachAsync(large, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (i, token) =>
            await storage.LargeEvents.GetBlobClient(blobs[i]).UploadAsync(BinaryData.FromBytes(envelopes[i].Envelope), new BlobUploadOptions(), token));
        return blobs;
    }

    /// <summary>Stores one envelope as its blob for <paramref name="attempt"/>, replacing one stored there before.</summary>
    public async Task<string> StoreAsync(string environment, string internalId, string attempt, byte[] envelope, CancellationToken ct)
    {
        var blob = BlobNameFor(environment, internalId, attempt);
        await storage.LargeEvents.GetBlobClient(blob).UploadAsync(BinaryData.FromBytes(envelope), overwrite: true, ct);
        return blob;
    }

    /// <summary>The message body for an envelope: the envelope itself, or a claim check pointing at its blob.</summary>
    public byte[] MessageFor(string environment, string internalId, string name, byte[]? envelope, string? blobName, int envelopeLength) =>
        blobName is null
            ? envelope!
            : EventMessage.BuildClaimCheck(internalId, environment, name, storage.LargeEvents.Name, blobName, envelopeLength);

    /// <summary>An envelope not stored yet (a replay's): the envelope when it fits inline, else the claim check of
    /// the blob it is stored in for <paramref name="attempt"/>.</summary>
    public async Task<byte[]> MessageForNewAsync(string environment, string internalId, string name, byte[] envelope, string attempt, CancellationToken ct)
    {
        if (!IsLarge(envelope.Length)) return envelope;
        var blob = BlobNameFor(environment, internalId, attempt);
        await storage.LargeEvents.GetBlobClient(blob).UploadAsync(BinaryData.FromBytes(envelope), new BlobUploadOptions(), ct);
        return MessageFor(environment, internalId, name, envelope, blob, envelope.Length);
    }

    /// <summary>The record's envelope exactly as stored: inline, or its blob.</summary>
    public async Task<byte[]> ReadAsync(EventRecord record, CancellationToken ct)
    {
        if (record.Message is { } inline) return inline;
        var blob = record.Blob
            ?? throw new InvalidDataException($"Record {record.RowKey} holds neither Message nor Blob.");
        var content = await storage.LargeEvents.GetBlobClient(blob).DownloadContentAsync(ct);
        return content.Value.Content.ToArray();
    }
}
