using System.Text.Json;

namespace EventIngest.Client;

/// <summary>
/// Where and how <see cref="EventIngestClient"/> sends events. Unset values come from the environment the way
/// Inngest's SDKs read it: <c>INNGEST_EVENT_API_BASE_URL</c>, <c>INNGEST_BASE_URL</c>, <c>INNGEST_EVENT_KEY</c>,
/// <c>INNGEST_ENV</c> and <c>INNGEST_DEV</c>.
/// </summary>
public sealed class EventIngestClientOptions
{
    /// <summary>The largest number of events the event API takes in one request.</summary>
    public const int MaxBatchSize = 5000;

    /// <summary>
    /// Base URL of the event API. Events go to <c>e/{key}</c> resolved against it, as
    /// <c>new URL("e/" + key, base)</c> does in the JS SDK: a base with a path needs a trailing slash
    /// (<c>https://host/ingest/</c>), or its last segment is replaced. Default: <c>INNGEST_EVENT_API_BASE_URL</c>,
    /// then <c>INNGEST_BASE_URL</c>, then in development mode <c>http://localhost:8288/</c>.
    /// </summary>
    public Uri? BaseUrl { get; set; }

    /// <summary>The event key. Default: <c>INNGEST_EVENT_KEY</c>, then in development mode <c>NO_EVENT_KEY_SET</c>.
    /// It travels in the URL path; this client never logs it.</summary>
    public string? EventKey { get; set; }

    /// <summary>The environment to send to (header <c>x-inngest-env</c>), for keys that may send to branch
    /// environments. Default: <c>INNGEST_ENV</c>, else none (the key's own environment).</summary>
    public string? Environment { get; set; }

    /// <summary>Development mode: send to the local host (<c>http://localhost:8288/</c>) with a placeholder key
    /// unless a base URL or key is given. Default: <c>INNGEST_DEV</c> (<c>1</c>/<c>true</c>, or a URL to use as
    /// the base URL).</summary>
    public bool? IsDev { get; set; }

    /// <summary>Attempts per request, the first included (default 5, as the JS SDK). Only transport errors,
    /// timeouts, 429 and 5xx answers are retried.</summary>
    public int MaxAttempts { get; set; } = 5;

    /// <summary>Back-off before the first retry (default 250 ms); it doubles per retry up to
    /// <see cref="MaxRetryDelay"/>, each delay drawn at random between half and all of it.</summary>
    public TimeSpan InitialRetryDelay { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Longest back-off between two attempts (default 10 s), unless the server asks for longer.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest <c>Retry-After</c> this client waits for (default 1 minute); a longer one ends the retries
    /// and is reported in <see cref="EventIngestException.RetryAfter"/>.</summary>
    public TimeSpan MaxRetryAfter { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Time allowed for one attempt, the answer included (default 30 s); running out counts as a
    /// transport error and is retried.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Most events per request (default and maximum <see cref="MaxBatchSize"/>); more are sent as
    /// several requests, in order.</summary>
    public int MaxEventsPerRequest { get; set; } = MaxBatchSize;

    /// <summary>Largest request body in bytes (default 16 MiB, the server's default limit); events that would make
    /// a request larger go into the next one. A single event larger than this is still sent, alone.</summary>
    public long MaxRequestBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>How event data and <c>user</c> objects are serialized (default: <see cref="JsonSerializerDefaults.Web"/>,
    /// camelCase property names). Use the same settings where the events are read.</summary>
    public JsonSerializerOptions SerializerOptions { get; set; } = new(JsonSerializerDefaults.Web);
}
