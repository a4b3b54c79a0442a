using System.Diagnostics;
using EventIngest.DevServer;
using EventIngest.Telemetry;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace EventIngest.Bench;

/// <summary>
/// The OpenTelemetry SDK in this process, listening to the service's source and meter as the hosts do.
/// The exporters take each batch on the SDK's own thread and drop it, so what the measured thread pays
/// is the spans and measurements themselves. Two samplers: every trace (the SDK's default, parent-based
/// always-on, which the local host keeps), or five traces a second sampled and the rest recorded only,
/// as the Functions app samples (infra/bicep: tracesPerSecond), with the local host's sampler that
/// behaves like the Azure Monitor exporter's.
/// </summary>
internal sealed class InProcessTelemetry : IDisposable
{
    public enum Traces { All, FivePerSecond }

    private readonly TracerProvider _tracer;
    private readonly MeterProvider _meter;

    public InProcessTelemetry(Traces traces)
    {
        Sampler sampler = traces == Traces.All ? new ParentBasedSampler(new AlwaysOnSampler()) : new LocalTelemetry.RateLimitedSampler(5);
        _tracer = Sdk.CreateTracerProviderBuilder()
            .AddSource(IngestActivities.SourceName)
            .SetSampler(sampler)
            .AddProcessor(new BatchActivityExportProcessor(new Dropping<Activity>()))
            .Build()!;
        _meter = Sdk.CreateMeterProviderBuilder()
            .AddMeter(IngestMetrics.MeterName)
            .AddReader(new PeriodicExportingMetricReader(new Dropping<Metric>(), exportIntervalMilliseconds: 1000))
            .Build()!;
    }

    public static string Describe(Traces traces) => traces == Traces.All ? "every request traced" : "5 traces/s";

    public void Dispose()
    {
        _tracer.Dispose();
        _meter.Dispose();
    }

    private sealed class Dropping<T> : BaseExporter<T>
        where T : class
    {
        public override ExportResult Export(in Batch<T> batch)
        {
            foreach (var _ in batch) { }
            return ExportResult.Success;
        }
    }
}
