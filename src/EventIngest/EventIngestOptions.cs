using System.ComponentModel.DataAnnotations;

namespace EventIngest;

/// <summary>Where the service keeps its state. Either a connection string (Azurite, local runs)
/// or service URIs reached with a token credential (Azure, managed identity).</summary>
public sealed class StorageOptions
{
    public const string Section = "EventIngest:Storage";

    /// <summary>A storage connection string; when set, the service URIs are ignored.</summary>
    public string? ConnectionString { get; set; }

    public Uri? TableServiceUri { get; set; }
    public Uri? QueueServiceUri { get; set; }
    public Uri? BlobServiceUri { get; set; }

    /// <summary>Client id of a user-assigned managed identity; empty for the default credential chain.</summary>
    public string? ClientId { get; set; }

    /// <summary>Prefix of every table, queue and container name the service creates, so several
    /// deployments (or test runs) can share one account.</summary>
    [RegularExpression("^[a-z][a-z0-9]{0,15}$", ErrorMessage = "EventIngest:Storage:Prefix must be lower-case letters and digits, starting with a letter, at most 16 characters.")]
    public string Prefix { get; set; } = "ei";

    /// <summary>Upper bound on one storage call (including the SDK's own retries) before the
    /// request is answered 503.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:05:00")]
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Further storage accounts for the queues of routes that name them (<see cref="Route.Account"/>), by
    /// name: a high-volume route's sends then count against that account's request target, not the one holding
    /// the records and claims (docs/scale.md).</summary>
    public Dictionary<string, QueueAccountOptions> QueueAccounts { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>A storage account holding queues only: a connection string, or the queue service URI, reached with
/// the same identity as the main account (<see cref="StorageOptions.ClientId"/>).</summary>
public sealed class QueueAccountOptions
{
    public string? ConnectionString { get; set; }
    public Uri? QueueServiceUri { get; set; }
}

/// <summary>Limits and rules of the event route.</summary>
public sealed class IngestOptions
{
    public const string Section = "EventIngest:Ingest";
    public const int HardMaxEventBytes = 3 * 1024 * 1024;
    public const int MaxEventsPerRequest = 5000;

    [Range(1024, HardMaxEventBytes, ErrorMessage = "EventIngest:Ingest:MaxEventBytes must be between 1024 and 3145728 (3 MiB).")]
    public int MaxEventBytes { get; set; } = 512 * 1024;

    [Range(1024, 100 * 1024 * 1024, ErrorMessage = "EventIngest:Ingest:MaxRequestBytes must be between 1024 and 104857600 (the Functions host caps bodies at 100 MB).")]
    public long MaxRequestBytes { get; set; } = 16 * 1024 * 1024;

    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00", ErrorMessage = "EventIngest:Ingest:IdempotencyWindow must be between 1 second and 30 days.")]
    public TimeSpan IdempotencyWindow { get; set; } = TimeSpan.FromHours(24);

    /// <summary>A <c>ts</c> at most this far in the future is treated as "now" (client clocks run ahead).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00", ErrorMessage = "EventIngest:Ingest:ClockSkew must be between 0 and 10 minutes.")]
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Seconds a client is told to wait (Retry-After) when storage or key management is unavailable.</summary>
    [Range(1, 3600)]
    public int RetryAfterSeconds { get; set; } = 5;
}

/// <summary>
/// Per event key rate limit of the event route: a token bucket counted in events, held in each
/// instance's memory, so with N instances a key may send up to N times the rate. Off by default.
/// </summary>
public sealed class RateLimitOptions
{
    public const string Section = "EventIngest:RateLimit";

    /// <summary>Sustained events per second per event key and instance; 0 turns the limit off.</summary>
    [Range(0, 1_000_000, ErrorMessage = "EventIngest:RateLimit:EventsPerSecond must be between 0 (off) and 1000000.")]
    public double EventsPerSecond { get; set; }

    /// <summary>Events a key may send at once after being idle (the bucket's size).</summary>
    [Range(1, 10_000_000, ErrorMessage = "EventIngest:RateLimit:Burst must be between 1 and 10000000.")]
    public int Burst { get; set; } = IngestOptions.MaxEventsPerRequest;

    /// <summary>At most this many event keys are tracked per instance; idle keys are forgotten first.</summary>
    [Range(100, 10_000_000, ErrorMessage = "EventIngest:RateLimit:MaxKeys must be between 100 and 10000000.")]
    public int MaxKeys { get; set; } = 10_000;
}

/// <summary>Who may send and read events.</summary>
public sealed class AuthOptions
{
    public const string Section = "EventIngest:Auth";

    /// <summary>When true and no event key is configured, the event route answers 503 (Inngest's
    /// behaviour). The local host sets it to false and accepts any key.</summary>
    public bool RequireEventKeys { get; set; } = true;

    /// <summary>When true and no signing key is configured, the REST API answers 503. The local
    /// host sets it to false: its REST API is then open, as Inngest's dev server is.</summary>
    public bool RequireSigningKeys { get; set; } = true;

    public List<EventKeyHash> EventKeys { get; set; } = [];
    public List<SigningKeyHash> SigningKeys { get; set; } = [];

    /// <summary>Environment of events sent with an unconfigured key, and read without a signing key, on the local host.</summary>
    public string DefaultEnvironment { get; set; } = "dev";

    /// <summary>No event key is configured and none is required: any key sends events.</summary>
    public bool AcceptsAnyEventKey => EventKeys.Count == 0 && !RequireEventKeys;

    /// <summary>No signing key is configured and none is required: anyone reads, replays and erases.</summary>
    public bool RestApiOpen => SigningKeys.Count == 0 && !RequireSigningKeys;

    /// <summary>Open: whoever reaches the service may use it. Only ever on the local host, on loopback.</summary>
    public bool IsOpen => AcceptsAnyEventKey || RestApiOpen;
}

/// <summary>A key configured by its SHA-256 hash (lower-case hex); the raw key never sits in configuration.</summary>
public abstract class KeyHash
{
    [Required]
    public string Hash { get; set; } = "";

    [Required, RegularExpression("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", ErrorMessage = "Environment names are 1-64 letters, digits, '.', '_' or '-'.")]
    public string Environment { get; set; } = "production";
}

/// <summary>An event key: the events sent with it go to its <see cref="KeyHash.Environment"/>.</summary>
public sealed class EventKeyHash : KeyHash
{
    /// <summary>When true, <c>x-inngest-env</c> may also name a branch environment: one that no
    /// other key names, and never <c>production</c>. Otherwise the header must be absent or equal
    /// to <see cref="KeyHash.Environment"/>.</summary>
    public bool BranchEnvironments { get; set; }

    /// <summary>When set, a branch environment's name must start with it (<c>pr-</c>).</summary>
    public string? BranchPrefix { get; set; }
}

/// <summary>A signing key: it uses the REST API on its <see cref="KeyHash.Environment"/> only.</summary>
public sealed class SigningKeyHash : KeyHash
{
    /// <summary>What the key may do, comma-separated: <c>read</c> (look up and list events),
    /// <c>write</c> (replay, reschedule, cancel), <c>erase</c> (erase a person). Unset: <c>read</c>.</summary>
    public string? Scopes { get; set; }
}

/// <summary>Which queue(s) an event goes to, by event-name pattern, and over how many shards each queue is spread.</summary>
public sealed class RoutingOptions : IValidatableObject
{
    public const string Section = "EventIngest:Routing";

    [Required]
    public string DefaultQueue { get; set; } = "events";

    /// <summary>Shards of the default queue (1 to <see cref="Ingest.QueueShards.MaxShards"/>). One keeps the plain
    /// name <c>events</c>, so consumers written before shards existed keep receiving; more is opt-in, because it
    /// moves every event to queues those consumers do not read (docs/consuming-events.md).</summary>
    public int DefaultShards { get; set; } = 1;

    /// <summary>Packs the default queue's messages: see <see cref="Route.Packed"/>. Off by default, because a
    /// consumer must read packed messages with <c>EventReader.ReadAllAsync</c> (docs/message-format.md).</summary>
    public bool DefaultPacked { get; set; }

    /// <summary>The queue account of the default queue: see <see cref="Route.Account"/>.</summary>
    public string? DefaultAccount { get; set; }

    public List<Route> Routes { get; set; } = [];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext) =>
        Check(this).Select(error => new ValidationResult(error));

    /// <summary>What is wrong with the shard settings: counts out of range, one queue given two counts, shard
    /// names that are not valid queue names or that are another queue's name.</summary>
    public static List<string> Check(RoutingOptions options)
    {
        var errors = new List<string>();
        var queues = new List<(string Setting, string Queue, int Shards)> { ($"{Section}:DefaultShards", options.DefaultQueue, options.DefaultShards) };
        for (var i = 0; i < options.Routes.Count; i++) queues.Add(($"{Section}:Routes:{i}:Shards", options.Routes[i].Queue, options.Routes[i].Shards));
        var packing = new List<(string Setting, string Queue, bool Packed)> { ($"{Section}:DefaultPacked", options.DefaultQueue, options.DefaultPacked) };
        for (var i = 0; i < options.Routes.Count; i++) packing.Add(($"{Section}:Routes:{i}:Packed", options.Routes[i].Queue, options.Routes[i].Packed));
        foreach (var named in packing.GroupBy(q => q.Queue, StringComparer.Ordinal).Where(g => g.Select(q => q.Packed).Distinct().Count() > 1))
        {
            errors.Add($"{Section}: the queue '{named.Key}' is packed by one setting and not by another ({string.Join(", ", named.Select(q => $"{q.Setting} = {q.Packed}"))}); give it one.");
        }

        foreach (var q in queues.Where(q => q.Shards is < 1 or > Ingest.QueueShards.MaxShards))
        {
            errors.Add($"{q.Setting} must be between 1 and {Ingest.QueueShards.MaxShards}; it is {q.Shards}.");
        }
        foreach (var named in queues.GroupBy(q => q.Queue, StringComparer.Ordinal).Where(g => g.Select(q => q.Shards).Distinct().Count() > 1))
        {
            errors.Add($"{Section}: the queue '{named.Key}' is given different shard counts ({string.Join(", ", named.Select(q => $"{q.Setting} = {q.Shards}"))}); give it one.");
        }
        if (errors.Count > 0) return errors;

        var owners = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (queue, shards) in queues.Select(q => (q.Queue, q.Shards)).Distinct())
        {
            foreach (var name in Ingest.QueueShards.Names(queue, shards))
            {
                if (!QueueNames.IsValid(name))
                {
                    errors.Add($"{Section}: '{name}', a shard of '{queue}', is not a valid queue name (3-63 lower-case letters, digits and single hyphens); shorten the queue name.");
                }
                else if (!owners.TryAdd(name, queue) && owners[name] != queue)
                {
                    errors.Add($"{Section}: '{name}' would be a queue of both '{owners[name]}' and '{queue}'; rename one of them.");
                }
            }
        }
        return errors;
    }
}

public sealed class Route
{
    /// <summary>An event name, or a prefix ending in <c>*</c> (<c>app/account.*</c>), or <c>*</c>.</summary>
    [Required]
    public string Pattern { get; set; } = "*";

    [Required]
    public string Queue { get; set; } = "events";

    /// <summary>Queues the route's events are spread over: <c>{Queue}-0</c> … <c>{Queue}-{Shards-1}</c>, or
    /// <c>{Queue}</c> itself for 1 (see <see cref="Ingest.QueueShards"/>).</summary>
    public int Shards { get; set; } = 1;

    /// <summary>Puts the events of one request that go to the same queue into as few messages as fit (up to the
    /// 64 KiB message limit) instead of one message per event: a batch of 100 costs one or two queue operations.
    /// For high-volume routes whose consumers read with <c>EventReader.ReadAllAsync</c>; see docs/message-format.md.</summary>
    public bool Packed { get; set; }

    /// <summary>The name of an entry of <c>EventIngest:Storage:QueueAccounts</c> whose account holds this queue
    /// (and its shards); unset: the service's own account. Every send of an event looks the account up by the
    /// queue's name, so replays and releases follow the setting as it is when they happen.</summary>
    public string? Account { get; set; }

    /// <summary>What is wrong with the routes' queue accounts: an account the storage settings do not define, an
    /// account without a connection, one queue placed in two accounts.</summary>
    public static List<string> CheckAccounts(RoutingOptions routing, StorageOptions storage)
    {
        var errors = new List<string>();
        var placed = new List<(string Setting, string Queue, string? Account)> { ($"{RoutingOptions.Section}:DefaultAccount", routing.DefaultQueue, routing.DefaultAccount) };
        for (var i = 0; i < routing.Routes.Count; i++) placed.Add(($"{RoutingOptions.Section}:Routes:{i}:Account", routing.Routes[i].Queue, routing.Routes[i].Account));
        foreach (var p in placed.Where(p => !string.IsNullOrEmpty(p.Account) && !storage.QueueAccounts.ContainsKey(p.Account)))
        {
            errors.Add($"{p.Setting} is '{p.Account}', which {StorageOptions.Section}:QueueAccounts does not define; add {StorageOptions.Section}:QueueAccounts:{p.Account}:QueueServiceUri (or ConnectionString).");
        }
        foreach (var (name, account) in storage.QueueAccounts.Where(a => string.IsNullOrWhiteSpace(a.Value.ConnectionString) && a.Value.QueueServiceUri is null))
        {
            errors.Add($"{StorageOptions.Section}:QueueAccounts:{name} needs a QueueServiceUri or a ConnectionString.");
        }
        foreach (var named in placed.GroupBy(p => p.Queue, StringComparer.Ordinal).Where(g => g.Select(p => p.Account ?? "").Distinct().Count() > 1))
        {
            errors.Add($"{RoutingOptions.Section}: the queue '{named.Key}' is placed in different accounts ({string.Join(", ", named.Select(p => $"{p.Setting} = {p.Account ?? "(the service's own)"}"))}); give it one.");
        }
        return errors;
    }
}

/// <summary>Which key-encryption key protects <c>user</c> data, and how long derived keys stay in memory.</summary>
public sealed class EncryptionOptions : IValidatableObject
{
    public const string Section = "EventIngest:Encryption";
    public const string KeyVaultProvider = "KeyVault";
    public const string LocalProvider = "Local";

    /// <summary><c>KeyVault</c> (production) or <c>Local</c> (a key file; development only).</summary>
    [Required(ErrorMessage = "EventIngest:Encryption:KeyProvider is required (KeyVault or Local).")]
    public string KeyProvider { get; set; } = KeyVaultProvider;

    /// <summary>Key Vault key identifier, <c>https://{vault}.vault.azure.net/keys/{name}</c>; without a
    /// version the latest version wraps new keys.</summary>
    public Uri? KeyVaultKeyId { get; set; }

    /// <summary>Path of the local key file (created on first run).</summary>
    public string? LocalKeyPath { get; set; }

    /// <summary>The Functions app refuses the local key unless this is true.</summary>
    public bool AllowLocalKey { get; set; }

    /// <summary>How long an instance keeps an environment key it unwrapped with the key-encryption key.
    /// Each instance makes about one Key Vault operation per environment per this interval.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "1.00:00:00", ErrorMessage = "EventIngest:Encryption:EnvironmentKeyCacheDuration must be between 1 minute and 1 day.")]
    public TimeSpan EnvironmentKeyCacheDuration { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long an instance keeps a person's key. This bounds how long an erasure takes to
    /// reach every instance.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00", ErrorMessage = "EventIngest:Encryption:PersonKeyCacheDuration must be between 1 second and 1 hour.")]
    public TimeSpan PersonKeyCacheDuration { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>At most this many person keys are kept in memory per instance.</summary>
    [Range(100, 10_000_000, ErrorMessage = "EventIngest:Encryption:PersonKeyCacheSize must be between 100 and 10000000.")]
    public int PersonKeyCacheSize { get; set; } = 100_000;

    /// <summary>Upper bound on one Key Vault operation, retries included, before it counts as unavailable.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:05:00", ErrorMessage = "EventIngest:Encryption:KeyVaultTimeout must be between 1 second and 5 minutes.")]
    public TimeSpan KeyVaultTimeout { get; set; } = TimeSpan.FromSeconds(15);

    internal bool UsesLocalKey => string.Equals(KeyProvider, LocalProvider, StringComparison.OrdinalIgnoreCase);

    internal bool UsesKeyVault => string.Equals(KeyProvider, KeyVaultProvider, StringComparison.OrdinalIgnoreCase);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (UsesKeyVault)
        {
            if (KeyVaultKeyId is null)
            {
                yield return new ValidationResult(
                    "EventIngest:Encryption:KeyVaultKeyId is required when KeyProvider is KeyVault (https://{vault}.vault.azure.net/keys/{name}).",
                    [nameof(KeyVaultKeyId)]);
            }
            else if (!Encryption.KeyVaultKeyIdentifier.TryParse(KeyVaultKeyId, out _))
            {
                yield return new ValidationResult(
                    "EventIngest:Encryption:KeyVaultKeyId must look like https://{vault}.vault.azure.net/keys/{name} (optionally /{version}).",
                    [nameof(KeyVaultKeyId)]);
            }
        }
        else if (UsesLocalKey)
        {
            if (string.IsNullOrWhiteSpace(LocalKeyPath))
            {
                yield return new ValidationResult(
                    "EventIngest:Encryption:LocalKeyPath is required when KeyProvider is Local.",
                    [nameof(LocalKeyPath)]);
            }
        }
        else
        {
            yield return new ValidationResult(
                "EventIngest:Encryption:KeyProvider must be KeyVault or Local.",
                [nameof(KeyProvider)]);
        }
    }
}

/// <summary>The job that completes requests that died between recording and enqueueing.</summary>
public sealed class RepairOptions
{
    public const string Section = "EventIngest:Repair";

    /// <summary>An outbox row older than this belongs to a request that died; the job completes it.
    /// Requests give up (503) after half of it, so a slow request and the job never race.</summary>
    [Range(typeof(TimeSpan), "00:00:10", "01:00:00", ErrorMessage = "EventIngest:Repair:RepairAfter must be between 10 seconds and 1 hour.")]
    public TimeSpan RepairAfter { get; set; } = TimeSpan.FromMinutes(1);
}

/// <summary>The timer jobs: the repair, the release of parked events, the idempotency cleanup.</summary>
public sealed class JobOptions
{
    public const string Section = "EventIngest:Jobs";

    /// <summary>How long one run of a job may work before it stops and leaves the rest to the next
    /// run, which resumes where it stopped. Well under the Functions timeout (5 minutes), so a run
    /// is never killed part-way by the host.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:04:00", ErrorMessage = "EventIngest:Jobs:Budget must be between 1 second and 4 minutes (the Functions timeout is 5).")]
    public TimeSpan Budget { get; set; } = TimeSpan.FromMinutes(3);
}

/// <summary>Holding events whose <c>ts</c> is in the future.</summary>
public sealed class SchedulingOptions
{
    public const string Section = "EventIngest:Scheduling";

    /// <summary>Events due within this are put on their queue at once, invisible until due (queue
    /// visibility delays are capped at 7 days); later ones are parked in a table and moved to the
    /// queue by the release job once they come this close.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "6.12:00:00", ErrorMessage = "EventIngest:Scheduling:Horizon must be between 1 minute and 6.5 days (queue delays end at 7 days).")]
    public TimeSpan Horizon { get; set; } = TimeSpan.FromDays(6);
}
