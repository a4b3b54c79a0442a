using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using EventIngest.Ids;

namespace EventIngest.Ingest;

/// <summary>
/// What makes an event the same event: name, <c>id</c>, <c>ts</c> as sent, <c>v</c> and
/// <c>data</c> byte for byte (not <c>user</c>, which is sealed apart and may be erased). A record
/// keeps it, so a request whose seed gives an id that already names another event is told apart
/// from a retry of the same request (G2 in docs/reliability.md).
/// </summary>
internal static class EventFingerprint
{
    public const int Length = 16;

    public static byte[] Of(ParsedEvent e)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Append(hash, e.Name);
        Append(hash, e.Id);
        Append(hash, e.V);
        Span<byte> ts = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(ts, e.SentTs);
        hash.AppendData(ts);
        Append(hash, e.Data is { } data ? JsonMarshal.GetRawUtf8Value(data) : "{}"u8);
        return hash.GetHashAndReset()[..Length];
    }

    private static void Append(IncrementalHash hash, string? text)
    {
        if (text is null)
        {
            Append(hash, ReadOnlySpan<byte>.Empty, present: false);
            return;
        }
        Append(hash, Encoding.UTF8.GetBytes(text));
    }

    private static void Append(IncrementalHash hash, ReadOnlySpan<byte> bytes, bool present = true)
    {
        Span<byte> length = stackalloc byte[5];
        length[0] = present ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteInt32BigEndian(length[1..], bytes.Length);
        hash.AppendData(length);
        hash.AppendData(bytes);
    }
}
