using Azure;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;

namespace EventIngest.Storage;

/// <summary>
/// Puts events on their queues, one message per event and queue (or, on a packed queue, as few
/// messages as the events of a request fit in). An envelope too large for a queue message travels as
/// the claim check of its blob (<see cref="LargeEnvelopes"/>).
/// </summary>
internal sealed class EventQueue(StorageAccount storage, LargeEnvelopes large)
{
    private const int SendConcurrency = 32;
    // Sends in flight from this instance, all requests together: without a bound, 16 requests of
    // 1,000 events put 512 sends on the storage service at once and pushed some past the timeout.
    private const int InstanceSendLimit = 64;
    private readonly SemaphoreSlim _sendSlots = new(InstanceSendLimit, InstanceSendLimit);

    /// <summary>Sends a stored record to its queues: its envelope, or the claim check of its blob.</summary>
    public Task SendRecordAsync(string environment, EventRecord record, CancellationToken ct)
    {
        var body = large.MessageFor(environment, record.InternalId, record.Name, record.Message, record.Blob, record.Message?.Length ?? 0);
        return SendAsync(record.Queues.Select(q => (q, body)), ct);
    }

    /// <summary>Sends each record to its queues, up to <see cref="SendConcurrency"/> messages at once, and
    /// reports each (by its position) once all its messages are sent. On a queue for which <paramref name="packed"/> is
    /// true, the events go in as few messages as fit under <see cref="EventMessage.InlineLimit"/>, in request
    /// order (<see cref="EventMessage.BuildPack"/>); a message that would hold one event is that event's own.</summary>
    public Task SendAsync(string environment, IReadOnlyList<EventRecord> list, Func<string, bool> packed, Action<int> sent, CancellationToken ct)
    {
        var unsent = new int[list.Count];
        var messages = new List<(string Queue, byte[] Body, int[] Events)>(list.Count);
        var packs = new Dictionary<string, Pack>(StringComparer.Ordinal);
        for (var i = 0; i < list.Count; i++)
        {
            var e = list[i];
            var body = large.MessageFor(environment, e.InternalId, e.Name, e.Message, e.Blob, e.Message?.Length ?? 0);
            foreach (var queue in e.Queues)
            {
                unsent[i]++;
                if (!packed(queue))
                {
                    messages.Add((queue, body, [i]));
                    continue;
                }
                if (!packs.TryGetValue(queue, out var pack)) packs[queue] = pack = new Pack();
                if (!pack.Fits(body)) messages.Add(pack.Take(queue));
                pack.Add(i, body);
            }
        }
        foreach (var (queue, pack) in packs) messages.Add(pack.Take(queue));

        return Parallel.ForEachAsync(messages, new ParallelOptions { MaxDegreeOfParallelism = SendConcurrency, CancellationToken = ct }, async (m, token) =>
        {
            await SendOneAsync(await storage.ReadyQueueAsync(m.Queue, token), m.Body, static () => null, token);
            foreach (var i in m.Events)
            {
                if (Interlocked.Decrement(ref unsent[i]) == 0) sent(i);
            }
        });
    }

    /// <summary>The events gathered for one packed message of a queue.</summary>
    private sealed class Pack
    {
        private readonly List<int> _events = [];
        private readonly List<byte[]> _bodies = [];
        private int _bytes;

        public bool Fits(byte[] body) => _bodies.Count == 0 || EventMessage.PackedLength(_bodies.Count + 1, _bytes + body.Length) <= EventMessage.InlineLimit;

        public void Add(int index, byte[] body)
        {
            _events.Add(index);
            _bodies.Add(body);
            _bytes += body.Length;
        }

        public (string Queue, byte[] Body, int[] Events) Take(string queue)
        {
            var message = (queue, _bodies.Count == 1 ? _bodies[0] : EventMessage.BuildPack(_bodies), _events.ToArray());
            _events.Clear();
            _bodies.Clear();
            _bytes = 0;
            return message;
        }
    }

    public Task SendAsync(IEnumerable<(string Queue, byte[] Body)> messages, CancellationToken ct) =>
        Parallel.ForEachAsync(messages, new ParallelOptions { MaxDegreeOfParallelism = SendConcurrency, CancellationToken = ct }, async (m, token) =>
        {
            var client = await storage.ReadyQueueAsync(m.Queue, token);
            await SendOneAsync(client, m.Body, static () => null, token);
        });

    /// <summary>Sends messages that stay invisible until their due time (ms since the epoch). Each
    /// delay is computed as its message is sent, so time spent waiting for a send slot does not make it late.</summary>
    public Task SendDelayedAsync(IReadOnlyList<(string Queue, byte[] Body, long Due)> messages, TimeProvider time, CancellationToken ct) =>
        Parallel.ForEachAsync(messages, new ParallelOptions { MaxDegreeOfParallelism = SendConcurrency, CancellationToken = ct }, async (m, token) =>
        {
            var client = await storage.ReadyQueueAsync(m.Queue, token);
            await SendOneAsync(client, m.Body, () => VisibilityDelay(TimeSpan.FromMilliseconds(m.Due - time.GetUtcNow().ToUnixTimeMilliseconds())), token);
        });

    /// <summary>One send, in one of the instance's send slots. The delay is computed once the slot is
    /// held, so time spent waiting for it does not make a delayed message late.</summary>
    private async Task<SendReceipt> SendOneAsync(QueueClient client, byte[] body, Func<TimeSpan?> visibilityTimeout, CancellationToken ct)
    {
        await _sendSlots.WaitAsync(ct);
        try
        {
            return (await client.SendMessageAsync(BinaryData.FromBytes(body), visibilityTimeout(), NeverExpire, ct)).Value;
        }
        finally
        {
            _sendSlots.Release();
        }
    }

    /// <summary>Queue visibility is set in whole seconds; rounding up keeps a message invisible
    /// until its due time, at most one second past it.</summary>
    public static TimeSpan VisibilityDelay(TimeSpan delay) =>
        delay <= TimeSpan.Zero ? TimeSpan.Zero : TimeSpan.FromSeconds(Math.Ceiling(delay.TotalSeconds));

    /// <summary>Messages never expire on their own: an event waits on its queue until consumed.</summary>
    private static readonly TimeSpan NeverExpire = TimeSpan.FromSeconds(-1);
}
