using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using EventIngest.Storage;

namespace EventIngest.Ingest;

/// <summary>
/// Maps an event to its queues: every route whose pattern matches its name (a pattern is a name
/// where <c>*</c> stands for any run of characters), or the default queue when none does. A queue
/// with shards becomes the one shard the event's internal id hashes to (<see cref="QueueShards"/>).
/// </summary>
internal sealed class QueueRouter
{
    private readonly (string Pattern, Target Target)[] _routes;
    private readonly Target[] _default;
    private readonly ConcurrentDictionary<string, Target[]> _cache = new(StringComparer.Ordinal);
    private readonly HashSet<string> _packed = new(StringComparer.Ordinal);

    private sealed class Target(string queue, int shards)
    {
        public string Queue { get; } = queue;
        public int Shards { get; } = shards;
        /// <summary>The queue of every event when there is one shard: shared, no array per event.</summary>
        public string[] Plain { get; } = [queue];
    }

    public QueueRouter(IOptions<RoutingOptions> options)
    {
        _routes = options.Value.Routes.Select(r => (r.Pattern, new Target(r.Queue, r.Shards))).ToArray();
        _default = [new Target(options.Value.DefaultQueue, options.Value.DefaultShards)];
        if (options.Value.DefaultPacked) _packed.UnionWith(QueueShards.Names(options.Value.DefaultQueue, options.Value.DefaultShards));
        foreach (var r in options.Value.Routes.Where(r => r.Packed)) _packed.UnionWith(QueueShards.Names(r.Queue, r.Shards));
    }

    /// <summary>True when the queue (a shard's name) takes packed messages: the events of one request in as few
    /// messages as fit (<see cref="Storage.EventQueue"/>).</summary>
    public bool IsPacked(string queue) => _packed.Count > 0 && _packed.Contains(queue);

    public IReadOnlyList<string> QueuesFor(string eventName, string internalId)
    {
        var targets = TargetsFor(eventName);
        if (targets.Length == 1 && targets[0].Shards == 1) return targets[0].Plain;
        var queues = new string[targets.Length];
        for (var i = 0; i < targets.Length; i++) queues[i] = QueueShards.QueueFor(targets[i].Queue, targets[i].Shards, internalId);
        return queues;
    }

    private Target[] TargetsFor(string eventName)
    {
        if (_routes.Length == 0) return _default;
        if (_cache.TryGetValue(eventName, out var cached)) return cached;

        // A queue named by several routes has one shard count (RoutingOptions.Check), so its name identifies it.
        var targets = _routes.Where(r => Matches(r.Pattern, eventName)).Select(r => r.Target).DistinctBy(t => t.Queue, StringComparer.Ordinal).ToArray();
        if (targets.Length == 0) targets = _default;
        // Names are caller-chosen; keep the cache bounded.
        if (_cache.Count < 10_000) _cache.TryAdd(eventName, targets);
        return targets;
    }

    public static bool Matches(ReadOnlySpan<char> pattern, ReadOnlySpan<char> name)
    {
        var star = pattern.IndexOf('*');
        if (star < 0) return pattern.SequenceEqual(name);
        if (!name.StartsWith(pattern[..star])) return false;
        var rest = pattern[(star + 1)..];
        var tail = name[star..];
        if (rest.IsEmpty) return true;
        for (var i = 0; i <= tail.Length; i++)
        {
            if (Matches(rest, tail[i..])) return true;
        }
        return false;
    }
}
