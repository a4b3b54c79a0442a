using System.ComponentModel.DataAnnotations;
using EventIngest.Storage;

namespace EventIngest.Ingest;

/// <summary>Limits and rules of the event route.</summary>
internal sealed class IngestOptions
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
internal sealed class RateLimitOptions
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

/// <summary>Which queue(s) an event goes to, by event-name pattern, and over how many shards each queue is spread.</summary>
internal sealed class RoutingOptions : IValidatableObject
{
    public const string Section = "EventIngest:Routing";

    [Required]
    public string DefaultQueue { get; set; } = "events";

    /// <summary>Shards of the default queue (1 to <see cref="QueueShards.MaxShards"/>). One keeps the plain
    /// name <c>events</c>, so consumers written before shards existed keep receiving; more is opt-in, because it
    /// moves every event to queues those consumers do not read (docs/consuming-events.md).</summary>
    public int DefaultShards { get; set; } = 1;

    /// <summary>Packs the default queue's messages: see <see cref="Route.Packed"/>. Off by default, because a
    /// consumer must read packed messages with <c>EventReader.ReadAllAsync</c> (docs/message-format.md).</summary>
    public bool DefaultPacked { get; set; }

    /// <summary>The queue account of the default queue: see <see cref="Route.Account"/>.</summary>
    public string? DefaultAccount { get; set; }

    public List<Route> Routes { get; set; } = [];

    /// <summary>Where each routed queue lives, for <see cref="StorageAccount"/>.</summary>
    public IEnumerable<QueuePlacement> Placements() =>
        Routes.Select(r => new QueuePlacement(r.Queue, r.Shards, r.Account)).Append(new QueuePlacement(DefaultQueue, DefaultShards, DefaultAccount));

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

        foreach (var q in queues.Where(q => q.Shards is < 1 or > QueueShards.MaxShards))
        {
            errors.Add($"{q.Setting} must be between 1 and {QueueShards.MaxShards}; it is {q.Shards}.");
        }
        foreach (var named in queues.GroupBy(q => q.Queue, StringComparer.Ordinal).Where(g => g.Select(q => q.Shards).Distinct().Count() > 1))
        {
            errors.Add($"{Section}: the queue '{named.Key}' is given different shard counts ({string.Join(", ", named.Select(q => $"{q.Setting} = {q.Shards}"))}); give it one.");
        }
        if (errors.Count > 0) return errors;

        var owners = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (queue, shards) in queues.Select(q => (q.Queue, q.Shards)).Distinct())
        {
            foreach (var name in QueueShards.Names(queue, shards))
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

internal sealed class Route
{
    /// <summary>An event name, or a prefix ending in <c>*</c> (<c>app/account.*</c>), or <c>*</c>.</summary>
    [Required]
    public string Pattern { get; set; } = "*";

    [Required]
    public string Queue { get; set; } = "events";

    /// <summary>Queues the route's events are spread over: <c>{Queue}-0</c> … <c>{Queue}-{Shards-1}</c>, or
    /// <c>{Queue}</c> itself for 1 (see <see cref="QueueShards"/>).</summary>
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
