using System.Buffers.Binary;
using System.Security.Cryptography;

namespace EventIngest.Ids;

/// <summary>ULIDs as strings: 48-bit millisecond timestamp + 80 bits of entropy, 26 characters of
/// Crockford base32 (the first character carries only 3 bits, so it is at most '7').</summary>
internal static class Ulid
{
    public const int Length = 26;
    public const long MaxTimestamp = (1L << 48) - 1;
    private const string Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

    public static string Create(long millis, ReadOnlySpan<byte> entropy)
    {
        if ((ulong)millis > MaxTimestamp) throw new ArgumentOutOfRangeException(nameof(millis));
        if (entropy.Length != 10) throw new ArgumentException("ULID entropy is 10 bytes.", nameof(entropy));

        Span<byte> bytes = stackalloc byte[16];
        bytes[0] = (byte)(millis >> 40);
        bytes[1] = (byte)(millis >> 32);
        BinaryPrimitives.WriteUInt32BigEndian(bytes[2..], (uint)millis);
        entropy.CopyTo(bytes[6..]);
        var value = BinaryPrimitives.ReadUInt128BigEndian(bytes);

        return string.Create(Length, value, static (chars, v) =>
        {
            for (var i = Length - 1; i >= 0; i--)
            {
                chars[i] = Alphabet[(int)(v & 31)];
                v >>= 5;
            }
        });
    }

    public static string NewUlid(long millis)
    {
        Span<byte> entropy = stackalloc byte[10];
        RandomNumberGenerator.Fill(entropy);
        return Create(millis, entropy);
    }

    /// <summary>A ULID as callers may write it (in any case), in its canonical upper-case form; null when it is not one.</summary>
    public static string? Normalize(string? value)
    {
        var id = value?.ToUpperInvariant();
        return id is not null && IsValid(id) ? id : null;
    }

    /// <summary>True for a canonical (upper-case) ULID string.</summary>
    public static bool IsValid(ReadOnlySpan<char> s)
    {
        if (s.Length != Length || s[0] > '7') return false;
        foreach (var c in s)
        {
            if (Alphabet.IndexOf(c) < 0) return false;
        }
        return true;
    }

    public static long GetTimestamp(ReadOnlySpan<char> ulid)
    {
        long ms = 0;
        for (var i = 0; i < 10; i++) ms = (ms << 5) | (long)Alphabet.IndexOf(ulid[i]);
        return ms;
    }
}
