namespace EventIngest.Tests.Infrastructure;

/// <summary>The real clock moved by an adjustable offset, to step over windows without waiting.</summary>
public sealed class ShiftedTime : TimeProvider
{
    public TimeSpan Offset { get; set; }
    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + Offset;
}
