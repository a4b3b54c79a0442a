using System.Collections.Concurrent;
using System.Security.Cryptography;
using Azure.Core;
using Azure.Core.Cryptography;

namespace EventIngest.Encryption.KeyProviders;

/// <summary>
/// An RSA key in Azure Key Vault used as a key-encryption key with RSA-OAEP-256, through the Key
/// Vault keys REST API. Wrapping happens locally with the version's public key; unwrapping always
/// asks the vault, with the exact version that wrapped the key. Stands in for the official
/// <c>CryptographyClient</c>/<c>KeyResolver</c> pair, which implement the same two interfaces.
/// </summary>
/// <remarks>
/// Constructed with an unversioned id (<c>https://{vault}/keys/{name}</c>), the key wraps with the
/// latest version; callers that must record which version wrapped a key call
/// <see cref="ResolveAsync"/> with <see cref="KeyId"/> first and use the versioned key it returns.
/// </remarks>
public sealed class KeyVaultKey : IKeyEncryptionKey, IKeyEncryptionKeyResolver
{
    /// <summary>The only algorithm supported: RSAES-OAEP with SHA-256 and MGF1 with SHA-256.</summary>
    public const string RsaOaep256 = "RSA-OAEP-256";

    private readonly KeyVaultRestClient _client;
    private readonly KeyVaultKeyIdentifier _id;
    private readonly Shared _shared;
    private readonly SingleFlightCache<string, KeyVaultPublicKey> _publicKey;

    /// <param name="keyId"><c>https://{vault}.vault.azure.net/keys/{name}</c>, optionally with <c>/{version}</c>.</param>
    /// <param name="credential">Typically <c>ManagedIdentityCredential</c> or <c>DefaultAzureCredential</c>.</param>
    /// <param name="options">Pipeline options; tests replace <see cref="ClientOptions.Transport"/>.</param>
    public KeyVaultKey(Uri keyId, TokenCredential credential, KeyVaultKeyOptions? options = null)
        : this(ParseKeyId(keyId), new Shared(new KeyVaultRestClient(credential, options ??= new KeyVaultKeyOptions()), options.LatestVersionCacheDuration))
    {
    }

    private KeyVaultKey(KeyVaultKeyIdentifier id, Shared shared)
    {
        _id = id;
        _shared = shared;
        _client = shared.Client;
        // A version's public key never changes; "latest" does, so it is looked up again after a while.
        _publicKey = new SingleFlightCache<string, KeyVaultPublicKey>(
            id.IsVersioned ? TimeSpan.MaxValue : shared.LatestVersionCacheDuration, maxEntries: 1, TimeProvider.System);
    }

    /// <summary>The key id this instance was created with (versioned when it came from <see cref="ResolveAsync"/>).</summary>
    public string KeyId => _id.KeyId;

    /// <summary>Requests sent to the vault by this key and every key resolved from it, retries included.</summary>
    public long RequestCount => _client.RequestCount;

    public byte[] WrapKey(string algorithm, ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default) =>
        WrapKeyAsync(algorithm, key, cancellationToken).GetAwaiter().GetResult();

    public async Task<byte[]> WrapKeyAsync(string algorithm, ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default)
    {
        EnsureAlgorithm(algorithm);
        var publicKey = await GetPublicKeyAsync(cancellationToken);
        using var rsa = RSA.Create(publicKey.Parameters);
        return rsa.Encrypt(key.Span, RSAEncryptionPadding.OaepSHA256);
    }

    public byte[] UnwrapKey(string algorithm, ReadOnlyMemory<byte> encryptedKey, CancellationToken cancellationToken = default) =>
        UnwrapKeyAsync(algorithm, encryptedKey, cancellationToken).GetAwaiter().GetResult();

    public async Task<byte[]> UnwrapKeyAsync(string algorithm, ReadOnlyMemory<byte> encryptedKey, CancellationToken cancellationToken = default)
    {
        EnsureAlgorithm(algorithm);
        var id = _id.IsVersioned ? _id : (await GetPublicKeyAsync(cancellationToken)).Id;
        return await _client.UnwrapKeyAsync(id, algorithm, encryptedKey, cancellationToken);
    }

    public IKeyEncryptionKey Resolve(string keyId, CancellationToken cancellationToken = default) =>
        ResolveAsync(keyId, cancellationToken).GetAwaiter().GetResult();

    /// <summary>
    /// A key of the same vault by id. A versioned id gives that version (no vault call until it is
    /// used); an unversioned id gives the current latest version, fetched at most once per
    /// <see cref="KeyVaultKeyOptions.LatestVersionCacheDuration"/>. Ids of other vaults are refused,
    /// so a tampered key record can never make the service send tokens elsewhere.
    /// </summary>
    public async Task<IKeyEncryptionKey> ResolveAsync(string keyId, CancellationToken cancellationToken = default)
    {
        if (!KeyVaultKeyIdentifier.TryParse(keyId, out var id))
        {
            throw new ArgumentException($"'{keyId}' is not a Key Vault key id.", nameof(keyId));
        }

        if (!id.IsSameVault(_id))
        {
            throw new ArgumentException($"Key id '{keyId}' is not in the configured vault {_id.VaultUri}.", nameof(keyId));
        }

        if (!id.IsVersioned)
        {
            var latest = id.IsSameKey(_id) ? this : _shared.Versions.GetOrAdd(id.KeyId, _ => new KeyVaultKey(id, _shared));
            var publicKey = await latest.GetPublicKeyAsync(cancellationToken);
            var versioned = _shared.Versions.GetOrAdd(publicKey.Id.KeyId, _ => new KeyVaultKey(publicKey.Id, _shared));
            versioned._publicKey.Set(publicKey.Id.KeyId, publicKey);
            return versioned;
        }

        return id == _id ? this : _shared.Versions.GetOrAdd(id.KeyId, _ => new KeyVaultKey(id, _shared));
    }

    private ValueTask<KeyVaultPublicKey> GetPublicKeyAsync(CancellationToken cancellationToken) =>
        _publicKey.GetOrLoadAsync(_id.KeyId, this, static (_, key, ct) => key._client.GetKeyAsync(key._id, ct), cancellationToken);

    private static void EnsureAlgorithm(string algorithm)
    {
        if (algorithm != RsaOaep256)
        {
            throw new NotSupportedException($"Key wrap algorithm '{algorithm}' is not supported; use {RsaOaep256}.");
        }
    }

    private static KeyVaultKeyIdentifier ParseKeyId(Uri keyId) =>
        KeyVaultKeyIdentifier.TryParse(keyId, out var id)
            ? id
            : throw new ArgumentException($"'{keyId}' is not a Key Vault key id (https://{{vault}}/keys/{{name}}[/{{version}}]).", nameof(keyId));

    /// <summary>What every key resolved from one configured key shares: the pipeline and its counter.</summary>
    private sealed class Shared(KeyVaultRestClient client, TimeSpan latestVersionCacheDuration)
    {
        public KeyVaultRestClient Client { get; } = client;

        public TimeSpan LatestVersionCacheDuration { get; } = latestVersionCacheDuration;

        public ConcurrentDictionary<string, KeyVaultKey> Versions { get; } = new(StringComparer.OrdinalIgnoreCase);
    }
}
