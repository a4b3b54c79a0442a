using System.Diagnostics;
using EventIngest.Telemetry;

namespace EventIngest.Tests.Telemetry;

public sealed class TraceContextTests
{
    private const string Incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    [Fact]
    public void MessagesCarryTheRequestSpanWhenThereIsOne()
    {
        using var span = new Activity(IngestActivities.Ingest).SetIdFormat(ActivityIdFormat.W3C).SetParentId(Incoming).Start();

        var carried = IngestActivities.TraceParentFor(span, Incoming);

        Assert.Equal(span.Id, carried);
        Assert.StartsWith("00-4bf92f3577b34da6a3ce929d0e0e4736-", carried, StringComparison.Ordinal);
        Assert.NotEqual(Incoming, carried);
    }

    [Fact]
    public void WithoutARecordedSpanMessagesCarryTheCallersTraceParent() =>
        Assert.Equal(Incoming, IngestActivities.TraceParentFor(null, Incoming));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("not a trace context")]
    [InlineData("00-00000000000000000000000000000000-00f067aa0ba902b7-01")]
    public void AMissingOrMalformedTraceParentIsNotCarried(string? incoming) =>
        Assert.Null(IngestActivities.TraceParentFor(null, incoming));

    /// <summary>
    /// A sampler that records only the traces it is told to, and drops the others the way the
    /// OpenTelemetry SDK does for a root or a remote parent (<see cref="ActivitySamplingResult.PropagationData"/>:
    /// an activity is made, but nobody wants its data). Other tests' spans are left to their own listeners.
    /// </summary>
    private sealed class Sampler : IDisposable
    {
        private readonly ActivityListener _listener;
        private int _started;

        public Sampler(ActivityTraceId trace, bool record)
        {
            _listener = new ActivityListener
            {
                ShouldListenTo = source => source.Name == IngestActivities.SourceName,
                Sample = (ref ActivityCreationOptions<ActivityContext> options) => options.TraceId != trace ? ActivitySamplingResult.None
                    : record ? ActivitySamplingResult.AllDataAndRecorded : ActivitySamplingResult.PropagationData,
                ActivityStarted = activity =>
                {
                    if (activity.TraceId == trace) Interlocked.Increment(ref _started);
                },
            };
            ActivitySource.AddActivityListener(_listener);
        }

        public int Started => Volatile.Read(ref _started);

        public void Dispose() => _listener.Dispose();
    }

    [Fact]
    public void ARequestTheSamplerDropsStartsNoSpanAndCarriesTheCallersContext()
    {
        var trace = ActivityTraceId.CreateRandom();
        var incoming = $"00-{trace}-{ActivitySpanId.CreateRandom()}-00";
        using var sampler = new Sampler(trace, record: false);

        using var request = IngestActivities.StartIngest(incoming);
        using var parse = IngestActivities.StartStep(IngestActivities.Parse);

        Assert.Null(request);
        Assert.Null(parse);
        Assert.Equal(0, sampler.Started);
        Assert.Equal(incoming, IngestActivities.TraceParentFor(request, incoming));
    }

    [Fact]
    public void ARecordedRequestHasItsStepsAsChildren()
    {
        var trace = ActivityTraceId.CreateRandom();
        var incoming = $"00-{trace}-{ActivitySpanId.CreateRandom()}-01";
        using var sampler = new Sampler(trace, record: true);

        using var request = IngestActivities.StartIngest(incoming);
        Assert.NotNull(request);
        using (var parse = IngestActivities.StartStep(IngestActivities.Parse))
        {
            Assert.NotNull(parse);
            Assert.Equal(request.SpanId, parse.ParentSpanId);
        }

        Assert.Equal(2, sampler.Started);
        Assert.Equal(request.Id, IngestActivities.TraceParentFor(request, incoming));
    }
}
