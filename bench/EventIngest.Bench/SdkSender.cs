using System.Diagnostics;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;

namespace EventIngest.Bench;

/// <summary>
/// Sends events to the local host as the Inngest SDKs do: a JSON array on <c>POST /e/{key}</c>,
/// no <c>id</c>, and a fresh <c>x-inngest-event-id-seed</c> header per request. Each event is
/// about 1 KiB with a <c>user</c> object; users come from a pool of 50 people, the steady state
/// in which person keys are cached. Bodies are built once per batch size, so the sender costs
/// little CPU beside the host.
/// </summary>
internal sealed class SdkSender(HttpClient client)
{
    public const int People = 50;
    private readonly Dictionary<int, byte[][]> _bodies = [];

    /// <summary>One event, about 1 KiB serialized.</summary>
    public static string Event(int i)
    {
        var person = i % People;
        var items = string.Join(',', Enumerable.Range(0, 6).Select(n =>
            $$"""{"sku":"SKU-{{(i * 7 + n) % 10_000:00000}}","name":"Item {{n}} of order {{i}}","quantity":{{1 + (i + n) % 4}},"unit_price":{{(i % 97) + n}}.95}"""));
        return $$$"""{"name":"shop/order.placed","data":{"order_id":"ord-{{{i:0000000}}}","currency":"EUR","total":{{{i % 1000}}}.50,"items":[{{{items}}}],"channel":"web","coupon":null},"user":{"external_id":"person-{{{person}}}","email":"person{{{person}}}@example.com","name":"Person {{{person}}}","plan":"pro"}}""";
    }

    public static string NewSeed() =>
        $"{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()},{Convert.ToBase64String(RandomNumberGenerator.GetBytes(10))}";

    /// <summary>Sends one request of <paramref name="batch"/> events; the status code, or 0 when no answer came.</summary>
    public async Task<int> SendAsync(int batch, CancellationToken ct = default)
    {
        var bodies = Bodies(batch);
        var body = bodies[Random.Shared.Next(bodies.Length)];
        using var request = new HttpRequestMessage(HttpMethod.Post, "e/bench") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add("x-inngest-event-id-seed", NewSeed());
        try
        {
            using var response = await client.SendAsync(request, ct);
            await response.Content.LoadIntoBufferAsync(ct);
            return (int)response.StatusCode;
        }
        catch (HttpRequestException)
        {
            return 0;
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            return 0; // the client's timeout
        }
    }

    /// <summary>Sends one request and returns its status and how long the answer took.</summary>
    public async Task<(int Status, double Milliseconds)> TimedSendAsync(int batch, CancellationToken ct = default)
    {
        Bodies(batch);
        var started = Stopwatch.GetTimestamp();
        var status = await SendAsync(batch, ct);
        return (status, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }

    /// <summary>A few distinct bodies per batch size; the seed header makes every request's ids new.</summary>
    private byte[][] Bodies(int batch)
    {
        lock (_bodies)
        {
            if (_bodies.TryGetValue(batch, out var built)) return built;
            built = Enumerable.Range(0, 4)
                .Select(v => Encoding.UTF8.GetBytes("[" + string.Join(',', Enumerable.Range(v * batch, batch).Select(Event)) + "]"))
                .ToArray();
            _bodies[batch] = built;
            return built;
        }
    }
}
