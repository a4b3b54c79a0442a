using System.Collections.Concurrent;

namespace EventIngest.Encryption;

/// <summary>
/// A bounded in-memory cache whose entries expire a fixed time after they were loaded, and where
/// concurrent misses for one key share a single load. Failed loads are not cached. Loads run
/// without the callers' cancellation (one caller giving up must not fail the others); they are
/// expected to bound themselves with their own timeouts.
/// </summary>
internal sealed class SingleFlightCache<TKey, TValue>
    where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, Entry> _entries = new();
    private readonly long _timeToLive;
    private readonly int _maxEntries;
    private readonly TimeProvider _time;
    private int _count;
    private int _sweeping;
    private long _nextSweep;

    public SingleFlightCache(TimeSpan timeToLive, int maxEntries, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeToLive, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxEntries, 1);
        _time = time;
        _maxEntries = maxEntries;
        var ticks = timeToLive.TotalSeconds * time.TimestampFrequency;
        _timeToLive = ticks >= long.MaxValue / 2 ? long.MaxValue / 2 : (long)ticks;
        _nextSweep = time.GetTimestamp() + _timeToLive;
    }

    public int Count => Volatile.Read(ref _count);

    /// <summary>The cached value when it is loaded and still fresh.</summary>
    public bool TryGet(TKey key, out TValue value)
    {
        if (_entries.TryGetValue(key, out var entry) && entry.Task.IsCompletedSuccessfully && !IsExpired(entry, _time.GetTimestamp()))
        {
            value = entry.Task.Result;
            return true;
        }

        value = default!;
        return false;
    }

    public ValueTask<TValue> GetOrLoadAsync<TState>(TKey key, TState state, Func<TKey, TState, CancellationToken, Task<TValue>> load, CancellationToken cancellationToken)
    {
        while (true)
        {
            var now = _time.GetTimestamp();
            if (_entries.TryGetValue(key, out var existing))
            {
                // A load still in flight is joined even when old: starting a second one would defeat single flight.
                if (!existing.Task.IsCompleted || (existing.Task.IsCompletedSuccessfully && !IsExpired(existing, now)))
                {
                    return existing.Task.IsCompletedSuccessfully
                        ? new ValueTask<TValue>(existing.Task.Result)
                        : new ValueTask<TValue>(existing.Task.WaitAsync(cancellationToken));
                }

                if (!_entries.TryRemove(new KeyValuePair<TKey, Entry>(key, existing)))
                {
                    continue;
                }

                Interlocked.Decrement(ref _count);
            }

            var source = new TaskCompletionSource<TValue>(TaskCreationOptions.RunContinuationsAsynchronously);
            var entry = new Entry(source.Task, now);
            if (!_entries.TryAdd(key, entry))
            {
                continue;
            }

            OnAdded(now);
            _ = RunLoadAsync(key, entry, source, state, load);
            return new ValueTask<TValue>(source.Task.WaitAsync(cancellationToken));
        }
    }

    /// <summary>Puts a value loaded elsewhere (for example re-read after a mismatch).</summary>
    public void Set(TKey key, TValue value)
    {
        var now = _time.GetTimestamp();
        var entry = new Entry(Task.FromResult(value), now);
        var added = false;
        _entries.AddOrUpdate(key, _ => { added = true; return entry; }, (_, _) => entry);
        if (added)
        {
            OnAdded(now);
        }
    }

    public void Remove(TKey key)
    {
        if (_entries.TryRemove(key, out _))
        {
            Interlocked.Decrement(ref _count);
        }
    }

    private async Task RunLoadAsync<TState>(TKey key, Entry entry, TaskCompletionSource<TValue> source, TState state, Func<TKey, TState, CancellationToken, Task<TValue>> load)
    {
        try
        {
            source.SetResult(await load(key, state, CancellationToken.None));
        }
        catch (Exception ex)
        {
            if (_entries.TryRemove(new KeyValuePair<TKey, Entry>(key, entry)))
            {
                Interlocked.Decrement(ref _count);
            }

            source.SetException(ex);
        }
    }

    private bool IsExpired(Entry entry, long now) => now - entry.LoadedAt >= _timeToLive;

    private void OnAdded(long now)
    {
        var count = Interlocked.Increment(ref _count);
        if ((count > _maxEntries || now >= Volatile.Read(ref _nextSweep)) && Interlocked.Exchange(ref _sweeping, 1) == 0)
        {
            try
            {
                Sweep(now);
            }
            finally
            {
                Volatile.Write(ref _sweeping, 0);
            }
        }
    }

    /// <summary>Drops expired entries (so key material does not linger in memory), then, if still
    /// over the bound, arbitrary ones until a tenth of the room is free again.</summary>
    private void Sweep(long now)
    {
        Volatile.Write(ref _nextSweep, now + _timeToLive);
        foreach (var pair in _entries)
        {
            if (pair.Value.Task.IsCompleted && IsExpired(pair.Value, now) && _entries.TryRemove(pair))
            {
                Interlocked.Decrement(ref _count);
            }
        }

        var target = _maxEntries - Math.Max(1, _maxEntries / 10);
        if (Volatile.Read(ref _count) <= _maxEntries)
        {
            return;
        }

        foreach (var pair in _entries)
        {
            if (Volatile.Read(ref _count) <= target)
            {
                break;
            }

            if (pair.Value.Task.IsCompleted && _entries.TryRemove(pair))
            {
                Interlocked.Decrement(ref _count);
            }
        }
    }

    private sealed record Entry(Task<TValue> Task, long LoadedAt);
}
