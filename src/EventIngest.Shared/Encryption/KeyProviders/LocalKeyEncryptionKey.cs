using System.Security.Cryptography;
using Azure.Core.Cryptography;

namespace EventIngest.Encryption.KeyProviders;

/// <summary>
/// A key-encryption key kept in a local file, for the local host and tests: an RSA-3072 key
/// generated on first run (PKCS#8 PEM, owner-only file mode on Unix) and used with RSA-OAEP-256,
/// the same algorithm as the Key Vault key, so the rest of the service cannot tell them apart.
/// Its id is derived from the public key, so it is stable for as long as the file is kept;
/// deleting the file makes everything it protected unreadable.
/// </summary>
public sealed class LocalKeyEncryptionKey : IKeyEncryptionKey, IKeyEncryptionKeyResolver, IDisposable
{
    private const UnixFileMode OwnerOnlyDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly RSA _rsa;

    private LocalKeyEncryptionKey(RSA rsa)
    {
        _rsa = rsa;
        var thumbprint = SHA256.HashData(rsa.ExportSubjectPublicKeyInfo());
        KeyId = "local:" + Convert.ToHexStringLower(thumbprint.AsSpan(0, 16));
    }

    /// <summary><c>local:</c> followed by a hash of the public key.</summary>
    public string KeyId { get; }

    /// <summary>Loads the key at <paramref name="path"/>, creating the file (and its directories) on first use.</summary>
    public static LocalKeyEncryptionKey LoadOrCreate(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        path = Path.GetFullPath(path);
        if (!File.Exists(path))
        {
            Create(path);
        }

        var rsa = RSA.Create();
        try
        {
            rsa.ImportFromPem(File.ReadAllText(path));
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            rsa.Dispose();
            throw new InvalidOperationException($"The local key file {path} does not hold an RSA private key (EventIngest:Encryption:LocalKeyPath).", ex);
        }

        return new LocalKeyEncryptionKey(rsa);
    }

    private static void Create(string path)
    {
        var directory = Path.GetDirectoryName(path)!;
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
        }
        else
        {
            Directory.CreateDirectory(directory, OwnerOnlyDirectory);
        }

        using var rsa = RSA.Create(3072);
        var temporary = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = OwnerOnlyFile;
        }

        using (var stream = new FileStream(temporary, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(rsa.ExportPkcs8PrivateKeyPem());
        }

        try
        {
            // Two processes starting at once must end up with the same key: the first rename wins.
            File.Move(temporary, path, overwrite: false);
        }
        catch (IOException) when (File.Exists(path))
        {
            File.Delete(temporary);
        }
    }

    public byte[] WrapKey(string algorithm, ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default)
    {
        EnsureAlgorithm(algorithm);
        return _rsa.Encrypt(key.Span, RSAEncryptionPadding.OaepSHA256);
    }

    public Task<byte[]> WrapKeyAsync(string algorithm, ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default) =>
        Task.FromResult(WrapKey(algorithm, key, cancellationToken));

    public byte[] UnwrapKey(string algorithm, ReadOnlyMemory<byte> encryptedKey, CancellationToken cancellationToken = default)
    {
        EnsureAlgorithm(algorithm);
        try
        {
            return _rsa.Decrypt(encryptedKey.Span, RSAEncryptionPadding.OaepSHA256);
        }
        catch (CryptographicException ex)
        {
            throw new CryptographicException($"The local key {KeyId} cannot unwrap this key: it was wrapped by another key or altered.", ex);
        }
    }

    public Task<byte[]> UnwrapKeyAsync(string algorithm, ReadOnlyMemory<byte> encryptedKey, CancellationToken cancellationToken = default) =>
        Task.FromResult(UnwrapKey(algorithm, encryptedKey, cancellationToken));

    public IKeyEncryptionKey Resolve(string keyId, CancellationToken cancellationToken = default) =>
        string.Equals(keyId, KeyId, StringComparison.Ordinal)
            ? this
            : throw new InvalidOperationException($"Key '{keyId}' is not the local key {KeyId}; data wrapped by it cannot be opened with this key file.");

    public Task<IKeyEncryptionKey> ResolveAsync(string keyId, CancellationToken cancellationToken = default) =>
        Task.FromResult(Resolve(keyId, cancellationToken));

    public void Dispose() => _rsa.Dispose();

    private static void EnsureAlgorithm(string algorithm)
    {
        if (algorithm != KeyVaultKey.RsaOaep256)
        {
            throw new NotSupportedException($"Key wrap algorithm '{algorithm}' is not supported; use {KeyVaultKey.RsaOaep256}.");
        }
    }
}
