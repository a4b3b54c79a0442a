using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EventIngest.Client;

/// <summary>
/// Sends events to EventIngest's event API (<c>POST /e/{key}</c>), or to any Inngest-compatible one.
/// Thread-safe; one instance can be shared.
/// </summary>
/// <remarks>
/// Every request carries an <c>x-inngest-event-id-seed</c> header, the same on each of its retries, from which
/// the server derives the events' ids: a retry of a request that was in fact stored is answered
/// <see cref="EventOutcome.Duplicate"/> with the same ids instead of storing the events twice. Transport errors,
/// timeouts, 429 and 5xx answers are retried with exponential back-off and jitter, honouring
/// <c>Retry-After</c>; other answers (400, 401, 413, …) are not.
/// The retries are this class's own loop, not a Polly / Microsoft.Extensions.Http.Resilience handler: each attempt's
/// answer is read here (a batch split over several requests reports what was stored before a failure, and a
/// <c>Retry-After</c> beyond <see cref="EventIngestClientOptions.MaxRetryAfter"/> ends the retries with it), which a
/// handler beneath <see cref="HttpClient"/> cannot see.
/// </remarks>
public class EventIngestClient
{
    private const string SeedHeader = "x-inngest-event-id-seed";
    private const string EnvironmentHeader = "x-inngest-env";

    private static readonly Lazy<HttpClient> SharedHttpClient = new(() => new HttpClient(
        new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    });

    private static readonly ProductInfoHeaderValue UserAgent =
        new("EventIngest.Client", typeof(EventIngestClient).Assembly.GetName().Version?.ToString(3) ?? "1.0.0");

    private readonly HttpClient _http = null!;
    private readonly ClientSettings _settings = null!;
    private readonly ILogger _logger = NullLogger.Instance;

    /// <summary>For mocking: a client that sends nothing unless its methods are overridden.</summary>
    protected EventIngestClient()
    {
    }

    /// <summary>A client on a shared <see cref="HttpClient"/>, for programs without dependency injection.</summary>
    /// <param name="options">Where and how to send; null reads everything from the environment.</param>
    /// <exception cref="InvalidOperationException">No base URL or event key could be found, or an option is out of
    /// range; the message names the setting.</exception>
    public EventIngestClient(EventIngestClientOptions? options = null) : this(SharedHttpClient.Value, options)
    {
    }

    /// <summary>A client sending through <paramref name="httpClient"/>.</summary>
    /// <param name="httpClient">The HTTP client; its <see cref="HttpClient.Timeout"/> should be longer than
    /// <see cref="EventIngestClientOptions.RequestTimeout"/>, which bounds each attempt.</param>
    /// <param name="options">Where and how to send; null reads everything from the environment.</param>
    /// <param name="logger">Receives a warning per retry; never the event key or event contents.</param>
    /// <exception cref="InvalidOperationException">No base URL or event key could be found, or an option is out of
    /// range; the message names the setting.</exception>
    public EventIngestClient(HttpClient httpClient, EventIngestClientOptions? options = null, ILogger<EventIngestClient>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        _http = httpClient;
        _settings = ClientSettings.Resolve(options ?? new EventIngestClientOptions());
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>The base URL events are sent to (the event key is appended as <c>e/{key}</c>).</summary>
    public virtual Uri BaseUrl => _settings.BaseUrl;

    /// <summary>Sends one event.</summary>
    /// <param name="event">The event.</param>
    /// <param name="cancellationToken">Stops waiting and retrying. A request already sent may still be stored;
    /// sending the same event again with an <see cref="Event.Id"/> is safe.</param>
    /// <returns>The event's id and outcome.</returns>
    /// <exception cref="EventIngestException">The server refused the event, or stayed unavailable or unreachable
    /// through every retry.</exception>
    /// <exception cref="ArgumentException">The event breaks a rule the client checks first (reserved or overlong
    /// name, timestamp outside 1980–2100).</exception>
    public virtual Task<SendResult> SendAsync(Event @event, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(@event);
        return SendAsync([@event], cancellationToken);
    }

    /// <summary>
    /// Sends events, in as many requests as their number and size need (at most 5,000 events per request), one
    /// after the other. Each request is all or nothing.
    /// </summary>
    /// <param name="events">The events, in order; may mix data types. None sends nothing.</param>
    /// <param name="cancellationToken">Stops waiting and retrying. A request already sent may still be stored.</param>
    /// <returns>Every event's id and outcome, in the order given.</returns>
    /// <exception cref="EventIngestException">A request was refused, or the server stayed unavailable or
    /// unreachable through every retry; <see cref="EventIngestException.Sent"/> holds the events stored by
    /// earlier requests of this call.</exception>
    /// <exception cref="ArgumentException">An event breaks a rule the client checks before sending anything.</exception>
    public virtual async Task<SendResult> SendAsync(IEnumerable<Event> events, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        var batches = RequestBatches.Build(events, _settings.Options);
        var results = new List<EventResult>();
        foreach (var batch in batches)
        {
            try
            {
                results.AddRange(await SendBatchAsync(batch, cancellationToken));
            }
            catch (EventIngestException ex) when (results.Count > 0)
            {
                throw new EventIngestException(ex.Message, ex.InnerException)
                {
                    StatusCode = ex.StatusCode,
                    Errors = ex.Errors,
                    RetryAfter = ex.RetryAfter,
                    Attempts = ex.Attempts,
                    Sent = new SendResult(results),
                };
            }
        }
        return new SendResult(results);
    }

    private async Task<IReadOnlyList<EventResult>> SendBatchAsync(RequestBatches.Batch batch, CancellationToken cancellationToken)
    {
        var options = _settings.Options;
        var seed = NewSeed();
        for (var attempt = 1; ; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            if (options.RequestTimeout != Timeout.InfiniteTimeSpan) timeout.CancelAfter(options.RequestTimeout);

            string reason;
            TimeSpan? retryAfter = null;
            try
            {
                using var request = CreateRequest(batch.Body, seed);
                using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token);
                var body = await response.Content.ReadAsByteArrayAsync(timeout.Token);
                var status = (int)response.StatusCode;
                if (response.IsSuccessStatusCode) return ReadSuccess(body, batch, attempt);

                retryAfter = RetryAfterOf(response);
                var failure = ReadFailure(status, body, batch, attempt, retryAfter);
                var retryable = status == (int)HttpStatusCode.TooManyRequests || status >= 500;
                if (!retryable || attempt >= options.MaxAttempts || retryAfter > options.MaxRetryAfter) throw failure;
                reason = status.ToString(CultureInfo.InvariantCulture);
            }
            catch (OperationCanceledException ex) when (cancellationToken.IsCancellationRequested)
            {
                // Report the caller's token, not the per-attempt one linked to it.
                if (ex.CancellationToken == cancellationToken) throw;
                throw new OperationCanceledException(ex.Message, ex, cancellationToken);
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException)
            {
                // An OperationCanceledException here is the attempt's own timeout.
                var what = ex is OperationCanceledException ? "timed out" : "failed";
                if (attempt >= options.MaxAttempts)
                {
                    throw new EventIngestException(
                        $"Sending {batch.Count} events {what} after {attempt} attempts: {Describe(ex)}.", ex) { Attempts = attempt };
                }
                reason = Describe(ex);
            }

            var delay = Backoff(attempt, options);
            if (retryAfter is { } after && after > delay) delay = after;
            _logger.LogWarning(
                "Sending {Count} events failed ({Reason}); attempt {Attempt} of {MaxAttempts}, retrying in {Delay} ms",
                batch.Count, reason, attempt, options.MaxAttempts, (long)delay.TotalMilliseconds);
            await Task.Delay(delay, cancellationToken);
        }
    }

    private HttpRequestMessage CreateRequest(ReadOnlyMemory<byte> body, string seed)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, _settings.EventUrl) { Content = new ReadOnlyMemoryContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.TryAddWithoutValidation(SeedHeader, seed);
        if (_settings.Environment is { } environment) request.Headers.TryAddWithoutValidation(EnvironmentHeader, environment);
        request.Headers.UserAgent.Add(UserAgent);
        return request;
    }

    /// <summary><c>millis,base64(10 random bytes)</c>, as the Inngest SDKs send it. The server derives the id of
    /// event i from it, so every attempt of one request must carry the same value.</summary>
    internal static string NewSeed()
    {
        Span<byte> entropy = stackalloc byte[10];
        RandomNumberGenerator.Fill(entropy);
        return DateTimeOffset.UtcNow.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture) + "," + Convert.ToBase64String(entropy);
    }

    /// <summary>Exponential back-off with jitter: between half and all of InitialRetryDelay·2^(attempt−1), capped.</summary>
    internal static TimeSpan Backoff(int attempt, EventIngestClientOptions options)
    {
        var exponential = options.InitialRetryDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 30));
        var capped = Math.Min(exponential, options.MaxRetryDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(capped / 2 + Random.Shared.NextDouble() * capped / 2);
    }

    private static TimeSpan? RetryAfterOf(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta) return delta < TimeSpan.Zero ? TimeSpan.Zero : delta;
        if (header?.Date is { } date)
        {
            var wait = date - DateTimeOffset.UtcNow;
            return wait < TimeSpan.Zero ? TimeSpan.Zero : wait;
        }
        return null;
    }

    private static IReadOnlyList<EventResult> ReadSuccess(byte[] body, RequestBatches.Batch batch, int attempt)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            var ids = root.GetProperty("ids").EnumerateArray().Select(id => id.GetString()!).ToArray();
            if (ids.Length != batch.Count)
            {
                throw new EventIngestException($"The server answered {ids.Length} ids for {batch.Count} events.") { StatusCode = 200, Attempts = attempt };
            }

            var results = new EventResult[ids.Length];
            var hasOutcomes = root.TryGetProperty("events", out var events) && events.ValueKind == JsonValueKind.Array
                && events.GetArrayLength() == ids.Length;
            for (var i = 0; i < ids.Length; i++)
            {
                results[i] = hasOutcomes ? ReadOutcome(events[i], ids[i]) : new EventResult(ids[i], EventOutcome.Unknown);
            }
            return results;
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new EventIngestException("The server's answer is not an event API response.", ex) { StatusCode = 200, Attempts = attempt };
        }
    }

    private static EventResult ReadOutcome(JsonElement e, string fallbackId)
    {
        var id = e.TryGetProperty("id", out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : fallbackId;
        var outcome = e.TryGetProperty("outcome", out var text) && text.ValueKind == JsonValueKind.String
            ? text.GetString() switch
            {
                "accepted" => EventOutcome.Accepted,
                "scheduled" => EventOutcome.Scheduled,
                "duplicate" => EventOutcome.Duplicate,
                _ => EventOutcome.Unknown,
            }
            : EventOutcome.Unknown;
        DateTimeOffset? due = e.TryGetProperty("due", out var dueValue) && dueValue.TryGetInt64(out var millis)
            ? DateTimeOffset.FromUnixTimeMilliseconds(millis)
            : null;
        return new EventResult(id, outcome, due);
    }

    private static EventIngestException ReadFailure(int status, byte[] body, RequestBatches.Batch batch, int attempt, TimeSpan? retryAfter)
    {
        string? message = null;
        var errors = new List<EventError>();
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                if (root.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.String) message = error.GetString();
                if (root.TryGetProperty("errors", out var list) && list.ValueKind == JsonValueKind.Array)
                {
                    foreach (var item in list.EnumerateArray())
                    {
                        if (item.ValueKind != JsonValueKind.Object) continue;
                        int? index = item.TryGetProperty("index", out var i) && i.TryGetInt32(out var n) ? batch.FirstIndex + n : null;
                        var field = item.TryGetProperty("field", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : null;
                        var text = item.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : "";
                        errors.Add(new EventError(index, field, text));
                    }
                }
            }
        }
        catch (JsonException)
        {
            // Not the event API's envelope (a proxy or load balancer answered): the status says enough.
        }

        // The server numbers events within its request; renumber so the message matches Errors.
        if (batch.FirstIndex > 0 && errors is [{ Index: { } first } single, ..] && message is not null)
        {
            message = errors.Count == 1 ? $"event {first}: {single.Message}" : $"event {first}: {single.Message} (and {errors.Count - 1} more)";
        }
        var summary = message ?? ReasonPhrase(status);
        return new EventIngestException($"The event API answered {status}: {summary}")
        {
            StatusCode = status,
            Errors = errors,
            RetryAfter = retryAfter,
            Attempts = attempt,
        };
    }

    private static string ReasonPhrase(int status) =>
        new HttpResponseMessage((HttpStatusCode)status).ReasonPhrase ?? "error";

    private static string Describe(Exception ex) => ex switch
    {
        OperationCanceledException => "no answer within the request timeout",
        HttpRequestException { HttpRequestError: not HttpRequestError.Unknown } http => http.HttpRequestError.ToString(),
        _ => ex.GetType().Name,
    };
}
