using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;

namespace EventIngest.Ids;

/// <summary>
/// The <c>x-inngest-event-id-seed</c> header: <c>millis,base64(10 bytes)</c>. The event at
/// position i gets the ULID of <c>millis</c> and the entropy with bytes 6..9, read as a big-endian
/// uint32, increased by i+1 (wrapping) — the same ids Inngest derives, so a retried request gets
/// the same ids. Requests without a valid seed get a random one, which keeps the ids of one
/// request together (they share their first 19 characters).
/// </summary>
internal sealed class IdSeed
{
    public const string HeaderName = "x-inngest-event-id-seed";

    private readonly byte[] _entropy;

    private IdSeed(long millis, byte[] entropy, bool fromHeader)
    {
        Millis = millis;
        _entropy = entropy;
        FromHeader = fromHeader;
    }

    public long Millis { get; }

    /// <summary>True when the ids are the caller's (deterministic); they then serve as idempotency keys.</summary>
    public bool FromHeader { get; }

    public static IdSeed Random(long nowMillis)
    {
        var entropy = new byte[10];
        RandomNumberGenerator.Fill(entropy);
        return new IdSeed(nowMillis, entropy, fromHeader: false);
    }

    /// <summary>Parses the header value; null when it is absent or malformed (random ids then).</summary>
    public static IdSeed? Parse(string? value)
    {
        if (string.IsNullOrEmpty(value)) return null;
        var comma = value.IndexOf(',');
        if (comma < 0 || value.IndexOf(',', comma + 1) >= 0) return null;
        if (!long.TryParse(value.AsSpan(0, comma), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var millis)
            || millis <= 0 || millis > Ulid.MaxTimestamp)
        {
            return null;
        }

        var text = value.AsSpan(comma + 1);
        Span<byte> decoded = stackalloc byte[16];
        // Go's StdEncoding: padded, no whitespace, exactly 10 bytes.
        if (text.Length != 16 || text.ContainsAny(" \t\r\n") ||
            !Convert.TryFromBase64Chars(text, decoded, out var written) || written != 10)
        {
            return null;
        }
        return new IdSeed(millis, decoded[..10].ToArray(), fromHeader: true);
    }

    /// <summary>The seed in the header's form, so a stored seed gives back the same ids.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Millis},{Convert.ToBase64String(_entropy)}");

    public string IdFor(int index)
    {
        Span<byte> entropy = stackalloc byte[10];
        _entropy.CopyTo(entropy);
        var counter = BinaryPrimitives.ReadUInt32BigEndian(entropy[6..]);
        BinaryPrimitives.WriteUInt32BigEndian(entropy[6..], unchecked(counter + (uint)index + 1));
        return Ulid.Create(Millis, entropy);
    }
}
