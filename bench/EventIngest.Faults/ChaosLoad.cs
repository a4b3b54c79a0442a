using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using EventIngest.Ingest;
using EventIngest.Ids;

namespace EventIngest.Faults;

/// <summary>One event as the client sent it: what the service must deliver under the id it answers.</summary>
internal sealed record SentEvent(int Request, int Position, string Name, string? Id, string Data, long? Ts, string SeedId);

/// <summary>One acknowledged event: the id and outcome the answer gave it, and when.</summary>
internal sealed record Ack(string InternalId, string Outcome, long? Due, DateTimeOffset FirstSent, DateTimeOffset AnsweredAt, SentEvent Event);

/// <summary>One try of a cancel or reschedule; <see cref="Status"/> 0 is no answer.</summary>
internal sealed record ScheduleChangeAttempt(string InternalId, string Kind, long? NewTs, DateTimeOffset Started, DateTimeOffset Ended, int Status, string Body);

/// <summary>
/// The SDKs' traffic for the chaos run: seeded batches with an <c>x-inngest-event-id-seed</c>
/// header, retried unchanged until acknowledged; caller ids drawn from a pool so some repeat across
/// requests (a repeated id always carries the same name and data, so a <c>duplicate</c> answer is
/// comparable); events scheduled 3–20 s ahead, <c>app/billing.*</c> names (two queues), users, a
/// few 60 KB events. A second worker cancels and reschedules acknowledged scheduled events while
/// their due times pass. Everything the service answered is recorded for the checker.
/// </summary>
internal sealed class ChaosLoad(Uri address, int loadSeed, int changeSeed)
{
    private const int LargeBytes = 60_000;
    private readonly HttpClient _client = new(new SocketsHttpHandler { MaxConnectionsPerServer = 64, PooledConnectionIdleTimeout = TimeSpan.FromSeconds(5) })
    {
        BaseAddress = address,
        Timeout = TimeSpan.FromSeconds(30),
    };
    private int _nextRequest = -1;
    private long _eventsPlanned;
    private int _retries;
    private int _refused;
    private readonly ConcurrentDictionary<int, byte> _unanswered = new();

    public ConcurrentQueue<Ack> Acks { get; } = new();
    public ConcurrentQueue<SentEvent> Sent { get; } = new();
    public ConcurrentQueue<Attempt> Attempts { get; } = new();
    public ConcurrentQueue<ScheduleChangeAttempt> Changes { get; } = new();
    public long EventsPlanned => Interlocked.Read(ref _eventsPlanned);
    public int Requests => Volatile.Read(ref _nextRequest) + 1;
    public int Retries => Volatile.Read(ref _retries);
    public int Refused => Volatile.Read(ref _refused);
    /// <summary>Requests given up on without a 200 (refused with a 4xx); their events may be on the queue or not.</summary>
    public IReadOnlyCollection<int> Unanswered => [.. _unanswered.Keys];

    public Task RunAsync(int workers, CancellationToken stop) =>
        Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var index = Interlocked.Increment(ref _nextRequest);
                var (body, seed, events) = Generate(index);
                foreach (var e in events) Sent.Enqueue(e);
                Interlocked.Add(ref _eventsPlanned, events.Count);
                await SendUntilAcknowledgedAsync(index, body, seed, events);
            }
        })));

    private async Task SendUntilAcknowledgedAsync(int index, string body, string seed, IReadOnlyList<SentEvent> events)
    {
        var firstSent = DateTimeOffset.UtcNow;
        for (var attempt = 0; ; attempt++)
        {
            if (attempt > 0) Interlocked.Increment(ref _retries);
            var started = DateTimeOffset.UtcNow;
            TimeSpan wait;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "e/chaos-key") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
                request.Headers.TryAddWithoutValidation(IdSeed.HeaderName, seed);
                using var response = await _client.SendAsync(request);
                var text = await response.Content.ReadAsStringAsync();
                var status = (int)response.StatusCode;
                var answeredAt = DateTimeOffset.UtcNow;
                Attempts.Enqueue(new Attempt(started, status, answeredAt - started, response.Headers.RetryAfter?.Delta is not null));
                if (status == 200)
                {
                    using var json = JsonDocument.Parse(text);
                    var answered = json.RootElement.GetProperty("events").EnumerateArray().ToList();
                    for (var i = 0; i < answered.Count; i++)
                    {
                        var e = answered[i];
                        long? due = e.TryGetProperty("due", out var d) && d.ValueKind == JsonValueKind.Number ? d.GetInt64() : null;
                        Acks.Enqueue(new Ack(e.GetProperty("id").GetString()!, e.GetProperty("outcome").GetString()!, due, firstSent, answeredAt, events[i]));
                    }
                    return;
                }
                if (status is >= 400 and < 500 and not 429)
                {
                    Interlocked.Increment(ref _refused);
                    _unanswered.TryAdd(index, 0);
                    await Console.Error.WriteLineAsync($"refused {status}: {text}");
                    return;
                }
                wait = response.Headers.RetryAfter?.Delta is { } after && after < TimeSpan.FromSeconds(1) ? after : TimeSpan.FromSeconds(1);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
            {
                Attempts.Enqueue(new Attempt(started, 0, DateTimeOffset.UtcNow - started, false));
                wait = TimeSpan.FromMilliseconds(200);
            }
            await Task.Delay(wait);
        }
    }

    /// <summary>
    /// Cancels and reschedules acknowledged scheduled events, picked at random among those due
    /// within the next 20 s or in the last second (so some changes race the release), until stopped.
    /// </summary>
    public Task ChangeSchedulesAsync(CancellationToken stop) => Task.Run(async () =>
    {
        var random = new Random(changeSeed);
        var candidates = new List<Ack>();
        var seen = 0;
        var pending = Acks.ToArray();
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(random.Next(150, 450), stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            pending = Acks.ToArray();
            for (; seen < pending.Length; seen++)
            {
                if (pending[seen].Outcome == "scheduled") candidates.Add(pending[seen]);
            }
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            candidates.RemoveAll(c => c.Due < now - 1_000);
            if (candidates.Count == 0) continue;
            var pick = candidates[random.Next(candidates.Count)];
            candidates.Remove(pick);
            if (random.Next(2) == 0)
            {
                await ChangeAsync(pick.InternalId, HttpMethod.Delete, null);
            }
            else
            {
                var ts = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + random.Next(3_000, 20_001);
                if (await ChangeAsync(pick.InternalId, HttpMethod.Patch, ts) == 200 && random.Next(3) == 0)
                {
                    candidates.Add(pick with { Due = ts }); // may be changed again
                }
            }
        }
    }, CancellationToken.None);

    /// <summary>One change, retried on no answer and 5xx for up to 20 s; returns the last status.</summary>
    private async Task<int> ChangeAsync(string internalId, HttpMethod method, long? ts)
    {
        var kind = method == HttpMethod.Delete ? "cancel" : "reschedule";
        var giveUp = DateTimeOffset.UtcNow.AddSeconds(20);
        while (true)
        {
            var started = DateTimeOffset.UtcNow;
            int status;
            string text;
            try
            {
                using var request = new HttpRequestMessage(method, $"v1/events/{internalId}");
                if (ts is { } t) request.Content = new StringContent(string.Create(CultureInfo.InvariantCulture, $$"""{"ts":{{t}}}"""), Encoding.UTF8, "application/json");
                using var response = await _client.SendAsync(request);
                text = await response.Content.ReadAsStringAsync();
                status = (int)response.StatusCode;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
            {
                status = 0;
                text = ex.GetType().Name;
            }
            Changes.Enqueue(new ScheduleChangeAttempt(internalId, kind, ts, started, DateTimeOffset.UtcNow, status, text.Length > 300 ? text[..300] : text));
            if (status is not (0 or >= 500) || DateTimeOffset.UtcNow > giveUp) return status;
            await Task.Delay(status == 0 ? 200 : 500);
        }
    }

    private (string Body, string Seed, IReadOnlyList<SentEvent> Events) Generate(int index)
    {
        var random = new Random(unchecked(loadSeed * 1_000_003 + index));
        var size = random.Next(10) switch
        {
            < 4 => 1,
            < 8 => random.Next(2, 11),
            _ => random.Next(11, 51),
        };
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var entropy = new byte[10];
        random.NextBytes(entropy);
        var seed = string.Create(CultureInfo.InvariantCulture, $"{now},{Convert.ToBase64String(entropy)}");

        var events = new List<SentEvent>(size);
        var body = new StringBuilder("[");
        for (var i = 0; i < size; i++)
        {
            string name, data;
            string? id = null;
            long? ts = null;
            if (random.Next(10) < 3)
            {
                // A caller id from a pool that grows with the load, so some ids repeat across
                // requests; the id fixes name and data, so every send of it is the same event.
                var key = random.Next(40 + index * 2);
                id = string.Create(CultureInfo.InvariantCulture, $"chaos-{loadSeed}-k{key}");
                name = key % 5 == 0 ? "app/billing.keyed" : $"app/keyed.{key % 3}";
                data = string.Create(CultureInfo.InvariantCulture, $$"""{"key":{{key}}}""");
            }
            else
            {
                name = random.Next(5) == 0 ? (random.Next(2) == 0 ? "app/billing.paid" : "app/billing.refunded") : $"app/chaos.{random.Next(5)}";
                var padding = random.Next(100) == 0 ? new string('p', LargeBytes) : null; // claim-checked
                data = padding is null
                    ? string.Create(CultureInfo.InvariantCulture, $$"""{"request":{{index}},"event":{{i}},"amount":{{random.Next(1000)}}}""")
                    : string.Create(CultureInfo.InvariantCulture, $$"""{"request":{{index}},"event":{{i}},"padding":"{{padding}}"}""");
                var when = random.Next(100);
                if (when < 12) ts = now + random.Next(3_000, 20_001);  // scheduled
                else if (when < 50) ts = now;                          // the JS SDK stamps ts
            }
            if (i > 0) body.Append(',');
            body.Append(CultureInfo.InvariantCulture, $$"""{"name":"{{name}}","data":{{data}}""");
            if (id is not null) body.Append(CultureInfo.InvariantCulture, $",\"id\":\"{id}\"");
            if (ts is not null) body.Append(CultureInfo.InvariantCulture, $",\"ts\":{ts}");
            if (random.Next(10) < 2) body.Append(CultureInfo.InvariantCulture, $$""","user":{"external_id":"person-{{random.Next(1000)}}","email":"p{{index}}@example.com"}""");
            body.Append('}');
            events.Add(new SentEvent(index, i, name, id, data, ts, SeedId(now, entropy, i)));
        }
        body.Append(']');
        return (body.ToString(), seed, events);
    }

    /// <summary>The internal id the service derives for position <paramref name="i"/> of a seeded request.</summary>
    private static string SeedId(long millis, byte[] entropy, int i)
    {
        var bytes = (byte[])entropy.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(6), unchecked(BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(6)) + (uint)(i + 1)));
        return Ulid.Create(millis, bytes);
    }
}
