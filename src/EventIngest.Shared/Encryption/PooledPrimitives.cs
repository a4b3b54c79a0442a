using System.Security.Cryptography;

namespace EventIngest.Encryption;

/// <summary>
/// HMAC-SHA256 under one key with reusable hash objects. The one-shot
/// <see cref="HMACSHA256.HashData(byte[], byte[])"/> sets up a new MAC context per call, which costs
/// several times the hashing itself at the sizes sealed per event; reused contexts do not.
/// </summary>
internal sealed class PooledHmac(byte[] key)
{
    private readonly IncrementalHash?[] _pool = new IncrementalHash?[Math.Max(4, 2 * Environment.ProcessorCount)];

    public void Compute(ReadOnlySpan<byte> data, Span<byte> destination)
    {
        var hash = Rent();
        hash.AppendData(data);
        hash.GetHashAndReset(destination);
        Return(hash);
    }

    private IncrementalHash Rent()
    {
        for (var i = 0; i < _pool.Length; i++)
        {
            if (Volatile.Read(ref _pool[i]) is not null && Interlocked.Exchange(ref _pool[i], null) is { } hash)
            {
                return hash;
            }
        }

        return IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
    }

    private void Return(IncrementalHash hash)
    {
        for (var i = 0; i < _pool.Length; i++)
        {
            if (Interlocked.CompareExchange(ref _pool[i], hash, null) is null)
            {
                return;
            }
        }

        hash.Dispose();
    }
}

/// <summary>AES-GCM nonces drawn from a per-thread block of system randomness, refilled 4 KiB at a
/// time: one call to the system generator per 341 nonces instead of one per nonce.</summary>
internal static class Nonces
{
    private const int BlockSize = 4096;

    [ThreadStatic]
    private static byte[]? t_block;

    [ThreadStatic]
    private static int t_used;

    public static void Fill(Span<byte> nonce)
    {
        var block = t_block;
        if (block is null || t_used + nonce.Length > BlockSize)
        {
            block = t_block ??= new byte[BlockSize];
            RandomNumberGenerator.Fill(block);
            t_used = 0;
        }

        // Each byte is handed out once and then wiped, so no nonce can repeat or be recovered.
        var slice = block.AsSpan(t_used, nonce.Length);
        slice.CopyTo(nonce);
        slice.Clear();
        t_used += nonce.Length;
    }
}
