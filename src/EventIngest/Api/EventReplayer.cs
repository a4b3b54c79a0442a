using System.Buffers;
using System.Runtime.InteropServices;
using System.Text.Json;
using EventIngest.Ingest;
using EventIngest.Storage;
using Microsoft.Extensions.Logging;
using EventIngest.Ids;

namespace EventIngest.Api;

internal enum ReplayStatus
{
    Replayed,
    NotFound,
    Refused,
}

/// <summary>The result of a replay: the new delivery, or why there is none.</summary>
internal sealed record ReplayOutcome(ReplayStatus Status, string? DeliveryId = null, IReadOnlyList<string>? Queues = null, string? Reason = null);

/// <summary>What <c>POST /v1/events/{internalId}/replay</c> answers.</summary>
internal sealed record ReplayView(string InternalId, string DeliveryId, IReadOnlyList<string> Queues, string ReplayedAt);

/// <summary>
/// Puts a stored event on its queues again: the stored envelope, <c>user</c> untouched, plus
/// <c>"replay": true</c> and a fresh <c>"delivery_id"</c> so consumers can tell it from the
/// original delivery (which has neither), and each replay is logged (<see cref="ReplayLog"/>). Routing is the one recorded at ingest. An envelope the
/// marker pushes over the inline limit goes to a blob of its own and travels as a claim check.
/// </summary>
internal sealed class EventReplayer(LargeEnvelopes large, EventLookup reader, EventQueue queue, ReplayLog log, TimeProvider time, ILogger<EventReplayer> logger)
{
    public async Task<ReplayOutcome> ReplayAsync(string environment, string internalId, CancellationToken ct)
    {
        var record = await reader.FindAsync(environment, internalId, ct);
        if (record is null) return new ReplayOutcome(ReplayStatus.NotFound);

        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var due = record.Due;
        var refusal = EventStates.ReplayRefusal(EventStates.Of(record.State, due, now), due);
        if (refusal is not null) return new ReplayOutcome(ReplayStatus.Refused, Reason: refusal);

        var deliveryId = Ulid.NewUlid(now);
        var envelope = MarkAsReplay(await large.ReadAsync(record, ct), deliveryId);
        var message = await large.MessageForNewAsync(environment, internalId, record.Name, envelope, ReplayAttempt(deliveryId), ct);
        if (!ReferenceEquals(message, envelope)) message = MarkAsReplay(message, deliveryId); // the claim check carries the marker too

        var queues = record.Queues;
        await queue.SendAsync(queues.Select(q => (q, message)), ct);
        logger.LogInformation("Replayed event {InternalId} in {Environment} as delivery {DeliveryId} to {QueueCount} queue(s)",
            internalId, environment, deliveryId, queues.Count);
        try
        {
            await log.AddAsync(environment, internalId, new ReplayEntry(deliveryId, queues, now), ct);
        }
        catch (Exception ex) when (StorageErrors.IsTransient(ex))
        {
            // The delivery is on its queues: answering 503 now would only make the caller replay it twice.
            logger.LogWarning(ex, "Replay {DeliveryId} of event {InternalId} was sent but not logged", deliveryId, internalId);
        }
        return new ReplayOutcome(ReplayStatus.Replayed, deliveryId, queues);
    }

    /// <summary>Blob of a replayed envelope: beside the original's, one per delivery, so the original stays as ingested.</summary>
    public static string BlobNameFor(string environment, string internalId, string deliveryId) =>
        LargeEnvelopes.BlobNameFor(environment, internalId, ReplayAttempt(deliveryId));

    private static string ReplayAttempt(string deliveryId) => "replay-" + deliveryId;

    /// <summary>The envelope (or claim-check message) with the replay marker and delivery id added last.</summary>
    public static byte[] MarkAsReplay(ReadOnlySpan<byte> message, string deliveryId)
    {
        var reader = new Utf8JsonReader(message);
        using var document = JsonDocument.ParseValue(ref reader);
        var buffer = new ArrayBufferWriter<byte>(message.Length + 64);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.NameEquals("replay"u8) || property.NameEquals("delivery_id"u8)) continue;
                // Values are copied byte for byte: re-serializing would re-escape the sender's strings.
                w.WritePropertyName(property.Name);
                w.WriteRawValue(JsonMarshal.GetRawUtf8Value(property.Value), skipInputValidation: true);
            }
            w.WriteBoolean("replay"u8, true);
            w.WriteString("delivery_id"u8, deliveryId);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }
}
