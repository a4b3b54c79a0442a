using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using EventIngest.Telemetry;

namespace EventIngest.Tests.Telemetry;

/// <summary>Every span of the service's source and every measurement of its meter, in this process, as
/// text (names, attribute keys and values, status): what an exporter could send anywhere.</summary>
public sealed class CapturedTelemetry : IDisposable
{
    private readonly ActivityListener _spans;
    private readonly MeterListener _metrics = new();
    private readonly ConcurrentQueue<string> _texts = new();

    public CapturedTelemetry()
    {
        _spans = new ActivityListener
        {
            ShouldListenTo = source => source.Name == IngestActivities.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity => _texts.Enqueue(
                $"span {activity.DisplayName} {activity.StatusDescription} " + string.Join(' ', activity.TagObjects.Select(t => $"{t.Key}={t.Value}"))),
        };
        ActivitySource.AddActivityListener(_spans);
        _metrics.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == IngestMetrics.MeterName) listener.EnableMeasurementEvents(instrument);
        };
        _metrics.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i, tags));
        _metrics.SetMeasurementEventCallback<int>((i, v, tags, _) => Add(i, tags));
        _metrics.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i, tags));
        _metrics.Start();
    }

    public IReadOnlyList<string> Texts => [.. _texts];

    private void Add(Instrument instrument, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var text = "metric " + instrument.Name;
        foreach (var (k, v) in tags) text += $" {k}={v}";
        _texts.Enqueue(text);
    }

    public void Dispose()
    {
        _spans.Dispose();
        _metrics.Dispose();
    }
}
