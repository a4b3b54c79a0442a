using System.Buffers;
using System.Buffers.Binary;
using System.Buffers.Text;
using System.Text;

namespace EventIngest.Encryption;

/// <summary>
/// Byte layout of a sealed <c>user</c> value (format 1), carried as base64url without padding.
/// See docs/encryption.md for the specification.
/// <code>
/// header   version(1)=1 | algorithm(1)=1 (AES-256-GCM) | key kind(1)
///          kind 1 (person):      subject id(16) | person key version(8, big-endian)
///          kind 2 (environment): hour since Unix epoch(4, big-endian)
/// body     nonce(12) | ciphertext(n) | GCM tag(16) | check(16)
/// </code>
/// The GCM associated data is header ‖ context, and the check is the first 16 bytes of
/// HMAC-SHA256(check key, header ‖ context ‖ nonce ‖ tag), where context is the environment and
/// the internal id, each as a 2-byte big-endian length and UTF-8.
/// </summary>
internal static class SealedUserFormat
{
    public const byte Version1 = 1;
    public const byte AesGcm256 = 1;
    public const byte PersonKeyKind = 1;
    public const byte EnvironmentKeyKind = 2;
    public const int PersonHeaderSize = 3 + EnvironmentKeys.SubjectIdSize + 8;
    public const int EnvironmentHeaderSize = 3 + 4;
    public const int MaxHeaderSize = PersonHeaderSize;
    public const int Overhead = DataKey.NonceSize + DataKey.TagSize + EnvironmentKeys.CheckSize;
    public const int MaxContextPartBytes = 256;
    private const int MaxContextSize = 2 * (2 + MaxContextPartBytes);
    private const int MaxAuthenticatedSize = MaxHeaderSize + MaxContextSize + DataKey.NonceSize + DataKey.TagSize;

    public static int WritePersonHeader(Span<byte> header, UInt128 subjectId, ulong version)
    {
        header[0] = Version1;
        header[1] = AesGcm256;
        header[2] = PersonKeyKind;
        BinaryPrimitives.WriteUInt128BigEndian(header[3..], subjectId);
        BinaryPrimitives.WriteUInt64BigEndian(header[(3 + EnvironmentKeys.SubjectIdSize)..], version);
        return PersonHeaderSize;
    }

    public static int WriteEnvironmentHeader(Span<byte> header, uint period)
    {
        header[0] = Version1;
        header[1] = AesGcm256;
        header[2] = EnvironmentKeyKind;
        BinaryPrimitives.WriteUInt32BigEndian(header[3..], period);
        return EnvironmentHeaderSize;
    }

    /// <summary>True when both strings fit the context (at most 256 UTF-8 bytes each).</summary>
    public static bool FitsContext(string value) =>
        value.Length <= MaxContextPartBytes && Encoding.UTF8.GetByteCount(value) <= MaxContextPartBytes;

    public static string Seal(EnvironmentKeys environmentKeys, DataKey dataKey, ReadOnlySpan<byte> header, string internalId, ReadOnlySpan<byte> plaintext)
    {
        Span<byte> authenticated = stackalloc byte[MaxAuthenticatedSize];
        header.CopyTo(authenticated);
        var associatedLength = header.Length + WriteContext(environmentKeys.Environment, internalId, authenticated[header.Length..]);

        var total = header.Length + plaintext.Length + Overhead;
        var rented = ArrayPool<byte>.Shared.Rent(total);
        try
        {
            var output = rented.AsSpan(0, total);
            header.CopyTo(output);
            var nonce = output.Slice(header.Length, DataKey.NonceSize);
            var ciphertext = output.Slice(header.Length + DataKey.NonceSize, plaintext.Length);
            var tag = output.Slice(header.Length + DataKey.NonceSize + plaintext.Length, DataKey.TagSize);
            var check = output[^EnvironmentKeys.CheckSize..];

            Nonces.Fill(nonce);
            dataKey.Encrypt(nonce, plaintext, ciphertext, tag, authenticated[..associatedLength]);

            nonce.CopyTo(authenticated[associatedLength..]);
            tag.CopyTo(authenticated[(associatedLength + DataKey.NonceSize)..]);
            environmentKeys.ComputeCheck(authenticated[..(associatedLength + DataKey.NonceSize + DataKey.TagSize)], check);

            return Base64Url.EncodeToString(output);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>A decoded sealed value whose structure is valid; nothing about it is authenticated yet.</summary>
    public sealed class Parsed
    {
        private readonly byte[] _bytes;
        private readonly int _headerSize;

        private Parsed(byte[] bytes, int headerSize)
        {
            _bytes = bytes;
            _headerSize = headerSize;
        }

        public byte Kind => _bytes[2];

        public UInt128 SubjectId => BinaryPrimitives.ReadUInt128BigEndian(_bytes.AsSpan(3));

        public ulong PersonKeyVersion => BinaryPrimitives.ReadUInt64BigEndian(_bytes.AsSpan(3 + EnvironmentKeys.SubjectIdSize));

        public uint Period => BinaryPrimitives.ReadUInt32BigEndian(_bytes.AsSpan(3));

        private ReadOnlySpan<byte> Header => _bytes.AsSpan(0, _headerSize);

        private ReadOnlySpan<byte> Nonce => _bytes.AsSpan(_headerSize, DataKey.NonceSize);

        private ReadOnlySpan<byte> Ciphertext => _bytes.AsSpan(_headerSize + DataKey.NonceSize, _bytes.Length - _headerSize - Overhead);

        private ReadOnlySpan<byte> Tag => _bytes.AsSpan(_bytes.Length - DataKey.TagSize - EnvironmentKeys.CheckSize, DataKey.TagSize);

        private ReadOnlySpan<byte> Check => _bytes.AsSpan(_bytes.Length - EnvironmentKeys.CheckSize);

        public static Parsed Parse(string sealedUser)
        {
            if (string.IsNullOrEmpty(sealedUser) || sealedUser.Length > 8 * 1024 * 1024)
            {
                throw new UserDataUnreadableException("The sealed user value is empty or too large.");
            }

            byte[] bytes;
            try
            {
                bytes = Base64Url.DecodeFromChars(sealedUser);
            }
            catch (FormatException ex)
            {
                throw new UserDataUnreadableException("The sealed user value is not base64url.", ex);
            }

            if (bytes.Length < 3)
            {
                throw new UserDataUnreadableException("The sealed user value is truncated.");
            }

            if (bytes[0] != Version1)
            {
                throw new UserDataUnreadableException($"The sealed user value has format version {bytes[0]}, which this service does not know.");
            }

            if (bytes[1] != AesGcm256)
            {
                throw new UserDataUnreadableException($"The sealed user value names algorithm {bytes[1]}, which this service does not know.");
            }

            var headerSize = bytes[2] switch
            {
                PersonKeyKind => PersonHeaderSize,
                EnvironmentKeyKind => EnvironmentHeaderSize,
                _ => throw new UserDataUnreadableException($"The sealed user value names key kind {bytes[2]}, which this service does not know."),
            };
            if (bytes.Length < headerSize + Overhead)
            {
                throw new UserDataUnreadableException("The sealed user value is truncated.");
            }

            return new Parsed(bytes, headerSize);
        }

        /// <summary>Whether the header, nonce and tag are exactly what was sealed for this environment and event.</summary>
        public bool IsAuthentic(EnvironmentKeys environmentKeys, string internalId)
        {
            Span<byte> authenticated = stackalloc byte[MaxAuthenticatedSize];
            var length = WriteAuthenticated(environmentKeys.Environment, internalId, authenticated, out _);
            return environmentKeys.CheckMatches(authenticated[..length], Check);
        }

        public byte[] Decrypt(DataKey dataKey, EnvironmentKeys environmentKeys, string internalId)
        {
            Span<byte> authenticated = stackalloc byte[MaxAuthenticatedSize];
            WriteAuthenticated(environmentKeys.Environment, internalId, authenticated, out var associatedLength);
            var plaintext = new byte[Ciphertext.Length];
            if (!dataKey.TryDecrypt(Nonce, Ciphertext, Tag, plaintext, authenticated[..associatedLength]))
            {
                throw new UserDataUnreadableException("The sealed user value does not decrypt: it was altered or sealed for another event.");
            }

            return plaintext;
        }

        private int WriteAuthenticated(string environment, string internalId, Span<byte> destination, out int associatedLength)
        {
            Header.CopyTo(destination);
            associatedLength = _headerSize + WriteContext(environment, internalId, destination[_headerSize..]);
            Nonce.CopyTo(destination[associatedLength..]);
            Tag.CopyTo(destination[(associatedLength + DataKey.NonceSize)..]);
            return associatedLength + DataKey.NonceSize + DataKey.TagSize;
        }
    }

    private static int WriteContext(string environment, string internalId, Span<byte> destination)
    {
        var length = WritePart(environment, destination);
        return length + WritePart(internalId, destination[length..]);
    }

    private static int WritePart(string value, Span<byte> destination)
    {
        var written = Encoding.UTF8.GetBytes(value, destination[2..]);
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)written);
        return 2 + written;
    }
}
