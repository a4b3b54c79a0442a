using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace EventIngest.Faults;

/// <summary>One try of one request: when it started, what came back, how long it took.</summary>
internal sealed record Attempt(DateTimeOffset Started, int Status, TimeSpan Latency, bool HasRetryAfter);

/// <summary>
/// Sends generated requests the way the SDKs do: batches with an <c>x-inngest-event-id-seed</c>
/// header, some events with an <c>id</c>, some scheduled a few seconds ahead, a few with large data
/// or a <c>user</c>; and retries every failure (no answer, 429, 5xx) with the very same request
/// until it is acknowledged. Records every internal id acknowledged and every attempt.
/// </summary>
internal sealed class EventLoad(Uri address, int randomSeed)
{
    private readonly HttpClient _client = new(new SocketsHttpHandler { MaxConnectionsPerServer = 64, PooledConnectionIdleTimeout = TimeSpan.FromSeconds(5) })
    {
        BaseAddress = address,
        Timeout = TimeSpan.FromSeconds(60),
    };
    private int _nextRequest = -1;
    private long _eventsPlanned;
    private long _maxDue;
    private int _retries;
    private int _refused;

    public ConcurrentDictionary<string, int> Acknowledged { get; } = new(StringComparer.Ordinal);
    public ConcurrentQueue<Attempt> Attempts { get; } = new();
    public ConcurrentDictionary<string, int> Outcomes { get; } = new(StringComparer.Ordinal);
    public long EventsPlanned => Interlocked.Read(ref _eventsPlanned);
    public int Requests => Volatile.Read(ref _nextRequest) + 1;
    public int Retries => Volatile.Read(ref _retries);
    /// <summary>Requests answered with a 4xx other than 429: the load is valid, so each is a bug.</summary>
    public int Refused => Volatile.Read(ref _refused);
    /// <summary>The latest <c>ts</c> of a scheduled event, in ms.</summary>
    public long MaxDue => Interlocked.Read(ref _maxDue);

    /// <summary>Workers take requests until <paramref name="more"/> says stop, and finish (with retries) what they took.</summary>
    public Task RunAsync(int workers, Func<bool> more) =>
        Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            while (more())
            {
                var index = Interlocked.Increment(ref _nextRequest);
                var (body, seed, events) = Generate(index);
                Interlocked.Add(ref _eventsPlanned, events);
                await SendUntilAcknowledgedAsync(body, seed);
            }
        })));

    private async Task SendUntilAcknowledgedAsync(string body, string seed)
    {
        for (var attempt = 0; ; attempt++)
        {
            if (attempt > 0) Interlocked.Increment(ref _retries);
            var started = DateTimeOffset.UtcNow;
            var watch = Stopwatch.StartNew();
            TimeSpan wait;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "e/fault-key") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
                request.Headers.TryAddWithoutValidation("x-inngest-event-id-seed", seed);
                using var response = await _client.SendAsync(request);
                var text = await response.Content.ReadAsStringAsync();
                var status = (int)response.StatusCode;
                Attempts.Enqueue(new Attempt(started, status, watch.Elapsed, response.Headers.RetryAfter?.Delta is not null));
                if (status == 200)
                {
                    Acknowledge(text);
                    return;
                }
                if (status is >= 400 and < 500 and not 429)
                {
                    Interlocked.Increment(ref _refused);
                    await Console.Error.WriteLineAsync($"refused {status}: {text}");
                    return;
                }
                // The SDKs back off; a short, capped wait keeps the run quick.
                wait = response.Headers.RetryAfter?.Delta is { } after && after < TimeSpan.FromSeconds(1) ? after : TimeSpan.FromSeconds(1);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
            {
                Attempts.Enqueue(new Attempt(started, 0, watch.Elapsed, false));
                wait = TimeSpan.FromMilliseconds(200);
            }
            await Task.Delay(wait);
        }
    }

    private void Acknowledge(string responseBody)
    {
        using var json = JsonDocument.Parse(responseBody);
        foreach (var id in json.RootElement.GetProperty("ids").EnumerateArray()) Acknowledged.AddOrUpdate(id.GetString()!, 1, (_, n) => n + 1);
        foreach (var e in json.RootElement.GetProperty("events").EnumerateArray()) Outcomes.AddOrUpdate(e.GetProperty("outcome").GetString()!, 1, (_, n) => n + 1);
    }

    private (string Body, string Seed, int Events) Generate(int index)
    {
        var random = new Random(HashCode.Combine(randomSeed, index));
        var size = (index % 10) switch
        {
            < 4 => 1,
            < 8 => random.Next(2, 11),
            _ => random.Next(11, 101),
        };
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var body = new StringBuilder("[");
        for (var i = 0; i < size; i++)
        {
            if (i > 0) body.Append(',');
            body.Append(CultureInfo.InvariantCulture, $$"""{"name":"app/fault.{{random.Next(5)}}","data":{"request":{{index}},"event":{{i}}""");
            if (random.Next(100) == 0) body.Append(",\"padding\":\"").Append('p', 60_000).Append('"'); // a claim-checked envelope
            body.Append('}');
            if (random.Next(10) < 3) body.Append(CultureInfo.InvariantCulture, $",\"id\":\"fault-{randomSeed}-{index}-{i}\"");
            if (random.Next(10) < 2) body.Append(CultureInfo.InvariantCulture, $$""","user":{"external_id":"person-{{random.Next(1000)}}","email":"p{{index}}@example.com"}""");
            if (random.Next(10) == 0)
            {
                var due = now + random.Next(2_000, 8_000);
                body.Append(CultureInfo.InvariantCulture, $$""","ts":{{due}}""");
                InterlockedMax(ref _maxDue, due);
            }
            body.Append('}');
        }
        body.Append(']');
        var entropy = new byte[10];
        random.NextBytes(entropy);
        return (body.ToString(), string.Create(CultureInfo.InvariantCulture, $"{now},{Convert.ToBase64String(entropy)}"), size);
    }

    private static void InterlockedMax(ref long target, long value)
    {
        var current = Interlocked.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current) return;
            current = seen;
        }
    }
}
