using System.Buffers;
using System.Diagnostics;
using EventIngest.Encryption;
using EventIngest.Storage;
using EventIngest.Telemetry;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using EventIngest.Ids;
using EventIngest.Http;

namespace EventIngest.Ingest;

/// <summary>
/// <c>POST /e/{eventKey}</c>: authenticate the key, apply its rate limit, read the body up to the cap, validate every
/// event, then store and enqueue them (<see cref="IngestPipeline"/>). Shared by the Functions
/// app and the local host.
/// </summary>
public sealed class EventEndpoint
{
    private readonly EventKeys keys;
    private readonly EventRateLimiter rateLimiter;
    private readonly IngestPipeline pipeline;
    private readonly IngestMetrics metrics;
    private readonly TimeProvider time;
    private readonly ILogger<EventEndpoint> logger;
    private readonly IngestOptions _options;

    /// <summary>Internal: the hosts resolve it from <see cref="ServiceCollectionExtensions.AddEventIngest"/>, whose
    /// registration calls this; its dependencies are not part of the public surface.</summary>
    internal EventEndpoint(EventKeys keys, EventRateLimiter rateLimiter, IngestPipeline pipeline, IngestMetrics metrics, IOptions<IngestOptions> options, TimeProvider time, ILogger<EventEndpoint> logger)
    {
        this.keys = keys;
        this.rateLimiter = rateLimiter;
        this.pipeline = pipeline;
        this.metrics = metrics;
        this.time = time;
        this.logger = logger;
        _options = options.Value;
    }

    public async Task<IResult> HandleAsync(HttpRequest request, string eventKey, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        using var activity = IngestActivities.StartIngest(request.Headers.TraceParent);
        var attempt = new Attempt { TraceParent = IngestActivities.TraceParentFor(activity, request.Headers.TraceParent) };
        var response = await HandleCoreAsync(request, eventKey, attempt, ct);
        Record(attempt, response, Stopwatch.GetElapsedTime(started), activity);
        return response;
    }

    /// <summary>What the handler learnt about a request, for its metrics and span.</summary>
    private sealed class Attempt
    {
        public string? TraceParent { get; init; }
        public string? Environment { get; set; }
        public RefusalReason? Reason { get; set; }
        public IReadOnlyList<EventReceipt>? Outcomes { get; set; }
        public StorageTally? Storage { get; set; }
    }

    private void Record(Attempt attempt, IngestResponse response, TimeSpan duration, Activity? activity)
    {
        var status = response.StatusCode;
        var environment = attempt.Environment;
        metrics.Request(environment, status, duration);
        if (attempt.Outcomes is { } outcomes)
        {
            int accepted = 0, scheduled = 0, duplicate = 0;
            foreach (var o in outcomes)
            {
                if (o.Outcome == Outcome.Accepted) accepted++;
                else if (o.Outcome == Outcome.Scheduled) scheduled++;
                else duplicate++;
            }
            metrics.Outcome(environment!, "accepted", accepted);
            metrics.Outcome(environment!, "scheduled", scheduled);
            metrics.Outcome(environment!, "duplicate", duplicate);
            metrics.Batch(environment!, outcomes.Count);
            if (attempt.Storage is { } tally) metrics.StorageUse(environment!, tally);
        }
        else if (status >= 400)
        {
            var reason = attempt.Reason ?? ReasonFor(status);
            metrics.Refused(environment, reason, status);
            activity?.SetTag(MetricAttributes.Reason, IngestMetrics.ReasonName(reason));
        }
        if (activity is null) return;
        activity.SetTag("http.request.method", "POST");
        activity.SetTag(MetricAttributes.Route, MetricAttributes.EventRoute);
        activity.SetTag(MetricAttributes.StatusCode, status);
        if (environment is not null) activity.SetTag(MetricAttributes.Environment, environment);
        if (attempt.Outcomes is { } events) activity.SetTag("eventingest.event_count", events.Count);
        if (status >= 500) activity.SetStatus(ActivityStatusCode.Error);
    }

    private static RefusalReason ReasonFor(int status) => status switch
    {
        401 or 403 => RefusalReason.Auth,
        413 => RefusalReason.Size,
        429 => RefusalReason.RateLimit,
        499 => RefusalReason.ClientClosed,
        503 => RefusalReason.Storage,
        >= 500 => RefusalReason.Internal,
        _ => RefusalReason.Validation,
    };

    private async Task<IngestResponse> HandleCoreAsync(HttpRequest request, string eventKey, Attempt attempt, CancellationToken ct)
    {
        if (!HttpMethods.IsPost(request.Method))
        {
            request.HttpContext.Response.Headers.Allow = "POST";
            return IngestResponse.Error(405, "Method not allowed: send events with POST");
        }
        if (string.IsNullOrEmpty(eventKey)) return IngestResponse.Error(404, "Not found");

        switch (keys.Check(eventKey, request.Headers[EventKeys.EnvironmentHeader], out var environment))
        {
            case KeyCheck.NoneConfigured:
                attempt.Reason = RefusalReason.Auth;
                return IngestResponse.Error(503, "Event keys are required to process events securely");
            case KeyCheck.Unknown:
                return IngestResponse.Error(401, "Event key not found");
            case KeyCheck.InvalidEnvironment:
                return IngestResponse.Error(400, "x-inngest-env must be 1-64 letters, digits, '.', '_' or '-'");
            case KeyCheck.EnvironmentNotAllowed:
                attempt.Reason = RefusalReason.Auth;
                return IngestResponse.Error(400, "x-inngest-env names an environment this event key may not send to: a key with branch environments reaches its own, " +
                    "and others that no key names (never production) starting with its BranchPrefix");
        }
        attempt.Environment = environment;

        if (!rateLimiter.TryAdmit(eventKey, out var waitSeconds))
        {
            return IngestResponse.Error(429, $"Rate limit exceeded for this event key; retry after {waitSeconds} s", waitSeconds);
        }

        if (request.ContentLength > _options.MaxRequestBytes) return TooLarge();
        RequestBodyLimit.Set(request, _options.MaxRequestBytes);

        var receivedAt = time.GetUtcNow().ToUnixTimeMilliseconds();
        byte[]? buffer;
        int length;
        try
        {
            (buffer, length) = await ReadBodyAsync(request.Body, _options.MaxRequestBytes, ct);
        }
        catch (BadHttpRequestException ex)
        {
            return ex.StatusCode == StatusCodes.Status413PayloadTooLarge ? TooLarge() : IngestResponse.Error(ex.StatusCode, RequestBodyLimit.Unreadable);
        }
        catch (Exception ex) when (ct.IsCancellationRequested || ex is IOException)
        {
            logger.LogInformation("Client closed the connection before its body arrived ({Environment})", environment);
            return IngestResponse.Error(499, "Client closed the connection; nothing was stored");
        }
        if (buffer is null) return TooLarge();
        try
        {
            ParseResult parsed;
            using (IngestActivities.StartStep(IngestActivities.Parse)) parsed = EventParser.Parse(buffer.AsMemory(0, length), receivedAt, _options.MaxEventBytes);
            using var _ = parsed;
            if (!parsed.IsValid) return IngestResponse.Error(parsed.ErrorStatus, parsed.Errors);
            rateLimiter.Charge(eventKey, parsed.Events.Count - 1);

            var seed = IdSeed.Parse(request.Headers[IdSeed.HeaderName]);
            if (metrics.RequestInstrumentsEnabled) attempt.Storage = StorageTally.Begin();
            var outcomes = await pipeline.IngestAsync(environment, seed, parsed.Events, receivedAt, attempt.TraceParent, ct);
            attempt.Outcomes = outcomes;
            return IngestResponse.Success(outcomes);
        }
        catch (SeedReusedException ex)
        {
            return IngestResponse.Error(409, [new FieldError(ex.Index, null, SeedReusedException.Reason)]);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client hung up before anything was written; there is nobody to answer.
            logger.LogInformation("Client closed the connection before its events were stored ({Environment})", environment);
            return IngestResponse.Error(499, "Client closed the connection; nothing was stored");
        }
        catch (KeyManagementUnavailableException ex)
        {
            logger.LogWarning(ex, "Key management unavailable; answering 503 for {Environment}", environment);
            attempt.Reason = RefusalReason.KeyVault;
            var retryAfter = ex.RetryAfter is { } after ? Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)) : _options.RetryAfterSeconds;
            return IngestResponse.Error(503, "Key management is unavailable; nothing was stored; retry later", retryAfter);
        }
        catch (Exception ex) when (StorageErrors.IsTransient(ex))
        {
            logger.LogWarning(ex, "Storage unavailable; answering 503 for {Environment}", environment);
            return IngestResponse.Error(503, "Storage is unavailable; retry later", _options.RetryAfterSeconds);
        }
        catch (Exception ex)
        {
            // Not transient: key management refused (a disabled or deleted key, a key record that no
            // longer unwraps) or a fault of ours. Still answered in the envelope, which the SDKs read.
            logger.LogError(ex, "Ingest failed; answering 500 for {Environment}", environment);
            return IngestResponse.Error(500, "Internal error; nothing was acknowledged");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private IngestResponse TooLarge() =>
        IngestResponse.Error(413, $"Request body is larger than the limit of {_options.MaxRequestBytes} bytes");

    /// <summary>Reads at most <paramref name="cap"/> bytes; returns a null buffer as soon as the body is longer.</summary>
    private static async Task<(byte[]? Buffer, int Length)> ReadBodyAsync(Stream body, long cap, CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        var length = 0;
        while (true)
        {
            if (length == buffer.Length)
            {
                if (length > cap)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    return (null, 0);
                }
                var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)buffer.Length * 2, cap + 1));
                buffer.AsSpan(0, length).CopyTo(larger);
                ArrayPool<byte>.Shared.Return(buffer);
                buffer = larger;
            }
            var read = await body.ReadAsync(buffer.AsMemory(length), ct);
            if (read == 0) return (buffer, length);
            length += read;
            if (length > cap)
            {
                ArrayPool<byte>.Shared.Return(buffer);
                return (null, 0);
            }
        }
    }
}
