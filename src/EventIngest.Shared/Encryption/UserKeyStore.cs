using System.Buffers.Binary;
using System.Security.Cryptography;
using Azure;
using Azure.Core.Cryptography;
using Azure.Data.Tables;
using EventIngest.Telemetry;
using Microsoft.Extensions.Logging;
using EventIngest.Storage;
using EventIngest.Encryption.KeyProviders;

namespace EventIngest.Encryption;

/// <summary>A person's current key and its random version (which changes when the person is erased and comes back).</summary>
internal sealed record PersonKey(ulong Version, DataKey Key);

/// <summary>
/// The key table (<c>{prefix}keys</c>) and the in-memory caches in front of it.
/// <list type="bullet">
/// <item>Environment keys: PartitionKey <c>environment</c>, RowKey the environment name; 32 random
/// bytes wrapped by the key-encryption key, with the versioned kid that wrapped them.</item>
/// <item>Person keys: PartitionKey <c>person|{environment}|{subject id hex}</c>, RowKey <c>key</c>;
/// 32 random bytes and a random version, wrapped (AES-256-GCM) by the environment's person-key
/// wrapping key. Erasure deletes this row.</item>
/// </list>
/// </summary>
internal sealed partial class UserKeyStore
{
    private const string EnvironmentPartition = "environment";
    private const string PersonRowKey = "key";
    private const int FormatVersion = 1;
    private const int MaxEnvironments = 1024;
    private const int MaxConflictRetries = 3;

    private readonly TableClient _table;
    private readonly IKeyEncryptionKey _keyEncryptionKey;
    private readonly IKeyEncryptionKeyResolver _keyResolver;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TimeSpan _storageTimeout;
    private readonly TimeSpan _keyVaultTimeout;
    private readonly SingleFlightCache<string, EnvironmentKeys> _environments;
    private readonly SingleFlightCache<PersonRef, PersonKey> _persons;
    private readonly IngestMetrics? _metrics;
    private Task? _tableReady;

    public UserKeyStore(
        TableServiceClient tableService,
        IKeyEncryptionKey keyEncryptionKey,
        IKeyEncryptionKeyResolver keyResolver,
        EncryptionOptions encryption,
        StorageOptions storage,
        TimeProvider time,
        ILogger logger,
        IngestMetrics? metrics)
    {
        _metrics = metrics;
        _table = tableService.GetTableClient(storage.Prefix + "keys");
        _keyEncryptionKey = keyEncryptionKey;
        _keyResolver = keyResolver;
        _time = time;
        _logger = logger;
        _storageTimeout = storage.OperationTimeout;
        _keyVaultTimeout = encryption.KeyVaultTimeout;
        _environments = new SingleFlightCache<string, EnvironmentKeys>(encryption.EnvironmentKeyCacheDuration, MaxEnvironments, time);
        _persons = new SingleFlightCache<PersonRef, PersonKey>(encryption.PersonKeyCacheDuration, encryption.PersonKeyCacheSize, time);
    }

    public string TableName => _table.Name;

    public Task InitializeAsync(CancellationToken cancellationToken) => EnsureTableAsync().WaitAsync(cancellationToken);

    public bool TryGetEnvironmentKeys(string environment, out EnvironmentKeys keys) => _environments.TryGet(environment, out keys);

    public ValueTask<EnvironmentKeys> GetEnvironmentKeysAsync(string environment, CancellationToken cancellationToken) =>
        _environments.GetOrLoadAsync(environment, this, static (environment, store, _) => store.LoadEnvironmentKeysAsync(environment), cancellationToken);

    public bool TryGetPersonKey(EnvironmentKeys environment, UInt128 subjectId, out PersonKey key)
    {
        // A miss is counted where the key is then read from the table (below), not here.
        var hit = _persons.TryGet(new PersonRef(environment.Environment, subjectId), out key);
        if (hit) _metrics?.PersonKeyLookup(hit: true);
        return hit;
    }

    public ValueTask<PersonKey> GetOrCreatePersonKeyAsync(EnvironmentKeys environment, UInt128 subjectId, CancellationToken cancellationToken) =>
        _persons.GetOrLoadAsync(new PersonRef(environment.Environment, subjectId), environment, (person, keys, _) =>
        {
            _metrics?.PersonKeyLookup(hit: false);
            return LoadOrCreatePersonKeyAsync(keys, person.SubjectId);
        }, cancellationToken);

    /// <summary>The person key of that version, or null when it no longer exists (erased). A cached
    /// key of another version is checked against the table, since another instance may have
    /// erased and re-created it.</summary>
    public async ValueTask<PersonKey?> FindPersonKeyAsync(EnvironmentKeys environment, UInt128 subjectId, ulong version, CancellationToken cancellationToken)
    {
        var person = new PersonRef(environment.Environment, subjectId);
        if (_persons.TryGet(person, out var cached) && cached.Version == version)
        {
            _metrics?.PersonKeyLookup(hit: true);
            return cached;
        }
        _metrics?.PersonKeyLookup(hit: false);

        var current = await ReadPersonKeyAsync(environment, subjectId, cancellationToken);
        if (current is null)
        {
            _persons.Remove(person);
            return null;
        }

        _persons.Set(person, current);
        return current.Version == version ? current : null;
    }

    /// <summary>Deletes the person's key row; true when there was one.</summary>
    public async Task<bool> ErasePersonAsync(EnvironmentKeys environment, UInt128 subjectId, CancellationToken cancellationToken)
    {
        await EnsureTableAsync().WaitAsync(cancellationToken);
        var partition = PersonPartition(environment.Environment, subjectId);
        // Whether there was a key is read first: the delete's own 404 cannot say, since a delete that
        // landed while its response was lost is retried and answers 404 the second time.
        var found = (await StorageAsync(
            ct => _table.GetEntityIfExistsAsync<TableEntity>(partition, PersonRowKey, ["PartitionKey"], ct),
            "read a person key",
            cancellationToken)).HasValue;
        // The table answers 404 for a row that does not exist; the SDK returns it rather than throwing.
        await StorageAsync(
            ct => _table.DeleteEntityAsync(partition, PersonRowKey, ETag.All, ct),
            "erase a person key",
            cancellationToken);
        _persons.Remove(new PersonRef(environment.Environment, subjectId));
        LogPersonErased(environment.Environment, found);
        _metrics?.Erased(environment.Environment, found);
        return found;
    }

    /// <summary>Re-wraps the environment key under the key-encryption key's current version, so older
    /// versions can be disabled. The environment key itself (and so every sealed value) is unchanged.</summary>
    public async Task<string> RewrapEnvironmentKeyAsync(string environment, CancellationToken cancellationToken)
    {
        await EnsureTableAsync().WaitAsync(cancellationToken);
        for (var attempt = 0; ; attempt++)
        {
            var row = await StorageAsync(ct => _table.GetEntityIfExistsAsync<TableEntity>(EnvironmentPartition, environment, cancellationToken: ct), "read an environment key", cancellationToken);
            if (!row.HasValue || row.Value is null)
            {
                throw new InvalidOperationException($"Environment '{environment}' has no environment key in table {_table.Name}; there is nothing to rewrap.");
            }

            var entity = row.Value;
            var current = await KeyOperationAsync("resolve", ct => _keyResolver.ResolveAsync(_keyEncryptionKey.KeyId, ct), cancellationToken);
            var recordedKeyId = entity.GetString("KeyEncryptionKeyId");
            if (recordedKeyId == current.KeyId)
            {
                return current.KeyId;
            }

            var secret = await UnwrapEnvironmentKeyAsync(environment, entity, cancellationToken);
            var wrapped = await KeyOperationAsync("wrap", ct => current.WrapKeyAsync(KeyVaultKey.RsaOaep256, secret, ct), cancellationToken);
            CryptographicOperations.ZeroMemory(secret);
            entity["KeyEncryptionKeyId"] = current.KeyId;
            entity["WrappedKey"] = wrapped;
            entity["RewrappedAt"] = _time.GetUtcNow();
            try
            {
                await StorageAsync(ct => _table.UpdateEntityAsync(entity, entity.ETag, TableUpdateMode.Replace, ct), "rewrap an environment key", cancellationToken);
                LogEnvironmentKeyRewrapped(environment, recordedKeyId, current.KeyId);
                return current.KeyId;
            }
            catch (RequestFailedException ex) when (ex.Status == 412 && attempt < MaxConflictRetries)
            {
            }
        }
    }

    private async Task<EnvironmentKeys> LoadEnvironmentKeysAsync(string environment)
    {
        await EnsureTableAsync();
        for (var attempt = 0; ; attempt++)
        {
            var row = await StorageAsync(ct => _table.GetEntityIfExistsAsync<TableEntity>(EnvironmentPartition, environment, cancellationToken: ct), "read an environment key", default);
            if (row.HasValue && row.Value is not null)
            {
                var secret = await UnwrapEnvironmentKeyAsync(environment, row.Value, default);
                try
                {
                    return new EnvironmentKeys(environment, secret);
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(secret);
                }
            }

            var created = RandomNumberGenerator.GetBytes(DataKey.KeySize);
            try
            {
                var keyEncryptionKey = await KeyOperationAsync("resolve", ct => _keyResolver.ResolveAsync(_keyEncryptionKey.KeyId, ct), default);
                var wrapped = await KeyOperationAsync("wrap", ct => keyEncryptionKey.WrapKeyAsync(KeyVaultKey.RsaOaep256, created, ct), default);
                var entity = new TableEntity(EnvironmentPartition, environment)
                {
                    ["Format"] = FormatVersion,
                    ["KeyEncryptionKeyId"] = keyEncryptionKey.KeyId,
                    ["Algorithm"] = KeyVaultKey.RsaOaep256,
                    ["WrappedKey"] = wrapped,
                    ["CreatedAt"] = _time.GetUtcNow(),
                };
                await StorageAsync(ct => _table.AddEntityAsync(entity, ct), "create an environment key", default);
                LogEnvironmentKeyCreated(environment, keyEncryptionKey.KeyId);
                return new EnvironmentKeys(environment, created);
            }
            catch (RequestFailedException ex) when (ex.Status == 409 && attempt < MaxConflictRetries)
            {
                // Another instance created it first; use theirs.
            }
            finally
            {
                CryptographicOperations.ZeroMemory(created);
            }
        }
    }

    private async Task<byte[]> UnwrapEnvironmentKeyAsync(string environment, TableEntity entity, CancellationToken cancellationToken)
    {
        var keyId = entity.GetString("KeyEncryptionKeyId");
        var algorithm = entity.GetString("Algorithm");
        var wrapped = entity.GetBinary("WrappedKey");
        if (string.IsNullOrEmpty(keyId) || string.IsNullOrEmpty(algorithm) || wrapped is null)
        {
            throw new CryptographicException($"The environment key record of '{environment}' in table {_table.Name} is incomplete.");
        }

        var keyEncryptionKey = await KeyOperationAsync("resolve", ct => _keyResolver.ResolveAsync(keyId, ct), cancellationToken);
        var secret = await KeyOperationAsync("unwrap", ct => keyEncryptionKey.UnwrapKeyAsync(algorithm, wrapped, ct), cancellationToken);
        if (secret.Length != DataKey.KeySize)
        {
            throw new CryptographicException($"The environment key of '{environment}' unwrapped to {secret.Length} bytes, not {DataKey.KeySize}.");
        }

        return secret;
    }

    private async Task<PersonKey> LoadOrCreatePersonKeyAsync(EnvironmentKeys environment, UInt128 subjectId)
    {
        for (var attempt = 0; ; attempt++)
        {
            var existing = await ReadPersonKeyAsync(environment, subjectId, default);
            if (existing is not null)
            {
                return existing;
            }

            var version = BinaryPrimitives.ReadUInt64BigEndian(RandomNumberGenerator.GetBytes(8));
            var secret = RandomNumberGenerator.GetBytes(DataKey.KeySize);
            try
            {
                var entity = new TableEntity(PersonPartition(environment.Environment, subjectId), PersonRowKey)
                {
                    ["Format"] = FormatVersion,
                    ["Version"] = unchecked((long)version),
                    ["WrappedKey"] = WrapPersonKey(environment, subjectId, version, secret),
                    ["CreatedAt"] = _time.GetUtcNow(),
                };
                await StorageAsync(ct => _table.AddEntityAsync(entity, ct), "create a person key", default);
                return new PersonKey(version, new DataKey(secret));
            }
            catch (RequestFailedException ex) when (ex.Status == 409 && attempt < MaxConflictRetries)
            {
                // Another request or instance created this person's key first; use theirs.
            }
            finally
            {
                CryptographicOperations.ZeroMemory(secret);
            }
        }
    }

    private async Task<PersonKey?> ReadPersonKeyAsync(EnvironmentKeys environment, UInt128 subjectId, CancellationToken cancellationToken)
    {
        await EnsureTableAsync().WaitAsync(cancellationToken);
        var row = await StorageAsync(
            ct => _table.GetEntityIfExistsAsync<TableEntity>(PersonPartition(environment.Environment, subjectId), PersonRowKey, cancellationToken: ct),
            "read a person key",
            cancellationToken);
        if (!row.HasValue || row.Value is null)
        {
            return null;
        }

        var version = unchecked((ulong)(row.Value.GetInt64("Version") ?? 0));
        var wrapped = row.Value.GetBinary("WrappedKey");
        var secret = new byte[DataKey.KeySize];
        try
        {
            if (wrapped is null || wrapped.Length != DataKey.NonceSize + DataKey.KeySize + DataKey.TagSize
                || !environment.PersonKeyWrapping.TryDecrypt(
                    wrapped.AsSpan(0, DataKey.NonceSize),
                    wrapped.AsSpan(DataKey.NonceSize, DataKey.KeySize),
                    wrapped.AsSpan(DataKey.NonceSize + DataKey.KeySize),
                    secret,
                    PersonKeyAssociatedData(environment.Environment, subjectId, version)))
            {
                throw new CryptographicException($"A person key record in table {_table.Name} cannot be unwrapped: it was altered or copied from another person or environment.");
            }

            return new PersonKey(version, new DataKey(secret));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secret);
        }
    }

    private static byte[] WrapPersonKey(EnvironmentKeys environment, UInt128 subjectId, ulong version, ReadOnlySpan<byte> secret)
    {
        var wrapped = new byte[DataKey.NonceSize + DataKey.KeySize + DataKey.TagSize];
        var nonce = wrapped.AsSpan(0, DataKey.NonceSize);
        RandomNumberGenerator.Fill(nonce);
        environment.PersonKeyWrapping.Encrypt(
            nonce,
            secret,
            wrapped.AsSpan(DataKey.NonceSize, DataKey.KeySize),
            wrapped.AsSpan(DataKey.NonceSize + DataKey.KeySize),
            PersonKeyAssociatedData(environment.Environment, subjectId, version));
        return wrapped;
    }

    private static byte[] PersonKeyAssociatedData(string environment, UInt128 subjectId, ulong version) =>
        System.Text.Encoding.UTF8.GetBytes($"person-key/v1/{environment}/{subjectId:x32}/{version:x16}");

    private static string PersonPartition(string environment, UInt128 subjectId) => $"person|{environment}|{subjectId:x32}";

    private Task EnsureTableAsync()
    {
        var ready = Volatile.Read(ref _tableReady);
        if (ready is { IsCompletedSuccessfully: true })
        {
            return ready;
        }

        if (ready is null || ready.IsFaulted || ready.IsCanceled)
        {
            var created = StorageAsync(ct => _table.CreateIfNotExistsAsync(ct), "create the key table", default);
            ready = Interlocked.CompareExchange(ref _tableReady, created, ready) == ready ? created : Volatile.Read(ref _tableReady)!;
        }

        return ready;
    }

    /// <summary>A key table call bounded by the storage timeout; transient failures become <see cref="KeyManagementUnavailableException"/>.</summary>
    private async Task<T> StorageAsync<T>(Func<CancellationToken, Task<T>> call, string operation, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_storageTimeout);
        try
        {
            return await call(timeout.Token);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new KeyManagementUnavailableException($"The key table {_table.Name} did not answer ({operation}) within {_storageTimeout.TotalSeconds:0.#} s.", null, ex);
        }
        catch (RequestFailedException ex) when (IsTransient(ex.Status))
        {
            throw new KeyManagementUnavailableException($"The key table {_table.Name} is unavailable ({operation}): {ex.Status} {ex.ErrorCode}.", null, ex);
        }
        catch (AggregateException ex)
        {
            // What Azure.Core throws when every retry failed in the transport.
            throw new KeyManagementUnavailableException($"The key table {_table.Name} is unreachable ({operation}).", null, ex);
        }
    }

    /// <summary>A key-encryption key call bounded by the Key Vault timeout; transient failures become <see cref="KeyManagementUnavailableException"/>.</summary>
    private async Task<T> KeyOperationAsync<T>(string operation, Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            var result = await KeyOperationAsync(call, cancellationToken);
            _metrics?.KeyOperation(operation, null);
            return result;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            _metrics?.KeyOperation(operation, ex);
            throw;
        }
    }

    private async Task<T> KeyOperationAsync<T>(Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_keyVaultTimeout);
        try
        {
            return await call(timeout.Token);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new KeyManagementUnavailableException($"The key-encryption key did not answer within {_keyVaultTimeout.TotalSeconds:0.#} s.", null, ex);
        }
        catch (RequestFailedException ex) when (IsTransient(ex.Status))
        {
            throw new KeyManagementUnavailableException($"The key-encryption key is unavailable: {ex.Status} {ex.ErrorCode}.", null, ex);
        }
        catch (AggregateException ex)
        {
            throw new KeyManagementUnavailableException("The key-encryption key is unreachable.", null, ex);
        }
    }

    private static bool IsTransient(int status) => status is 0 or 408 or 429 or >= 500;

    [LoggerMessage(Level = LogLevel.Information, Message = "Created the environment key of {Environment}, wrapped by {KeyEncryptionKeyId}")]
    private partial void LogEnvironmentKeyCreated(string environment, string keyEncryptionKeyId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Rewrapped the environment key of {Environment} from {OldKeyEncryptionKeyId} to {KeyEncryptionKeyId}")]
    private partial void LogEnvironmentKeyRewrapped(string environment, string? oldKeyEncryptionKeyId, string keyEncryptionKeyId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Erased a person's key material in {Environment} (found: {Found})")]
    private partial void LogPersonErased(string environment, bool found);

    private readonly record struct PersonRef(string Environment, UInt128 SubjectId);
}
