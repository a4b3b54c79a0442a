using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using EventIngest.Telemetry;
using Microsoft.Extensions.DependencyInjection;

namespace EventIngest.Tests.Telemetry;

/// <summary>
/// Records what one host's instruments measure. Tests run in parallel in one process and a
/// <see cref="MeterListener"/> sees every meter, so it listens only to the meter of the host's own
/// <see cref="IngestMetrics"/> (each host's <c>IMeterFactory</c> makes its own).
/// </summary>
public sealed class MetricRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<Measured> _measured = new();

    public sealed record Measured(string Instrument, double Value, IReadOnlyDictionary<string, object?> Tags);

    public MetricRecorder(IServiceProvider services)
    {
        var meter = services.GetRequiredService<IngestMetrics>().Meter;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, meter)) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Add(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i, v, tags));
        _listener.Start();
    }

    public IReadOnlyList<Measured> All => [.. _measured];

    public IEnumerable<Measured> Of(string instrument) => _measured.Where(m => m.Instrument == instrument);

    /// <summary>The sum of an instrument's measurements whose tags include all of <paramref name="tags"/>.</summary>
    public double Sum(string instrument, params (string Key, object? Value)[] tags) =>
        Of(instrument).Where(m => tags.All(t => m.Tags.TryGetValue(t.Key, out var v) && Equals(v, t.Value))).Sum(m => m.Value);

    public int Count(string instrument, params (string Key, object? Value)[] tags) =>
        Of(instrument).Count(m => tags.All(t => m.Tags.TryGetValue(t.Key, out var v) && Equals(v, t.Value)));

    /// <summary>Asks the observable gauges for their values now; returns what they reported.</summary>
    public IReadOnlyList<Measured> ObserveGauges()
    {
        var before = _measured.Count;
        _listener.RecordObservableInstruments();
        return [.. _measured.Skip(before)];
    }

    private void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var copy = new Dictionary<string, object?>(tags.Length, StringComparer.Ordinal);
        foreach (var (k, v) in tags) copy[k] = v;
        _measured.Enqueue(new Measured(instrument.Name, value, copy));
    }

    public void Dispose() => _listener.Dispose();
}
