using System.Collections.Concurrent;
using System.Text.Json;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;

namespace EventIngest.Faults;

/// <summary>One message as a consumer saw it, with the envelope's content (a claim check resolved).</summary>
internal sealed record ReceivedMessage(
    string Queue, string MessageId, string InternalId, DateTimeOffset ReceivedAt, DateTimeOffset? InsertedOn, long DequeueCount,
    string? Name, string? Id, string? Data, long? Ts, bool Replay, bool ClaimCheck);

/// <summary>
/// A consumer reading Azurite directly (not through the fault proxy): polls every queue about
/// every 200 ms with a short visibility timeout, records each message the first time it becomes
/// visible, and deletes it.
/// </summary>
internal sealed class ChaosConsumer(string connectionString, IReadOnlyList<string> queues)
{
    private readonly BlobServiceClient _blobs = new(connectionString);
    private readonly ConcurrentDictionary<string, byte> _seenMessageIds = new(StringComparer.Ordinal);
    private long _lastMessageTicks = DateTimeOffset.UtcNow.UtcTicks;

    public ConcurrentQueue<ReceivedMessage> Messages { get; } = new();
    public ConcurrentQueue<string> Errors { get; } = new();
    public DateTimeOffset LastMessageAt => new(Interlocked.Read(ref _lastMessageTicks), TimeSpan.Zero);

    public Task RunAsync(CancellationToken stop) => Task.WhenAll(queues.Select(q => Task.Run(() => PollAsync(q, stop))));

    private async Task PollAsync(string queue, CancellationToken stop)
    {
        var client = new QueueClient(connectionString, queue, new QueueClientOptions { MessageEncoding = QueueMessageEncoding.Base64 });
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var batch = (await client.ReceiveMessagesAsync(32, TimeSpan.FromSeconds(5), CancellationToken.None)).Value;
                var receivedAt = DateTimeOffset.UtcNow;
                if (batch.Length > 0) Interlocked.Exchange(ref _lastMessageTicks, receivedAt.UtcTicks);
                foreach (var message in batch)
                {
                    if (_seenMessageIds.TryAdd(message.MessageId, 0))
                    {
                        Messages.Enqueue(await ReadAsync(queue, message.MessageId, receivedAt, message.InsertedOn, message.DequeueCount, message.Body.ToMemory()));
                    }
                    try
                    {
                        await client.DeleteMessageAsync(message.MessageId, message.PopReceipt, CancellationToken.None);
                    }
                    catch (RequestFailedException ex) when (ex.Status == 404)
                    {
                    }
                }
                if (batch.Length == 32) continue;
            }
            catch (RequestFailedException ex) when (ex.Status == 404)
            {
                // the host has not created the queue yet
            }
            catch (Exception ex) when (ex is RequestFailedException or HttpRequestException or JsonException)
            {
                Errors.Enqueue($"{queue}: {ex.GetType().Name}: {ex.Message}");
            }
            try
            {
                await Task.Delay(200, stop);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    private async Task<ReceivedMessage> ReadAsync(string queue, string messageId, DateTimeOffset receivedAt, DateTimeOffset? insertedOn, long dequeueCount, ReadOnlyMemory<byte> body)
    {
        using var message = JsonDocument.Parse(body);
        var root = message.RootElement;
        var internalId = root.GetProperty("internal_id").GetString()!;
        var replay = root.TryGetProperty("replay", out var r) && r.ValueKind == JsonValueKind.True;
        var claimCheck = root.TryGetProperty("claim_check", out var claim);
        if (claimCheck)
        {
            try
            {
                var blob = _blobs.GetBlobContainerClient(claim.GetProperty("container").GetString()).GetBlobClient(claim.GetProperty("blob").GetString());
                var content = (await blob.DownloadContentAsync()).Value.Content.ToMemory();
                using var envelope = JsonDocument.Parse(content);
                return Read(envelope.RootElement);
            }
            catch (RequestFailedException ex)
            {
                Errors.Enqueue($"{queue}: claim check of {internalId} unreadable: {ex.Status} {ex.ErrorCode}");
                return new ReceivedMessage(queue, messageId, internalId, receivedAt, insertedOn, dequeueCount, Str(root, "name"), null, null, null, replay, true);
            }
        }
        return Read(root);

        ReceivedMessage Read(JsonElement e) => new(
            queue, messageId, internalId, receivedAt, insertedOn, dequeueCount,
            Str(e, "name"), Str(e, "id"),
            e.TryGetProperty("data", out var data) ? data.GetRawText() : null,
            e.TryGetProperty("ts", out var ts) && ts.ValueKind == JsonValueKind.Number ? ts.GetInt64() : null,
            replay, claimCheck);
    }

    private static string? Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
