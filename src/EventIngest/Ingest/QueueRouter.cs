using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace EventIngest.Ingest;

/// <summary>
/// Maps an event name to its queues: every route whose pattern matches (a pattern is a name
/// where <c>*</c> stands for any run of characters), or the default queue when none does.
/// </summary>
public sealed class QueueRouter
{
    private readonly (string Pattern, string Queue)[] _routes;
    private readonly string[] _default;
    private readonly ConcurrentDictionary<string, string[]> _cache = new(StringComparer.Ordinal);

    public QueueRouter(IOptions<RoutingOptions> options)
    {
        _routes = options.Value.Routes.Select(r => (r.Pattern, r.Queue)).ToArray();
        _default = [options.Value.DefaultQueue];
    }

    public IReadOnlyList<string> QueuesFor(string eventName)
    {
        if (_routes.Length == 0) return _default;
        if (_cache.TryGetValue(eventName, out var cached)) return cached;

        var queues = _routes.Where(r => Matches(r.Pattern, eventName)).Select(r => r.Queue).Distinct(StringComparer.Ordinal).ToArray();
        if (queues.Length == 0) queues = _default;
        // Names are caller-chosen; keep the cache bounded.
        if (_cache.Count < 10_000) _cache.TryAdd(eventName, queues);
        return queues;
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
