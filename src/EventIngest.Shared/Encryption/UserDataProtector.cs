using System.Buffers;
using System.Text;
using Azure.Core.Cryptography;
using Azure.Data.Tables;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using EventIngest.Telemetry;
using EventIngest.Storage;

namespace EventIngest.Encryption;

/// <summary>
/// Seals an event's <c>user</c> object for storage (tables, queue messages, blobs), opens it again,
/// and erases a person so that everything sealed for them becomes unreadable (crypto-shredding).
/// Thread-safe; register one per process.
/// </summary>
/// <remarks>
/// Failures to reach key material (Key Vault or the key table unavailable, throttled or slow) throw
/// <see cref="KeyManagementUnavailableException"/>: answer 503 with <c>Retry-After</c> and store nothing.
/// Key Vault is called once per environment per <see cref="EncryptionOptions.EnvironmentKeyCacheDuration"/>
/// per instance, never per event. See docs/encryption.md.
/// </remarks>
public sealed class UserDataProtector
{
    private const int BatchLoadParallelism = 16;
    private const long MillisecondsPerPeriod = 3_600_000;

    private static readonly SearchValues<char> EnvironmentNameCharacters =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");

    private readonly UserKeyStore _keys;
    private readonly TimeProvider _time;

    public UserDataProtector(
        TableServiceClient tableService,
        IKeyEncryptionKey keyEncryptionKey,
        IKeyEncryptionKeyResolver keyResolver,
        IOptions<EncryptionOptions> encryptionOptions,
        IOptions<StorageOptions> storageOptions,
        TimeProvider timeProvider,
        ILogger<UserDataProtector> logger,
        IngestMetrics? metrics = null)
    {
        ArgumentNullException.ThrowIfNull(tableService);
        ArgumentNullException.ThrowIfNull(keyEncryptionKey);
        ArgumentNullException.ThrowIfNull(keyResolver);
        _time = timeProvider;
        _keys = new UserKeyStore(tableService, keyEncryptionKey, keyResolver, encryptionOptions.Value, storageOptions.Value, timeProvider, logger, metrics);
    }

    /// <summary>Name of the key table (<c>{prefix}keys</c>).</summary>
    public string KeyTableName => _keys.TableName;

    /// <summary>Creates the key table if needed. Optional: first use does it too.</summary>
    public Task InitializeAsync(CancellationToken cancellationToken = default) => _keys.InitializeAsync(cancellationToken);

    /// <summary>
    /// Seals one <c>user</c> object (UTF-8 JSON object) of the event <paramref name="internalId"/> in
    /// <paramref name="environment"/>. The person is read from its <c>external_id</c> (string, or number
    /// as its text); without one, the value is sealed under the environment's hourly data key.
    /// Completes synchronously, allocating only the returned string, when the keys are in memory.
    /// </summary>
    /// <returns>A base64url string (no padding), about 4/3 of the JSON size plus 95 characters.</returns>
    /// <exception cref="KeyManagementUnavailableException">Key material is unreachable right now (answer 503).</exception>
    /// <exception cref="ArgumentException">The bytes are not one JSON object, or an id is malformed.</exception>
    public ValueTask<string> SealAsync(string environment, string internalId, ReadOnlyMemory<byte> userJson, CancellationToken cancellationToken = default)
    {
        ValidateEnvironment(environment);
        ValidateInternalId(internalId);
        if (!_keys.TryGetEnvironmentKeys(environment, out var environmentKeys))
        {
            return SealWithoutCachedEnvironmentAsync(environment, internalId, userJson, cancellationToken);
        }

        if (!ExternalIdReader.TryGetSubjectId(userJson.Span, environmentKeys, out var subjectId))
        {
            return new ValueTask<string>(SealForNobody(environmentKeys, internalId, userJson.Span));
        }

        return _keys.TryGetPersonKey(environmentKeys, subjectId, out var personKey)
            ? new ValueTask<string>(SealForPerson(environmentKeys, personKey, subjectId, internalId, userJson.Span))
            : SealForUncachedPersonAsync(environmentKeys, subjectId, internalId, userJson, cancellationToken);
    }

    /// <summary>
    /// Seals many <c>user</c> objects of one environment, loading the keys of all the people they name
    /// up front and concurrently (a request of 5,000 events for 5,000 new people costs 5,000 key-table
    /// round trips at 16 at a time, not in sequence). All or nothing: if any key cannot be had, it throws
    /// and nothing should be stored.
    /// </summary>
    /// <returns>Sealed values in the order of <paramref name="users"/>.</returns>
    public async ValueTask<string[]> SealBatchAsync(string environment, IReadOnlyList<UserToSeal> users, CancellationToken cancellationToken = default)
    {
        ValidateEnvironment(environment);
        ArgumentNullException.ThrowIfNull(users);
        if (users.Count == 1)
        {
            // A request of one event needs none of the bookkeeping below, which costs more than sealing one small object.
            return [await SealAsync(environment, users[0].InternalId, users[0].UserJson, cancellationToken)];
        }

        var environmentKeys = await _keys.GetEnvironmentKeysAsync(environment, cancellationToken);

        var subjects = ArrayPool<UInt128?>.Shared.Rent(users.Count);
        try
        {
            var personKeys = new Dictionary<UInt128, PersonKey>();
            var missing = new HashSet<UInt128>();
            for (var i = 0; i < users.Count; i++)
            {
                ValidateInternalId(users[i].InternalId);
                subjects[i] = null;
                if (ExternalIdReader.TryGetSubjectId(users[i].UserJson.Span, environmentKeys, out var subjectId))
                {
                    subjects[i] = subjectId;
                    if (!personKeys.ContainsKey(subjectId))
                    {
                        if (_keys.TryGetPersonKey(environmentKeys, subjectId, out var cached))
                        {
                            personKeys[subjectId] = cached;
                        }
                        else
                        {
                            missing.Add(subjectId);
                        }
                    }
                }
            }

            if (missing.Count > 0)
            {
                var loaded = new System.Collections.Concurrent.ConcurrentDictionary<UInt128, PersonKey>();
                await Parallel.ForEachAsync(
                    missing,
                    new ParallelOptions { MaxDegreeOfParallelism = BatchLoadParallelism, CancellationToken = cancellationToken },
                    async (subjectId, ct) => loaded[subjectId] = await _keys.GetOrCreatePersonKeyAsync(environmentKeys, subjectId, ct));
                foreach (var pair in loaded)
                {
                    personKeys[pair.Key] = pair.Value;
                }
            }

            var sealedUsers = new string[users.Count];
            for (var i = 0; i < users.Count; i++)
            {
                var user = users[i];
                sealedUsers[i] = subjects[i] is { } subjectId
                    ? SealForPerson(environmentKeys, personKeys[subjectId], subjectId, user.InternalId, user.UserJson.Span)
                    : SealForNobody(environmentKeys, user.InternalId, user.UserJson.Span);
            }

            return sealedUsers;
        }
        finally
        {
            ArrayPool<UInt128?>.Shared.Return(subjects);
        }
    }

    /// <summary>
    /// Opens a value sealed by <see cref="SealAsync"/> for the same environment and event.
    /// </summary>
    /// <returns>The <c>user</c> JSON, or <see cref="UserOpenResult.Erased"/> when the person was erased.</returns>
    /// <exception cref="UserDataUnreadableException">The value was altered, is not a sealed value, or belongs to another event or environment.</exception>
    /// <exception cref="KeyManagementUnavailableException">Key material is unreachable right now (answer 503).</exception>
    public async ValueTask<UserOpenResult> OpenAsync(string environment, string internalId, string sealedUser, CancellationToken cancellationToken = default)
    {
        ValidateEnvironment(environment);
        ValidateInternalId(internalId);
        var parsed = SealedUserFormat.Parsed.Parse(sealedUser);
        if (!_keys.TryGetEnvironmentKeys(environment, out var environmentKeys))
        {
            environmentKeys = await _keys.GetEnvironmentKeysAsync(environment, cancellationToken);
        }

        // Checked before looking for the person's key, so an altered or misplaced value is reported
        // as such rather than as "erased".
        if (!parsed.IsAuthentic(environmentKeys, internalId))
        {
            throw new UserDataUnreadableException("The sealed user value fails its check: it was altered or sealed for another event or environment.");
        }

        DataKey dataKey;
        if (parsed.Kind == SealedUserFormat.PersonKeyKind)
        {
            var personKey = await _keys.FindPersonKeyAsync(environmentKeys, parsed.SubjectId, parsed.PersonKeyVersion, cancellationToken);
            if (personKey is null)
            {
                return UserOpenResult.Erased;
            }

            dataKey = personKey.Key;
        }
        else
        {
            dataKey = environmentKeys.GetPeriodKey(parsed.Period);
        }

        return UserOpenResult.Opened(parsed.Decrypt(dataKey, environmentKeys, internalId));
    }

    /// <summary>
    /// Destroys the key material of the person with this <c>external_id</c> in the environment.
    /// Everything sealed for them so far becomes unreadable on this instance at once and on every
    /// instance within <see cref="EncryptionOptions.PersonKeyCacheDuration"/>; later events get new key
    /// material. Idempotent: erasing someone unknown (or already erased) succeeds too, with
    /// <see cref="ErasureReceipt.Found"/> false. Returns only once the key material is deleted.
    /// </summary>
    /// <exception cref="KeyManagementUnavailableException">Key material is unreachable right now (answer 503; nothing was erased).</exception>
    public async ValueTask<ErasureReceipt> EraseAsync(string environment, string externalId, CancellationToken cancellationToken = default)
    {
        ValidateEnvironment(environment);
        ArgumentException.ThrowIfNullOrEmpty(externalId);
        if (ExternalIds.IsTooLong(externalId)) throw new ArgumentException(ExternalIds.TooLong, nameof(externalId));
        var environmentKeys = await _keys.GetEnvironmentKeysAsync(environment, cancellationToken);
        var subjectId = environmentKeys.ComputeSubjectId(Encoding.UTF8.GetBytes(externalId));
        var found = await _keys.ErasePersonAsync(environmentKeys, subjectId, cancellationToken);
        return new ErasureReceipt(externalId, found, _time.GetUtcNow());
    }

    /// <summary>
    /// Re-wraps the environment's key under the current version of the key-encryption key (after a
    /// rotation), so the older version can be disabled. Sealed values are not touched.
    /// </summary>
    /// <returns>The versioned key id that now wraps the environment key.</returns>
    public Task<string> RewrapEnvironmentKeyAsync(string environment, CancellationToken cancellationToken = default)
    {
        ValidateEnvironment(environment);
        return _keys.RewrapEnvironmentKeyAsync(environment, cancellationToken);
    }

    private async ValueTask<string> SealWithoutCachedEnvironmentAsync(string environment, string internalId, ReadOnlyMemory<byte> userJson, CancellationToken cancellationToken)
    {
        var environmentKeys = await _keys.GetEnvironmentKeysAsync(environment, cancellationToken);
        if (!ExternalIdReader.TryGetSubjectId(userJson.Span, environmentKeys, out var subjectId))
        {
            return SealForNobody(environmentKeys, internalId, userJson.Span);
        }

        return await SealForUncachedPersonAsync(environmentKeys, subjectId, internalId, userJson, cancellationToken);
    }

    private async ValueTask<string> SealForUncachedPersonAsync(EnvironmentKeys environmentKeys, UInt128 subjectId, string internalId, ReadOnlyMemory<byte> userJson, CancellationToken cancellationToken)
    {
        var personKey = await _keys.GetOrCreatePersonKeyAsync(environmentKeys, subjectId, cancellationToken);
        return SealForPerson(environmentKeys, personKey, subjectId, internalId, userJson.Span);
    }

    private static string SealForPerson(EnvironmentKeys environmentKeys, PersonKey personKey, UInt128 subjectId, string internalId, ReadOnlySpan<byte> userJson)
    {
        Span<byte> header = stackalloc byte[SealedUserFormat.MaxHeaderSize];
        var length = SealedUserFormat.WritePersonHeader(header, subjectId, personKey.Version);
        return SealedUserFormat.Seal(environmentKeys, personKey.Key, header[..length], internalId, userJson);
    }

    private string SealForNobody(EnvironmentKeys environmentKeys, string internalId, ReadOnlySpan<byte> userJson)
    {
        var period = (uint)(_time.GetUtcNow().ToUnixTimeMilliseconds() / MillisecondsPerPeriod);
        Span<byte> header = stackalloc byte[SealedUserFormat.MaxHeaderSize];
        var length = SealedUserFormat.WriteEnvironmentHeader(header, period);
        return SealedUserFormat.Seal(environmentKeys, environmentKeys.GetPeriodKey(period), header[..length], internalId, userJson);
    }

    private static void ValidateEnvironment(string environment)
    {
        ArgumentException.ThrowIfNullOrEmpty(environment);
        if (environment.Length > 64 || environment.AsSpan().ContainsAnyExcept(EnvironmentNameCharacters))
        {
            throw new ArgumentException("Environment names are 1-64 letters, digits, '.', '_' or '-'.", nameof(environment));
        }
    }

    private static void ValidateInternalId(string internalId)
    {
        ArgumentException.ThrowIfNullOrEmpty(internalId);
        if (!SealedUserFormat.FitsContext(internalId))
        {
            throw new ArgumentException($"Internal ids are at most {SealedUserFormat.MaxContextPartBytes} UTF-8 bytes.", nameof(internalId));
        }
    }
}
