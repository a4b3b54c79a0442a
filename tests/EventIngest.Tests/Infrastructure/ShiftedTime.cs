namespace EventIngest.Tests.Infrastructure;

/// <summary>The real clock moved by an adjustable offset, to step over windows without waiting.
/// With <see cref="StopwatchStopped"/>, elapsed time (token refill, cache lifetimes, how long an
/// outbox row waited) stands still unless <see cref="AdvanceStopwatch"/> moves it, so a slow
/// machine changes nothing that depends on how long something took.
/// Not FakeTimeProvider (which the pure unit tests use): a host against Azurite needs a clock that runs — storage
/// timeouts, queue visibility, its own timers — and here is only moved.</summary>
public sealed class ShiftedTime : TimeProvider
{
    private readonly long _stoppedAt = global::System.Diagnostics.Stopwatch.GetTimestamp();
    private long _stopwatchMoved;

    public TimeSpan Offset { get; set; }
    public bool StopwatchStopped { get; init; }
    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + Offset;

    public override long GetTimestamp() =>
        (StopwatchStopped ? _stoppedAt : base.GetTimestamp()) + Interlocked.Read(ref _stopwatchMoved);

    public void AdvanceStopwatch(TimeSpan by) =>
        Interlocked.Add(ref _stopwatchMoved, (long)(by.TotalSeconds * TimestampFrequency));
}
