using System.Security.Cryptography;
using System.Text;
using EventIngest.Storage;
using Microsoft.Extensions.DependencyInjection;
using EventIngest.Delivery;

namespace EventIngest.Bench;

/// <summary>
/// Storage requests per accepted event, counted at the storage clients' pipeline (retries
/// included), for the shapes of request that matter. Counts, not timings: the figures do not
/// depend on how busy the machine is.
/// </summary>
internal static class CostBench
{
    public static async Task RunAsync()
    {
        await using var host = await BenchHost.StartAsync(new() { ["EventIngest:Local:RepairInterval"] = "01:00:00", ["EventIngest:Local:ReleaseInterval"] = "01:00:00", ["EventIngest:Local:CleanupInterval"] = "01:00:00" });
        var counter = host.Services.GetRequiredService<StorageRequestCounter>();
        var outbox = host.Services.GetRequiredService<Outbox>();
        await Send(host, Body(1, i => "{\"name\":\"warm/up\"}"), seeded: false); // creates tables, environment key

        Console.WriteLine("storage requests per accepted event (client pipeline count; 200 requests per batch-1 row, 20 per batch-100 row)");
        Console.WriteLine($"{"request shape",-58} {"requests/event",14}");
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var people = Enumerable.Range(0, 50).Select(i => $"person-{i}").ToArray();
        await Row("batch 1, no seed, no id (curl)", 1, _ => "{\"name\":\"app/x\",\"data\":{}}", seeded: false);
        await Row("batch 1, seed header (SDK)", 1, _ => "{\"name\":\"app/x\",\"data\":{}}", seeded: true);
        await Row("batch 1, own id", 1, _ => $"{{\"name\":\"app/x\",\"id\":\"{Guid.NewGuid():N}\"}}", seeded: true);
        await Row("batch 100, seed header, no id (SDK)", 100, _ => "{\"name\":\"app/x\",\"data\":{}}", seeded: true);
        await Row("batch 100, every event its own id", 100, _ => $"{{\"name\":\"app/x\",\"id\":\"{Guid.NewGuid():N}\"}}", seeded: true);
        await Row("batch 100, SDK, user of 50 known people", 100, i => $"{{\"name\":\"app/x\",\"user\":{{\"external_id\":\"{people[i % 50]}\"}}}}", seeded: true);
        await Row("batch 100, SDK, every user a new person", 100, _ => $"{{\"name\":\"app/x\",\"user\":{{\"external_id\":\"{Guid.NewGuid():N}\"}}}}", seeded: true);
        await Row("batch 1, scheduled 1 h ahead", 1, _ => $"{{\"name\":\"app/x\",\"ts\":{now + 3_600_000}}}", seeded: true);
        await Row("batch 100, scheduled 1 h ahead", 100, _ => $"{{\"name\":\"app/x\",\"ts\":{now + 3_600_000}}}", seeded: true);
        await Row("batch 100, scheduled 30 days ahead (parked)", 100, _ => $"{{\"name\":\"app/x\",\"ts\":{now + 30L * 86_400_000}}}", seeded: true);
        await Row("batch 100, SDK retry of a stored batch (all duplicates)", 100, _ => "{\"name\":\"app/x\"}", seeded: true, repeat: true);

        async Task Row(string label, int size, Func<int, string> item, bool seeded, bool repeat = false)
        {
            var requests = size == 1 ? 200 : 20;
            var fixedSeed = Seed();
            if (repeat) await Send(host, Body(size, item), seeded, fixedSeed);
            await outbox.FlushAsync();
            var before = counter.Requests;
            for (var r = 0; r < requests; r++) await Send(host, Body(size, item), seeded, repeat ? fixedSeed : null);
            // Finished requests' outbox rows are deleted after their answer; the last one's is counted too.
            await outbox.FlushAsync();
            var perEvent = (counter.Requests - before) / (double)(requests * size);
            Console.WriteLine($"{label,-58} {perEvent,14:0.000}");
        }
    }

    private static string Body(int size, Func<int, string> item) => "[" + string.Join(',', Enumerable.Range(0, size).Select(item)) + "]";

    private static string Seed() => $"{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()},{Convert.ToBase64String(RandomNumberGenerator.GetBytes(10))}";

    private static async Task Send(BenchHost host, string body, bool seeded, string? seed = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "e/bench") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (seeded) request.Headers.Add("x-inngest-event-id-seed", seed ?? Seed());
        var response = await host.Client.SendAsync(request);
        response.EnsureSuccessStatusCode();
    }
}
