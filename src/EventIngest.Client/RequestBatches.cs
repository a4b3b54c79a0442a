using System.Buffers;
using System.Text.Json;

namespace EventIngest.Client;

/// <summary>
/// The events of one call serialized once and cut into request bodies (JSON arrays) of at most
/// <see cref="EventIngestClientOptions.MaxEventsPerRequest"/> events and
/// <see cref="EventIngestClientOptions.MaxRequestBytes"/> bytes, in order.
/// </summary>
internal static class RequestBatches
{
    public readonly record struct Batch(int FirstIndex, int Count, ReadOnlyMemory<byte> Body);

    public static List<Batch> Build(IEnumerable<Event> events, EventIngestClientOptions options)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        var ends = new List<int>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            foreach (var e in events)
            {
                ArgumentNullException.ThrowIfNull(e, nameof(events));
                CheckEvent(e, ends.Count);
                e.WriteTo(writer, options.SerializerOptions);
                writer.Flush();
                writer.Reset();
                ends.Add(buffer.WrittenCount);
            }
        }

        var written = buffer.WrittenMemory;
        var batches = new List<Batch>();
        var first = 0;
        while (first < ends.Count)
        {
            var start = first == 0 ? 0 : ends[first - 1];
            var last = first;
            // '[' + events + one ',' between each + ']'
            while (last + 1 < ends.Count && last + 1 - first < options.MaxEventsPerRequest
                && 2 + ends[last + 1] - start + (last + 1 - first) <= options.MaxRequestBytes)
            {
                last++;
            }
            batches.Add(new Batch(first, last - first + 1, Join(written, ends, first, last)));
            first = last + 1;
        }
        return batches;
    }

    private static byte[] Join(ReadOnlyMemory<byte> written, List<int> ends, int first, int last)
    {
        var start = first == 0 ? 0 : ends[first - 1];
        var body = new byte[2 + ends[last] - start + (last - first)];
        body[0] = (byte)'[';
        var at = 1;
        for (var i = first; i <= last; i++)
        {
            if (i > first) body[at++] = (byte)',';
            var from = i == 0 ? 0 : ends[i - 1];
            written.Span[from..ends[i]].CopyTo(body.AsSpan(at));
            at += ends[i] - from;
        }
        body[at] = (byte)']';
        return body;
    }

    // The server refuses these too, but only request by request: catching them here keeps a call that
    // needs several requests from storing its first part before failing on a later one.
    private static void CheckEvent(Event e, int index)
    {
        if (e.Name.EnumerateRunes().Count() > MaxNameLength)
        {
            throw new ArgumentException($"Event {index}: the name is longer than {MaxNameLength} characters.");
        }
        if (e.Name.StartsWith("inngest/", StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"Event {index}: names starting with inngest/ are reserved.");
        }
        if (e.Timestamp is { } ts && (ts < MinTimestamp || ts > MaxTimestamp))
        {
            throw new ArgumentException(
                $"Event {index} ({e.Name}): Timestamp must be between 1980-01-01 and 2100-01-01 (UTC).");
        }
    }

    private const int MaxNameLength = 256;
    private static readonly DateTimeOffset MinTimestamp = new(1980, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset MaxTimestamp = new(2100, 1, 1, 0, 0, 0, TimeSpan.Zero);
}
