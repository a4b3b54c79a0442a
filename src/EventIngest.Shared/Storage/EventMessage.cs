using System.Buffers;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace EventIngest.Storage;

/// <summary>
/// The JSON envelope put on a queue for each event, and kept with its record so the repair and
/// release paths send exactly the same bytes. Documented in docs/message-format.md.
/// </summary>
public static class EventMessage
{
    public const int Format = 1;

    /// <summary>Largest envelope sent inline. Queue messages are limited to 64 KiB after base64
    /// (49,152 bytes raw); table binary properties to 64 KiB. Larger ones go to Blob Storage.</summary>
    public const int InlineLimit = 48_000;

    [ThreadStatic] private static ArrayBufferWriter<byte>? t_buffer;
    [ThreadStatic] private static Utf8JsonWriter? t_writer;

    /// <param name="data">The data object, or null for <c>{}</c>.</param>
    /// <param name="dropInngestKey">The data has a top-level <c>_inngest</c> key, which the envelope leaves out.</param>
    /// <param name="sealedUser">The event's <c>user</c> object, sealed (see docs/encryption.md); never the plain object.</param>
    /// <param name="traceParent">The W3C trace context of the request, for the consumer's span; left out when null.</param>
    public static byte[] Build(string internalId, string environment, string name, string? id, JsonElement? data, bool dropInngestKey,
        long ts, string? v, string sealedUser, long receivedAt, string? traceParent = null)
    {
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(4096);
        buffer.ResetWrittenCount();
        // One writer per thread, reset for each message: Reset also clears what a failed call left behind.
        var w = t_writer ??= new Utf8JsonWriter(buffer, new JsonWriterOptions { SkipValidation = true });
        w.Reset(buffer);
        w.WriteStartObject();
        w.WriteNumber("format"u8, Format);
        w.WriteString("internal_id"u8, internalId);
        w.WriteString("env"u8, environment);
        w.WriteString("name"u8, name);
        if (id is null) w.WriteNull("id"u8); else w.WriteString("id"u8, id);
        w.WritePropertyName("data"u8);
        WriteData(w, data, dropInngestKey);
        w.WriteString("user"u8, sealedUser);
        w.WriteNumber("ts"u8, ts);
        if (v is null) w.WriteNull("v"u8); else w.WriteString("v"u8, v);
        w.WriteNumber("received_at"u8, receivedAt);
        if (traceParent is not null) w.WriteString("traceparent"u8, traceParent);
        w.WriteEndObject();
        w.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The message sent instead of an envelope over <see cref="InlineLimit"/>: the
    /// envelope itself is the blob <paramref name="blobName"/> in <paramref name="container"/>.</summary>
    public static byte[] BuildClaimCheck(string internalId, string environment, string name, string container, string blobName, int bytes)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("format"u8, Format);
            w.WriteString("internal_id"u8, internalId);
            w.WriteString("env"u8, environment);
            w.WriteString("name"u8, name);
            w.WriteStartObject("claim_check"u8);
            w.WriteString("container"u8, container);
            w.WriteString("blob"u8, blobName);
            w.WriteNumber("bytes"u8, bytes);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>What a packed message adds around its events: <c>{"format":1,"events":[</c> … <c>]}</c>.</summary>
    private static ReadOnlySpan<byte> PackStart => "{\"format\":1,\"events\":["u8;
    private static ReadOnlySpan<byte> PackEnd => "]}"u8;

    /// <summary>The size of a packed message holding bodies of <paramref name="bodyBytes"/> bytes in all.</summary>
    public static int PackedLength(int bodies, int bodyBytes) => PackStart.Length + bodyBytes + Math.Max(0, bodies - 1) + PackEnd.Length;

    /// <summary>One message carrying several events of a request, for a packed queue: each element of
    /// <c>events</c> is exactly the message the event would have had on its own (an envelope or a claim check).</summary>
    public static byte[] BuildPack(IReadOnlyList<byte[]> bodies)
    {
        var message = new byte[PackedLength(bodies.Count, bodies.Sum(b => b.Length))];
        var at = 0;
        PackStart.CopyTo(message);
        at += PackStart.Length;
        for (var i = 0; i < bodies.Count; i++)
        {
            if (i > 0) message[at++] = (byte)',';
            bodies[i].CopyTo(message, at);
            at += bodies[i].Length;
        }
        PackEnd.CopyTo(message.AsSpan(at));
        return message;
    }

    /// <summary>The envelope with <c>ts</c> replaced (a rescheduled event), other fields as they were.</summary>
    public static byte[] WithTs(byte[] envelope, long ts)
    {
        using var document = JsonDocument.Parse(envelope);
        var buffer = new ArrayBufferWriter<byte>(envelope.Length + 16);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.NameEquals("ts")) w.WriteNumber("ts"u8, ts);
                else property.WriteTo(w);
            }
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteData(Utf8JsonWriter w, JsonElement? value, bool dropInngestKey)
    {
        if (value is not { } data)
        {
            w.WriteRawValue("{}"u8, skipInputValidation: true);
            return;
        }
        if (!dropInngestKey)
        {
            w.WriteRawValue(JsonMarshal.GetRawUtf8Value(data), skipInputValidation: true);
            return;
        }
        // The kept members are copied byte for byte: writing them through the writer decodes their
        // escapes, which fails on an unpaired surrogate escape (valid JSON, accepted elsewhere in data).
        var raw = new ArrayBufferWriter<byte>(JsonMarshal.GetRawUtf8Value(data).Length);
        raw.Write("{"u8);
        foreach (var property in data.EnumerateObject())
        {
            if (property.NameEquals("_inngest")) continue;
            if (raw.WrittenCount > 1) raw.Write(","u8);
            raw.Write("\""u8);
            raw.Write(JsonMarshal.GetRawUtf8PropertyName(property));
            raw.Write("\":"u8);
            raw.Write(JsonMarshal.GetRawUtf8Value(property.Value));
        }
        raw.Write("}"u8);
        w.WriteRawValue(raw.WrittenSpan, skipInputValidation: true);
    }
}
