using System.Diagnostics;

namespace EventIngest.Telemetry;

/// <summary>
/// The service's spans. A request to the event route is one span (<see cref="Ingest"/>) with a child
/// for each step; its W3C <c>traceparent</c> goes into every queue message of the request (the
/// envelope's <c>traceparent</c> field, docs/message-format.md), and the consumer kit's span
/// continues the trace from there. Starting a span costs nothing while nobody listens.
/// </summary>
public static class IngestActivities
{
    public const string SourceName = "EventIngest";

    public const string Ingest = "eventingest.ingest";
    public const string Parse = "eventingest.parse";
    public const string Seal = "eventingest.seal";
    public const string Record = "eventingest.record";
    public const string Claim = "eventingest.claim";
    public const string Send = "eventingest.send";
    public const string Repair = "eventingest.repair";
    public const string Release = "eventingest.release";

    public static readonly ActivitySource Source = new(SourceName);

    /// <summary>The request's span, a child of the host's span or, failing that, of the caller's
    /// <c>traceparent</c> header. A server span when the host made none of its own. Null unless the
    /// sampler samples the request (<see cref="StartSampled"/>); its steps then start no span either.</summary>
    public static Activity? StartIngest(string? traceparent)
    {
        if (!Source.HasListeners()) return null;
        if (Activity.Current is { } current) return StartSampled(Ingest, ActivityKind.Internal, current.Context);
        return ActivityContext.TryParse(traceparent, null, isRemote: true, out var parent)
            ? StartSampled(Ingest, ActivityKind.Server, parent)
            : StartSampled(Ingest, ActivityKind.Server, default);
    }

    /// <summary>A step of the current request or job: a child of its span, which must be the
    /// service's own and sampled (an unsampled request costs its steps nothing).</summary>
    public static Activity? StartStep(string name) =>
        Activity.Current is { Recorded: true } parent && ReferenceEquals(parent.Source, Source) ? Source.StartActivity(name) : null;

    /// <summary>The span of one piece of a background job (a repaired row): a root, or a child of the
    /// host's span of the run; the sampler decides as for a request.</summary>
    public static Activity? StartJob(string name) =>
        Source.HasListeners() ? StartSampled(name, ActivityKind.Internal, default) : null;

    /// <summary>
    /// Starts the span only if the sampler samples it (the W3C sampled flag, <see cref="Activity.Recorded"/>).
    /// A trace it leaves out still gets an activity made: <see cref="ActivitySamplingResult.PropagationData"/>
    /// from the OpenTelemetry SDK for a root or a remote parent, and <see cref="ActivitySamplingResult.AllData"/>
    /// (record only) from the Azure Monitor exporter's samplers for every trace they do not sample, which
    /// feeds its live metrics. Starting it would cost the request a span's work, two changes of
    /// <see cref="Activity.Current"/> included, for nothing exported; the service's own metrics count
    /// every request. The messages of such a request carry the caller's <c>traceparent</c> instead
    /// (<see cref="TraceParentFor"/>).
    /// </summary>
    private static Activity? StartSampled(string name, ActivityKind kind, ActivityContext parent) =>
        Source.CreateActivity(name, kind, parent) is { Recorded: true } activity ? activity.Start() : null;

    /// <summary>The <c>traceparent</c> to carry in a request's messages: the request span's, or the
    /// caller's own when this process records no spans (so the trace still reaches the consumer; a
    /// span of the host's that nobody records would leave the consumer's span without a parent).</summary>
    public static string? TraceParentFor(Activity? ingest, string? incoming)
    {
        if (ingest is { IdFormat: ActivityIdFormat.W3C }) return ingest.Id;
        return incoming is { Length: 55 } && ActivityContext.TryParse(incoming, null, out _) ? incoming : null;
    }
}
