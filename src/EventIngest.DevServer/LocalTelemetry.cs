using System.Diagnostics;
using System.Globalization;
using EventIngest.Telemetry;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace EventIngest.DevServer;

/// <summary>
/// Spans and metrics over OTLP to whatever collector <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> names (the
/// standard variable, read from the environment or any configuration source); off when it is unset.
/// The other standard variables (<c>OTEL_EXPORTER_OTLP_PROTOCOL</c>, <c>OTEL_SERVICE_NAME</c>,
/// <c>OTEL_METRIC_EXPORT_INTERVAL</c>, <c>OTEL_TRACES_SAMPLER</c>, ...) apply as usual, and the Azure
/// app's sampler setting too (<c>OTEL_TRACES_SAMPLER=microsoft.rate_limited</c>), so that a local run
/// can trace as a deployment does.
/// </summary>
public static class LocalTelemetry
{
    public const string EndpointSetting = "OTEL_EXPORTER_OTLP_ENDPOINT";
    public const string DefaultServiceName = "eventingest-local";

    public static bool IsEnabled(IConfiguration configuration) => !string.IsNullOrWhiteSpace(configuration[EndpointSetting]);

    public static WebApplicationBuilder AddLocalTelemetry(this WebApplicationBuilder builder)
    {
        if (!IsEnabled(builder.Configuration)) return builder;
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(builder.Configuration["OTEL_SERVICE_NAME"] ?? DefaultServiceName))
            // The host's own request span (Microsoft.AspNetCore) is the parent of the service's request span.
            .WithTracing(tracing =>
            {
                tracing.AddSource("Microsoft.AspNetCore", IngestActivities.SourceName).AddProcessor(new PathRedaction()).AddOtlpExporter();
                if (RateLimitedSampler.From(builder.Configuration) is { } sampler) tracing.SetSampler(sampler);
            })
            .WithMetrics(metrics => metrics.AddMeter(IngestMetrics.MeterName).AddOtlpExporter());
        return builder;
    }

    /// <summary>The host's request span names the path, which holds the event key or an <c>external_id</c>:
    /// the route takes its place, as in the logs (RequestPathLogging).</summary>
    private sealed class PathRedaction : BaseProcessor<Activity>
    {
        public override void OnEnd(Activity data)
        {
            if (data.Source.Name != "Microsoft.AspNetCore") return;
            data.SetTag("url.path", data.GetTagItem("http.route"));
            data.SetTag("url.query", null);
            data.SetTag("url.full", null);
        }
    }

    /// <summary>
    /// At most a given number of traces a second (<c>OTEL_TRACES_SAMPLER_ARG</c>, 5 if unset), each
    /// sampled when a whole interval has passed since the one before, the way the Azure Monitor
    /// exporter's sampler of the same name behaves for the local host, which does not carry that package:
    /// a trace it does not sample is still recorded (<see cref="SamplingDecision.RecordOnly"/>, which
    /// exports nothing), and a caller's own sampling decision does not count. A span with a parent in
    /// this process follows its parent, so a sampled trace is whole.
    /// </summary>
    internal sealed class RateLimitedSampler : Sampler
    {
        public const string Name = "microsoft.rate_limited";
        private static readonly SamplingResult Sampled = new(SamplingDecision.RecordAndSample);
        private static readonly SamplingResult RecordedOnly = new(SamplingDecision.RecordOnly);
        private readonly long _interval;
        private long _next;

        public RateLimitedSampler(double perSecond)
        {
            if (!(perSecond >= 0) || double.IsInfinity(perSecond)) throw new ArgumentOutOfRangeException(nameof(perSecond), perSecond, "A number of traces a second, 0 or more.");
            var interval = perSecond == 0 ? double.PositiveInfinity : Stopwatch.Frequency / perSecond;
            // Below about one trace in a century, none.
            _interval = interval >= long.MaxValue / 2.0 ? long.MaxValue : Math.Max(1, (long)interval);
            Description = $"RateLimitedSampler{{{perSecond.ToString(CultureInfo.InvariantCulture)}}}";
        }

        public static RateLimitedSampler? From(IConfiguration configuration)
        {
            if (!string.Equals(configuration["OTEL_TRACES_SAMPLER"], Name, StringComparison.OrdinalIgnoreCase)) return null;
            var argument = configuration["OTEL_TRACES_SAMPLER_ARG"];
            if (string.IsNullOrWhiteSpace(argument)) return new RateLimitedSampler(5);
            return double.TryParse(argument, NumberStyles.Float, CultureInfo.InvariantCulture, out var perSecond) && perSecond >= 0 && double.IsFinite(perSecond)
                ? new RateLimitedSampler(perSecond)
                : throw new InvalidOperationException($"OTEL_TRACES_SAMPLER_ARG must be a number of traces a second, 0 or more, for {Name}; it is '{argument}'.");
        }

        public override SamplingResult ShouldSample(in SamplingParameters samplingParameters)
        {
            var parent = samplingParameters.ParentContext;
            if (parent.TraceId != default && !parent.IsRemote)
            {
                return (parent.TraceFlags & ActivityTraceFlags.Recorded) != 0 ? Sampled : RecordedOnly;
            }
            if (_interval == long.MaxValue) return RecordedOnly;
            var now = Stopwatch.GetTimestamp();
            var next = Volatile.Read(ref _next);
            return now >= next && Interlocked.CompareExchange(ref _next, now + _interval, next) == next ? Sampled : RecordedOnly;
        }
    }
}
