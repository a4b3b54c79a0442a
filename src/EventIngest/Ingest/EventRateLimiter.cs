using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace EventIngest.Ingest;

/// <summary>
/// A token bucket per event key, counted in events, kept in this instance's memory (so with N
/// instances a key gets up to N times the rate). A request is admitted while its key's bucket
/// holds at least one token and takes one at once; once parsed, its other events are taken too,
/// which may leave the bucket in debt, so a batch larger than the burst still goes through and
/// the key's next request waits until the debt is repaid. Buckets are keyed by a hash of the
/// event key, never the key itself, and a bucket that has refilled is forgotten, so memory is
/// bounded by <see cref="RateLimitOptions.MaxKeys"/>.
/// Not System.Threading.RateLimiting's TokenBucketRateLimiter: it refuses a lease larger than the bucket and never
/// lends tokens, and this bucket must let a whole batch through on one token and carry the rest as debt.
/// </summary>
internal sealed class EventRateLimiter
{
    private readonly ConcurrentDictionary<UInt128, Bucket> _buckets = new();
    private readonly TimeProvider _time;
    private readonly double _rate;
    private readonly double _burst;
    private readonly int _maxKeys;
    private readonly long _sweepEvery;
    private readonly Lock _sweepLock = new();
    private long _nextSweep;

    public EventRateLimiter(IOptions<RateLimitOptions> options, TimeProvider time)
    {
        var o = options.Value;
        _time = time;
        _rate = o.EventsPerSecond;
        _burst = o.Burst;
        _maxKeys = o.MaxKeys;
        // A bucket left alone this long is full again, i.e. indistinguishable from a new one.
        var refillSeconds = _rate > 0 ? Math.Clamp(_burst / _rate, 1, 3600) : 3600;
        _sweepEvery = (long)(refillSeconds * time.TimestampFrequency);
        _nextSweep = time.GetTimestamp() + _sweepEvery;
    }

    public bool IsEnabled => _rate > 0;

    /// <summary>Buckets held in memory now.</summary>
    public int TrackedKeys => _buckets.Count;

    /// <summary>Admits a request of <paramref name="eventKey"/> and takes one token for it, or
    /// refuses it with the whole seconds until a token is back.</summary>
    public bool TryAdmit(string eventKey, out int retryAfterSeconds)
    {
        retryAfterSeconds = 0;
        if (!IsEnabled) return true;
        var now = _time.GetTimestamp();
        SweepIfDue(now);
        var key = KeyOf(eventKey);
        while (true)
        {
            var bucket = BucketFor(key, now);
            lock (bucket)
            {
                if (bucket.Forgotten) continue;
                Refill(bucket, now);
                if (bucket.Tokens >= 1)
                {
                    bucket.Tokens -= 1;
                    return true;
                }
                retryAfterSeconds = (int)Math.Min(Math.Ceiling((1 - bucket.Tokens) / _rate), int.MaxValue);
                return false;
            }
        }
    }

    /// <summary>Takes tokens for the events of an admitted request beyond the one it paid on admission.</summary>
    public void Charge(string eventKey, int events)
    {
        if (!IsEnabled || events <= 0) return;
        var now = _time.GetTimestamp();
        var key = KeyOf(eventKey);
        while (true)
        {
            var bucket = BucketFor(key, now);
            lock (bucket)
            {
                if (bucket.Forgotten) continue;
                Refill(bucket, now);
                bucket.Tokens -= events;
                return;
            }
        }
    }

    private Bucket BucketFor(UInt128 key, long now) =>
        _buckets.GetOrAdd(key, static (_, state) => new Bucket(state.Burst, state.Now), (Burst: _burst, Now: now));

    private void Refill(Bucket bucket, long now)
    {
        var elapsed = (double)(now - bucket.Updated) / _time.TimestampFrequency;
        if (elapsed > 0) bucket.Tokens = Math.Min(_burst, bucket.Tokens + elapsed * _rate);
        bucket.Updated = Math.Max(bucket.Updated, now);
    }

    private void SweepIfDue(long now)
    {
        if (now < Volatile.Read(ref _nextSweep) && _buckets.Count < _maxKeys) return;
        if (!_sweepLock.TryEnter()) return;
        try
        {
            Volatile.Write(ref _nextSweep, now + _sweepEvery);
            foreach (var (key, bucket) in _buckets)
            {
                lock (bucket)
                {
                    Refill(bucket, now);
                    if (bucket.Tokens >= _burst) Forget(key, bucket);
                }
            }
            if (_buckets.Count < _maxKeys) return;
            // More keys than allowed are all in use: forget the longest-idle ones. Each forgotten
            // key starts over with a full bucket, the price of bounded memory.
            foreach (var (key, bucket) in _buckets.OrderBy(b => Volatile.Read(ref b.Value.Updated)).Take(_buckets.Count - _maxKeys * 9 / 10).ToList())
            {
                lock (bucket) Forget(key, bucket);
            }
        }
        finally
        {
            _sweepLock.Exit();
        }
    }

    // Called holding the bucket's lock; a request that fetched the bucket just before retries with a new one.
    private void Forget(UInt128 key, Bucket bucket)
    {
        bucket.Forgotten = true;
        _buckets.TryRemove(new KeyValuePair<UInt128, Bucket>(key, bucket));
    }

    private static UInt128 KeyOf(string eventKey)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(eventKey), hash);
        return BinaryPrimitives.ReadUInt128BigEndian(hash);
    }

    private sealed class Bucket(double tokens, long updated)
    {
        public double Tokens = tokens;
        public long Updated = updated;
        public bool Forgotten;
    }
}
