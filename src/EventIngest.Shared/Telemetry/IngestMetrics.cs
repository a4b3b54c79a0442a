using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace EventIngest.Telemetry;

/// <summary>The names of the service's metrics and of their attributes. The dashboard and the alert
/// rules in infra/bicep/modules/observability.bicep query these names; docs/operations.md explains them.</summary>
public static class MetricNames
{
    public const string Events = "eventingest.events";
    public const string Refusals = "eventingest.refusals";
    public const string RequestDuration = "eventingest.request.duration";
    public const string BatchSize = "eventingest.request.batch_size";
    public const string StorageRequests = "eventingest.request.storage_requests";
    public const string OutboxRepaired = "eventingest.outbox.repaired";
    public const string OutboxResent = "eventingest.outbox.resent";
    public const string OutboxCompletionDelay = "eventingest.outbox.completion_delay";
    public const string OutboxOverdue = "eventingest.outbox.overdue";
    public const string ScheduledWaiting = "eventingest.scheduled.waiting";
    public const string ScheduledParked = "eventingest.scheduled.parked";
    public const string ReleaseLag = "eventingest.scheduled.release_lag";
    public const string QueueDepth = "eventingest.queue.depth";
    public const string KeyVaultOperations = "eventingest.keyvault.operations";
    public const string KeyVaultFailures = "eventingest.keyvault.failures";
    public const string PersonKeyCache = "eventingest.person_key.cache";
    public const string Erasures = "eventingest.erasures";

    public static IReadOnlyList<string> All { get; } =
    [
        Events, Refusals, RequestDuration, BatchSize, StorageRequests, OutboxRepaired, OutboxResent, OutboxCompletionDelay,
        OutboxOverdue, ScheduledWaiting, ScheduledParked, ReleaseLag, QueueDepth, KeyVaultOperations, KeyVaultFailures,
        PersonKeyCache, Erasures,
    ];
}

/// <summary>Attribute names (OpenTelemetry's where one exists) and their closed sets of values.</summary>
public static class MetricAttributes
{
    public const string Environment = "eventingest.environment";
    public const string Route = "http.route";
    public const string StatusCode = "http.response.status_code";
    public const string Outcome = "eventingest.outcome";
    public const string Reason = "eventingest.refusal.reason";
    public const string StorageService = "eventingest.storage.service";
    public const string Queue = "messaging.destination.name";
    public const string QueueKind = "eventingest.queue.kind";
    public const string Operation = "eventingest.keyvault.operation";
    public const string ErrorType = "error.type";
    public const string CacheResult = "eventingest.cache.result";
    public const string Found = "eventingest.erasure.found";

    /// <summary>The event route, as routed (never the path: it holds the event key).</summary>
    public const string EventRoute = "/e/{eventKey}";
}

/// <summary>Why a request to the event route was refused.</summary>
public enum RefusalReason
{
    Validation,
    Size,
    Auth,
    RateLimit,
    Storage,
    KeyVault,
    Internal,
    ClientClosed,
}

/// <summary>
/// The service's instruments, on one <see cref="Meter"/> named <see cref="MeterName"/>. The meter
/// comes from the host's <see cref="IMeterFactory"/>, so every service provider (each test host)
/// has instruments of its own. Each record checks <see cref="Instrument.Enabled"/> first: with no
/// listener, the hot path pays one field read.
/// </summary>
public sealed class IngestMetrics
{
    public const string MeterName = "EventIngest";

    // Seconds: a request is milliseconds to a minute; a release lag seconds to minutes.
    private static readonly double[] DurationBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
    private static readonly double[] LagBuckets = [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800];
    private static readonly int[] CountBuckets = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

    private readonly Counter<long> _events;
    private readonly Counter<long> _refusals;
    private readonly Histogram<double> _duration;
    private readonly Histogram<int> _batchSize;
    private readonly Histogram<int> _storageRequests;
    private readonly Counter<long> _repaired;
    private readonly Counter<long> _resent;
    private readonly Histogram<double> _completionDelay;
    private readonly Histogram<double> _releaseLag;
    private readonly Counter<long> _keyVaultOperations;
    private readonly Counter<long> _keyVaultFailures;
    private long _personKeyHits;
    private long _personKeyMisses;
    private readonly Counter<long> _erasures;
    private readonly Lock _gaugeGate = new();
    private Measurement<long>[] _queueDepths = [];
    private long? _waiting;
    private long? _parked;
    private long? _overdue;

    public IngestMetrics(IMeterFactory meterFactory)
    {
        Meter = meterFactory.Create(MeterName);
        _events = Meter.CreateCounter<long>(MetricNames.Events, "{event}", "Events acknowledged, by outcome: accepted, scheduled or duplicate.");
        _refusals = Meter.CreateCounter<long>(MetricNames.Refusals, "{request}", "Requests to the event route answered with an error, by reason.");
        _duration = Meter.CreateHistogram(MetricNames.RequestDuration, "s", "Time from a request's arrival to its answer.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _batchSize = Meter.CreateHistogram(MetricNames.BatchSize, "{event}", "Events in one accepted request.",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = CountBuckets });
        _storageRequests = Meter.CreateHistogram(MetricNames.StorageRequests, "{request}", "Storage requests (retries included) one accepted request made, by service.",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = CountBuckets });
        _repaired = Meter.CreateCounter<long>(MetricNames.OutboxRepaired, "{request}", "Outbox rows of interrupted requests that the repair job completed.");
        _resent = Meter.CreateCounter<long>(MetricNames.OutboxResent, "{event}", "Events the repair job sent (again) for interrupted requests.");
        _completionDelay = Meter.CreateHistogram(MetricNames.OutboxCompletionDelay, "s", "For a repaired request: time from its receipt to the repair's last send.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LagBuckets });
        _releaseLag = Meter.CreateHistogram(MetricNames.ReleaseLag, "s", "Time from a scheduled event's due time to its release onto its queues.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LagBuckets });
        _keyVaultOperations = Meter.CreateCounter<long>(MetricNames.KeyVaultOperations, "{operation}", "Calls to the key-encryption key (resolve, wrap, unwrap), failed ones included.");
        _keyVaultFailures = Meter.CreateCounter<long>(MetricNames.KeyVaultFailures, "{operation}", "Calls to the key-encryption key that failed, by error type.");
        // Observed rather than added: a lookup happens for every event with a user, and a count kept here
        // costs it one interlocked increment instead of a measurement with an attribute.
        Meter.CreateObservableCounter(MetricNames.PersonKeyCache, ObservePersonKeyLookups, "{lookup}", "Person-key lookups in the in-memory cache, by result: hit or miss.");
        _erasures = Meter.CreateCounter<long>(MetricNames.Erasures, "{person}", "Erasures of a person's key material, by whether there was one.");
        Meter.CreateObservableGauge(MetricNames.QueueDepth, ObserveQueueDepths, "{message}", "Messages on each queue (consumer queues, the due queue, poison queues), as last measured.");
        Meter.CreateObservableGauge(MetricNames.ScheduledWaiting, () => Observe(ref _waiting), "{event}", "Scheduled events waiting on the due queue, as last measured.");
        Meter.CreateObservableGauge(MetricNames.ScheduledParked, () => Observe(ref _parked), "{event}", "Scheduled events parked beyond the queue's horizon, as last measured.");
        Meter.CreateObservableGauge(MetricNames.OutboxOverdue, () => Observe(ref _overdue), "{request}", "Outbox rows older than RepairAfter that the repair job has not completed, as last measured.");
    }

    public Meter Meter { get; }

    public void Outcome(string environment, string outcome, int count)
    {
        if (!_events.Enabled || count == 0) return;
        _events.Add(count, new TagList { { MetricAttributes.Environment, environment }, { MetricAttributes.Route, MetricAttributes.EventRoute }, { MetricAttributes.Outcome, outcome } });
    }

    public void Refused(string? environment, RefusalReason reason, int status)
    {
        if (!_refusals.Enabled) return;
        _refusals.Add(1, new TagList
        {
            { MetricAttributes.Environment, environment ?? "" },
            { MetricAttributes.Route, MetricAttributes.EventRoute },
            { MetricAttributes.Reason, ReasonName(reason) },
            { MetricAttributes.StatusCode, status },
        });
    }

    public bool RequestInstrumentsEnabled => _duration.Enabled || _batchSize.Enabled || _storageRequests.Enabled;

    public void Request(string? environment, int status, TimeSpan duration)
    {
        if (!_duration.Enabled) return;
        _duration.Record(duration.TotalSeconds, new TagList
        {
            { MetricAttributes.Environment, environment ?? "" },
            { MetricAttributes.Route, MetricAttributes.EventRoute },
            { MetricAttributes.StatusCode, status },
        });
    }

    public void Batch(string environment, int events)
    {
        if (!_batchSize.Enabled) return;
        _batchSize.Record(events, new TagList { { MetricAttributes.Environment, environment }, { MetricAttributes.Route, MetricAttributes.EventRoute } });
    }

    public void StorageUse(string environment, StorageTally tally)
    {
        if (!_storageRequests.Enabled) return;
        Record(StorageTally.Table, tally.Tables);
        Record(StorageTally.Queue, tally.Queues);
        Record(StorageTally.Blob, tally.Blobs);

        void Record(string service, int count) => _storageRequests.Record(count, new TagList
        {
            { MetricAttributes.Environment, environment },
            { MetricAttributes.Route, MetricAttributes.EventRoute },
            { MetricAttributes.StorageService, service },
        });
    }

    public void Repaired(string? environment, int resent, TimeSpan sinceReceipt)
    {
        var tags = new TagList { { MetricAttributes.Environment, environment ?? "" } };
        if (_repaired.Enabled) _repaired.Add(1, tags);
        if (_resent.Enabled && resent > 0) _resent.Add(resent, tags);
        if (_completionDelay.Enabled) _completionDelay.Record(Math.Max(0, sinceReceipt.TotalSeconds), tags);
    }

    public void Released(string environment, TimeSpan lag)
    {
        if (!_releaseLag.Enabled) return;
        _releaseLag.Record(Math.Max(0, lag.TotalSeconds), new TagList { { MetricAttributes.Environment, environment } });
    }

    public void KeyOperation(string operation, Exception? failure)
    {
        if (_keyVaultOperations.Enabled) _keyVaultOperations.Add(1, new TagList { { MetricAttributes.Operation, operation } });
        if (failure is not null && _keyVaultFailures.Enabled)
        {
            _keyVaultFailures.Add(1, new TagList { { MetricAttributes.Operation, operation }, { MetricAttributes.ErrorType, failure.GetType().Name } });
        }
    }

    public void PersonKeyLookup(bool hit) => Interlocked.Increment(ref hit ? ref _personKeyHits : ref _personKeyMisses);

    public void Erased(string environment, bool found)
    {
        if (!_erasures.Enabled) return;
        _erasures.Add(1, new TagList { { MetricAttributes.Environment, environment }, { MetricAttributes.Found, found } });
    }

    /// <summary>Depths measured by <see cref="DepthProbe"/>; the gauges report them until the next measurement.</summary>
    public void SetDepths(IEnumerable<(string Queue, string Kind, long Messages)> queues, long? waiting, long? parked, long? overdue)
    {
        var measurements = queues.Select(q => new Measurement<long>(q.Messages,
            new KeyValuePair<string, object?>(MetricAttributes.Queue, q.Queue), new KeyValuePair<string, object?>(MetricAttributes.QueueKind, q.Kind))).ToArray();
        lock (_gaugeGate)
        {
            _queueDepths = measurements;
            if (waiting is not null) _waiting = waiting;
            if (parked is not null) _parked = parked;
            if (overdue is not null) _overdue = overdue;
        }
    }

    private Measurement<long>[] ObservePersonKeyLookups() =>
    [
        new(Interlocked.Read(ref _personKeyHits), new KeyValuePair<string, object?>(MetricAttributes.CacheResult, "hit")),
        new(Interlocked.Read(ref _personKeyMisses), new KeyValuePair<string, object?>(MetricAttributes.CacheResult, "miss")),
    ];

    private IEnumerable<Measurement<long>> ObserveQueueDepths()
    {
        lock (_gaugeGate) return _queueDepths;
    }

    private IEnumerable<Measurement<long>> Observe(ref long? value)
    {
        lock (_gaugeGate) return value is { } v ? [new Measurement<long>(v)] : [];
    }

    public static string ReasonName(RefusalReason reason) => reason switch
    {
        RefusalReason.Validation => "validation",
        RefusalReason.Size => "size",
        RefusalReason.Auth => "auth",
        RefusalReason.RateLimit => "rate_limit",
        RefusalReason.Storage => "storage",
        RefusalReason.KeyVault => "key_vault",
        RefusalReason.ClientClosed => "client_closed",
        _ => "internal",
    };
}
