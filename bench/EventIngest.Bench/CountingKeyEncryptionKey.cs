using Azure.Core.Cryptography;

namespace EventIngest.Bench;

/// <summary>
/// A key-encryption key that counts what would be Key Vault operations: key lookups (resolving a
/// key id), wraps and unwraps, around a key that does the cryptography locally. Every call counts,
/// so the figure is an upper bound: the Key Vault client wraps with a cached public key and resolves
/// a versioned id without calling the vault.
/// </summary>
public sealed class CountingKeyEncryptionKey(IKeyEncryptionKey inner, IKeyEncryptionKeyResolver innerResolver) : IKeyEncryptionKey, IKeyEncryptionKeyResolver
{
    private int _lookups;
    private int _wraps;
    private int _unwraps;

    public string KeyId => inner.KeyId;

    public int Lookups => Volatile.Read(ref _lookups);

    public int Wraps => Volatile.Read(ref _wraps);

    public int Unwraps => Volatile.Read(ref _unwraps);

    public int Operations => Lookups + Wraps + Unwraps;

    public byte[] WrapKey(string algorithm, ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _wraps);
        return inner.WrapKey(algorithm, key, cancellationToken);
    }

    public Task<byte[]> WrapKeyAsync(string algorithm, ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _wraps);
        return inner.WrapKeyAsync(algorithm, key, cancellationToken);
    }

    public byte[] UnwrapKey(string algorithm, ReadOnlyMemory<byte> encryptedKey, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _unwraps);
        return inner.UnwrapKey(algorithm, encryptedKey, cancellationToken);
    }

    public Task<byte[]> UnwrapKeyAsync(string algorithm, ReadOnlyMemory<byte> encryptedKey, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _unwraps);
        return inner.UnwrapKeyAsync(algorithm, encryptedKey, cancellationToken);
    }

    public IKeyEncryptionKey Resolve(string keyId, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _lookups);
        return Counted(innerResolver.Resolve(keyId, cancellationToken));
    }

    public async Task<IKeyEncryptionKey> ResolveAsync(string keyId, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _lookups);
        return Counted(await innerResolver.ResolveAsync(keyId, cancellationToken));
    }

    // Operations on the resolved key are counted too: that is the key the protector wraps and unwraps with.
    private IKeyEncryptionKey Counted(IKeyEncryptionKey resolved) =>
        ReferenceEquals(resolved, inner) ? this : throw new InvalidOperationException($"Key '{resolved.KeyId}' is not the counted key.");
}
