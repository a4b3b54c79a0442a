using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace EventIngest.Encryption;

/// <summary>
/// Keys derived (HKDF-SHA256) from one environment's 256-bit environment key, which lives in the
/// key table wrapped by the key-encryption key and never leaves memory otherwise:
/// the subject-id key (HMAC of <c>external_id</c>), the person-key wrapping key, the check key
/// (authenticates sealed headers, so tampering and erasure can be told apart) and one data key per
/// hour for <c>user</c> objects without an <c>external_id</c>.
/// </summary>
internal sealed class EnvironmentKeys
{
    public const int SubjectIdSize = 16;
    public const int CheckSize = 16;
    private const int MaxPeriodKeys = 64;

    private readonly byte[] _environmentKey;
    private readonly PooledHmac _subjectIdHmac;
    private readonly PooledHmac _checkHmac;
    private readonly ConcurrentDictionary<uint, DataKey> _periodKeys = new();

    public EnvironmentKeys(string environment, ReadOnlySpan<byte> environmentKey)
    {
        if (environmentKey.Length != DataKey.KeySize)
        {
            throw new CryptographicException($"The environment key of '{environment}' is {environmentKey.Length} bytes, not {DataKey.KeySize}.");
        }

        Environment = environment;
        _environmentKey = environmentKey.ToArray();
        _subjectIdHmac = new PooledHmac(Derive("subject-id", []));
        _checkHmac = new PooledHmac(Derive("sealed-check", []));
        PersonKeyWrapping = new DataKey(Derive("person-key-wrap", []));
    }

    public string Environment { get; }

    /// <summary>Wraps person keys for the key table (AES-256-GCM).</summary>
    public DataKey PersonKeyWrapping { get; }

    /// <summary>The keyed hash of an <c>external_id</c>, truncated to 128 bits: the only form in which a person is named in storage.</summary>
    public UInt128 ComputeSubjectId(ReadOnlySpan<byte> externalIdUtf8)
    {
        Span<byte> hash = stackalloc byte[HMACSHA256.HashSizeInBytes];
        _subjectIdHmac.Compute(externalIdUtf8, hash);
        return BinaryPrimitives.ReadUInt128BigEndian(hash);
    }

    public void ComputeCheck(ReadOnlySpan<byte> input, Span<byte> destination)
    {
        Span<byte> hash = stackalloc byte[HMACSHA256.HashSizeInBytes];
        _checkHmac.Compute(input, hash);
        hash[..CheckSize].CopyTo(destination);
    }

    public bool CheckMatches(ReadOnlySpan<byte> input, ReadOnlySpan<byte> check)
    {
        Span<byte> expected = stackalloc byte[CheckSize];
        ComputeCheck(input, expected);
        return CryptographicOperations.FixedTimeEquals(expected, check);
    }

    /// <summary>The data key of one hour (hours since the Unix epoch). A fresh key every hour keeps
    /// each key far below the 2^32 random-nonce limit of AES-GCM at any ingest rate storage allows.</summary>
    public DataKey GetPeriodKey(uint period)
    {
        if (_periodKeys.TryGetValue(period, out var key))
        {
            return key;
        }

        if (_periodKeys.Count >= MaxPeriodKeys)
        {
            _periodKeys.Clear();
        }

        Span<byte> periodBytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(periodBytes, period);
        return _periodKeys.GetOrAdd(period, new DataKey(Derive("environment-data", periodBytes)));
    }

    private byte[] Derive(string purpose, ReadOnlySpan<byte> suffix)
    {
        var label = Encoding.UTF8.GetBytes($"EventIngest/user/v1/{purpose}/{Environment}/");
        var info = new byte[label.Length + suffix.Length];
        label.CopyTo(info, 0);
        suffix.CopyTo(info.AsSpan(label.Length));
        return HKDF.Expand(HashAlgorithmName.SHA256, _environmentKey, DataKey.KeySize, info);
    }
}
