using EventIngest.Ingest;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace EventIngest.Tests.Reliability;

public sealed class EventRateLimiterTests
{
    private readonly FakeTimeProvider _clock = new FakeTimeProvider();

    [Fact]
    public void OffByDefaultAdmitsEverything()
    {
        var limiter = new EventRateLimiter(Options.Create(new RateLimitOptions()), _clock);

        Assert.False(limiter.IsEnabled);
        for (var i = 0; i < 100_000; i++) Assert.True(limiter.TryAdmit("key", out _));
        Assert.Equal(0, limiter.TrackedKeys);
    }

    [Fact]
    public void BurstIsAdmittedThenTheRateWithARetryAfter()
    {
        var limiter = Create(rate: 10, burst: 20);

        for (var i = 0; i < 20; i++) Assert.True(limiter.TryAdmit("key", out _));
        Assert.False(limiter.TryAdmit("key", out var retryAfter));
        Assert.Equal(1, retryAfter);

        _clock.Advance(TimeSpan.FromMilliseconds(100));
        Assert.True(limiter.TryAdmit("key", out _));
        Assert.False(limiter.TryAdmit("key", out _));
    }

    [Fact]
    public void KeysHaveTheirOwnBuckets()
    {
        var limiter = Create(rate: 1, burst: 1);

        Assert.True(limiter.TryAdmit("a", out _));
        Assert.False(limiter.TryAdmit("a", out _));
        Assert.True(limiter.TryAdmit("b", out _));
    }

    [Fact]
    public void ABatchLargerThanTheBurstGoesThroughAndTheDebtIsWaitedOut()
    {
        var limiter = Create(rate: 100, burst: 100);

        Assert.True(limiter.TryAdmit("key", out _));
        limiter.Charge("key", 4_999);

        Assert.False(limiter.TryAdmit("key", out var retryAfter));
        Assert.Equal(50, retryAfter); // 4,900 events of debt plus one token, at 100 per second
        _clock.Advance(TimeSpan.FromSeconds(49));
        Assert.False(limiter.TryAdmit("key", out retryAfter));
        Assert.Equal(1, retryAfter);
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.True(limiter.TryAdmit("key", out _));
    }

    [Fact]
    public void RefilledBucketsAreForgotten()
    {
        var limiter = Create(rate: 100, burst: 100);
        for (var i = 0; i < 1_000; i++) Assert.True(limiter.TryAdmit("key-" + i, out _));
        Assert.Equal(1_000, limiter.TrackedKeys);

        _clock.Advance(TimeSpan.FromSeconds(2));
        Assert.True(limiter.TryAdmit("another", out _));

        Assert.Equal(1, limiter.TrackedKeys);
    }

    [Fact]
    public void MemoryIsBoundedWhenManyKeysAreBusy()
    {
        var limiter = Create(rate: 1, burst: 1, maxKeys: 100);

        for (var i = 0; i < 10_000; i++) limiter.TryAdmit("key-" + i, out _);

        Assert.InRange(limiter.TrackedKeys, 1, 100);
    }

    [Fact]
    public void ConcurrentRequestsNeverTakeMoreThanTheBurst()
    {
        var limiter = Create(rate: 0.001, burst: 500);
        var admitted = 0;

        Parallel.For(0, 5_000, _ =>
        {
            if (limiter.TryAdmit("key", out _)) Interlocked.Increment(ref admitted);
        });

        Assert.Equal(500, admitted);
    }

    private EventRateLimiter Create(double rate, int burst, int maxKeys = 10_000) =>
        new(Options.Create(new RateLimitOptions { EventsPerSecond = rate, Burst = burst, MaxKeys = maxKeys }), _clock);
}
