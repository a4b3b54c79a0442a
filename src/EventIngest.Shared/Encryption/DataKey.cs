using System.Security.Cryptography;

namespace EventIngest.Encryption;

/// <summary>
/// A 256-bit AES-GCM key with a reusable cipher instance. <see cref="AesGcm"/> is not safe for
/// concurrent use, and building one costs about as much as encrypting 1 KiB, so the instance is
/// used under a lock when free and a throwaway one is built when it is busy.
/// </summary>
internal sealed class DataKey
{
    public const int KeySize = 32;
    public const int NonceSize = 12;
    public const int TagSize = 16;

    private readonly byte[] _key;
    private readonly AesGcm _aes;
    private readonly Lock _lock = new();

    public DataKey(ReadOnlySpan<byte> key)
    {
        if (key.Length != KeySize)
        {
            throw new CryptographicException($"A data key is {KeySize} bytes, not {key.Length}.");
        }

        _key = key.ToArray();
        _aes = new AesGcm(_key, TagSize);
    }

    public void Encrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext, Span<byte> tag, ReadOnlySpan<byte> associatedData)
    {
        if (_lock.TryEnter())
        {
            try
            {
                _aes.Encrypt(nonce, plaintext, ciphertext, tag, associatedData);
            }
            finally
            {
                _lock.Exit();
            }
        }
        else
        {
            using var aes = new AesGcm(_key, TagSize);
            aes.Encrypt(nonce, plaintext, ciphertext, tag, associatedData);
        }
    }

    /// <summary>False when the tag does not match: wrong key, wrong associated data, or altered bytes.</summary>
    public bool TryDecrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        try
        {
            if (_lock.TryEnter())
            {
                try
                {
                    _aes.Decrypt(nonce, ciphertext, tag, plaintext, associatedData);
                }
                finally
                {
                    _lock.Exit();
                }
            }
            else
            {
                using var aes = new AesGcm(_key, TagSize);
                aes.Decrypt(nonce, ciphertext, tag, plaintext, associatedData);
            }

            return true;
        }
        catch (AuthenticationTagMismatchException)
        {
            return false;
        }
    }
}
