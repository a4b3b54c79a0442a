using EventIngest.Encryption;
using Microsoft.Extensions.Time.Testing;

namespace EventIngest.Tests.Encryption;

public sealed class SingleFlightCacheTests
{
    private readonly FakeTimeProvider _time = new FakeTimeProvider();

    [Fact]
    public async Task ConcurrentMissesForOneKeyShareOneLoad()
    {
        var cache = new SingleFlightCache<string, int>(TimeSpan.FromMinutes(1), 100, _time);
        var gate = new TaskCompletionSource();
        var loads = 0;

        var callers = Enumerable.Range(0, 50)
            .Select(_ => cache.GetOrLoadAsync("k", 0, async (_, _, _) => { Interlocked.Increment(ref loads); await gate.Task; return 42; }, default).AsTask())
            .ToArray();
        gate.SetResult();

        Assert.All(await Task.WhenAll(callers), value => Assert.Equal(42, value));
        Assert.Equal(1, loads);
    }

    [Fact]
    public async Task EntryIsLoadedAgainOnceItsTimeToLiveHasPassed()
    {
        var cache = new SingleFlightCache<string, int>(TimeSpan.FromMinutes(1), 100, _time);
        var loads = 0;
        Task<int> Load(string key, int state, CancellationToken ct) => Task.FromResult(Interlocked.Increment(ref loads));

        await cache.GetOrLoadAsync("k", 0, Load, default);
        _time.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(1, await cache.GetOrLoadAsync("k", 0, Load, default));
        _time.Advance(TimeSpan.FromSeconds(1));

        Assert.False(cache.TryGet("k", out _));
        Assert.Equal(2, await cache.GetOrLoadAsync("k", 0, Load, default));
    }

    [Fact]
    public async Task FailedLoadIsNotCached()
    {
        var cache = new SingleFlightCache<string, int>(TimeSpan.FromMinutes(1), 100, _time);

        await Assert.ThrowsAsync<InvalidOperationException>(() => cache.GetOrLoadAsync<int>("k", 0, (_, _, _) => throw new InvalidOperationException(), default).AsTask());
        var value = await cache.GetOrLoadAsync("k", 0, (_, _, _) => Task.FromResult(7), default);

        Assert.Equal(7, value);
    }

    [Fact]
    public async Task CallerThatGivesUpDoesNotCancelTheSharedLoad()
    {
        var cache = new SingleFlightCache<string, int>(TimeSpan.FromMinutes(1), 100, _time);
        var gate = new TaskCompletionSource();
        using var impatient = new CancellationTokenSource();

        var first = cache.GetOrLoadAsync("k", 0, async (_, _, _) => { await gate.Task; return 1; }, impatient.Token).AsTask();
        var second = cache.GetOrLoadAsync("k", 0, (_, _, _) => Task.FromResult(2), default).AsTask();
        await impatient.CancelAsync();
        gate.SetResult();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        Assert.Equal(1, await second);
    }

    [Fact]
    public async Task CacheStaysWithinItsBound()
    {
        var cache = new SingleFlightCache<int, int>(TimeSpan.FromHours(1), 1000, _time);

        for (var i = 0; i < 10_000; i++)
        {
            await cache.GetOrLoadAsync(i, 0, (key, _, _) => Task.FromResult(key), default);
        }

        Assert.InRange(cache.Count, 1, 1000);
    }

    [Fact]
    public async Task ExpiredEntriesAreDroppedFromMemory()
    {
        var cache = new SingleFlightCache<int, int>(TimeSpan.FromMinutes(1), 1000, _time);
        for (var i = 0; i < 100; i++)
        {
            await cache.GetOrLoadAsync(i, 0, (key, _, _) => Task.FromResult(key), default);
        }

        _time.Advance(TimeSpan.FromMinutes(2));
        await cache.GetOrLoadAsync(-1, 0, (key, _, _) => Task.FromResult(key), default);

        Assert.Equal(1, cache.Count);
    }
}
