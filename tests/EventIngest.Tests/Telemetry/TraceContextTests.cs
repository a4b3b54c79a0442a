using System.Diagnostics;
using EventIngest.Telemetry;
using EventIngest.Tests.Infrastructure;

namespace EventIngest.Tests.Telemetry;

// With the tests that listen to the service's source: a listener votes for every span of its source
// in the process, so these tests and those must not run at the same time.
[Collection(AzuriteFixture.CollectionName)]
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
    /// A sampler that answers as told for one trace, and leaves the others to their own listeners.
    /// <see cref="ActivitySamplingResult.PropagationData"/> is the OpenTelemetry SDK's answer for a root or
    /// a remote parent it drops; <see cref="ActivitySamplingResult.AllData"/> (record only) the Azure
    /// Monitor exporter's for every trace it does not sample.
    /// </summary>
    private sealed class Sampler : IDisposable
    {
        private readonly ActivityListener _listener;
        private int _started;

        public Sampler(ActivityTraceId trace, ActivitySamplingResult answer)
        {
            _listener = new ActivityListener
            {
                ShouldListenTo = source => source.Name == IngestActivities.SourceName,
                Sample = (ref ActivityCreationOptions<ActivityContext> options) => options.TraceId == trace ? answer : ActivitySamplingResult.None,
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

    [Theory]
    [InlineData(ActivitySamplingResult.PropagationData)]
    [InlineData(ActivitySamplingResult.AllData)]
    public void ARequestTheSamplerDoesNotSampleStartsNoSpanAndCarriesTheCallersContext(ActivitySamplingResult answer)
    {
        var trace = ActivityTraceId.CreateRandom();
        var incoming = $"00-{trace}-{ActivitySpanId.CreateRandom()}-00";
        using var sampler = new Sampler(trace, answer);

        using var request = IngestActivities.StartIngest(incoming);
        using var parse = IngestActivities.StartStep(IngestActivities.Parse);

        Assert.Null(request);
        Assert.Null(parse);
        Assert.Equal(0, sampler.Started);
        Assert.Equal(incoming, IngestActivities.TraceParentFor(request, incoming));
    }

    [Theory]
    [InlineData(ActivitySamplingResult.AllData, false)]
    [InlineData(ActivitySamplingResult.AllDataAndRecorded, true)]
    public void AJobsSpanStartsOnlyWhenSampled(ActivitySamplingResult answer, bool started)
    {
        var trace = ActivityTraceId.CreateRandom();
        using var sampler = new Sampler(trace, answer);
        using var run = new Activity("host timer run").SetParentId(trace, ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded).Start();

        using var repair = IngestActivities.StartJob(IngestActivities.Repair);

        Assert.Equal(started, repair is not null);
        Assert.Equal(started ? 1 : 0, sampler.Started);
        if (started) Assert.Equal(run.SpanId, repair!.ParentSpanId);
    }

    [Fact]
    public void UnderAHostSpanTheServiceSampledNotItsStepsStartNoSpan()
    {
        var trace = ActivityTraceId.CreateRandom();
        using var sampler = new Sampler(trace, ActivitySamplingResult.AllData);
        using var host = new Activity("host request").SetParentId(trace, ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded).Start();

        using var request = IngestActivities.StartIngest(null);
        using var seal = IngestActivities.StartStep(IngestActivities.Seal);

        Assert.Null(request);
        Assert.Null(seal); // not a child of the host's span in the request's place
        Assert.Equal(0, sampler.Started);
    }

    [Fact]
    public void ASampledRequestHasItsStepsAsChildrenAndTheCallerAsRemoteParent()
    {
        var trace = ActivityTraceId.CreateRandom();
        var callerSpan = ActivitySpanId.CreateRandom();
        var incoming = $"00-{trace}-{callerSpan}-01";
        var remoteParent = false;
        using var sampler = new Sampler(trace, ActivitySamplingResult.AllDataAndRecorded);
        using var seen = new ActivityListener
        {
            ShouldListenTo = source => source.Name == IngestActivities.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> options) =>
            {
                if (options.TraceId == trace && options.Name == IngestActivities.Ingest) remoteParent = options.Parent.IsRemote;
                return ActivitySamplingResult.None;
            },
        };
        ActivitySource.AddActivityListener(seen);

        using var request = IngestActivities.StartIngest(incoming);
        Assert.NotNull(request);
        using (var parse = IngestActivities.StartStep(IngestActivities.Parse))
        {
            Assert.NotNull(parse);
            Assert.Equal(request.SpanId, parse.ParentSpanId);
        }

        Assert.Equal(callerSpan, request.ParentSpanId);
        Assert.True(remoteParent);
        Assert.Equal(2, sampler.Started);
        Assert.Equal(request.Id, IngestActivities.TraceParentFor(request, incoming));
    }
}
