using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using EventIngest.DevServer.Azurite;
using EventIngest.Storage;

namespace EventIngest.Faults;

/// <summary>
/// Sends generated malformed and odd requests to the local host (a child process, so a crash
/// shows) and checks: no 5xx, the host still running, and nothing in storage that no 200 answer
/// acknowledged — no record, claim or blob of a refused request, and no more queue messages than
/// the accepted events account for.
/// </summary>
internal static class FuzzCommand
{
    public static async Task<int> RunAsync(int requests, int workers, int seed)
    {
        var run = Paths.NewRunDirectory("fuzz");
        Console.WriteLine($"fuzz: {requests} requests from {workers} clients, seed {seed}; logs and failures in {run}");
        await using var azurite = await AzuriteProcess.StartAsync();
        var environment = new Dictionary<string, string>
        {
            ["EventIngest__Storage__ConnectionString"] = azurite.ConnectionString,
            ["EventIngest__Local__DataPath"] = run,
            ["Logging__LogLevel__Default"] = "Warning",
        };
        await using var host = await DevServerProcess.StartAsync(DevServerProcess.FreePort(), environment, Path.Combine(run, "host.log"));
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = workers }) { BaseAddress = host.Address, Timeout = TimeSpan.FromSeconds(60) };

        var bodies = new FuzzBodies(seed);
        var statuses = new ConcurrentDictionary<(string Kind, int Status), int>();
        var acknowledged = new ConcurrentDictionary<string, byte>(StringComparer.Ordinal);
        var failures = new ConcurrentQueue<string>();
        var sent = 0;
        long bytes = 0;
        var expectedMessages = new StrongBox<int>();
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            while (true)
            {
                FuzzRequest request;
                lock (bodies)
                {
                    if (sent == requests || host.HasExited) return;
                    if (++sent % 10_000 == 0) Console.WriteLine($"  {sent} sent, {watch.Elapsed.TotalSeconds:0} s");
                    request = bodies.Next();
                }
                Interlocked.Add(ref bytes, request.Body.Length);
                var status = await SendAsync(client, request, acknowledged, failures, expectedMessages);
                statuses.AddOrUpdate((request.Kind, status), 1, (_, n) => n + 1);
            }
        })));
        var elapsed = watch.Elapsed;
        var alive = !host.HasExited;

        var stored = await StoredIdsAsync(azurite.ConnectionString);
        var queued = await QueuedMessagesAsync(azurite.ConnectionString);
        var strays = stored.Where(s => s.Where != "outbox rows").Select(s => (s.Where, Ids: s.Ids.Where(id => !acknowledged.ContainsKey(id)).ToList())).ToList();
        var unrecorded = acknowledged.Keys.Count(id => !stored.First(s => s.Where == "records").Ids.Contains(id));
        await File.WriteAllLinesAsync(Path.Combine(run, "failures.txt"), failures);

        var byStatus = statuses.GroupBy(s => s.Key.Status).OrderBy(g => g.Key).Select(g => $"{Status(g.Key)}: {g.Sum(x => x.Value)}");
        var byKind = statuses.GroupBy(s => s.Key.Kind).OrderBy(g => g.Key)
            .Select(g => $"    {g.Key,-14} {string.Join(", ", g.OrderBy(x => x.Key.Status).Select(x => $"{Status(x.Key.Status)} {x.Value}"))}");
        var fiveHundreds = statuses.Where(s => s.Key.Status >= 500 || s.Key.Status == -1).Sum(s => s.Value);
        var summary = $"""
            fuzz run: {sent} requests ({bytes / (1024.0 * 1024):0} MiB) from {workers} clients in {elapsed.TotalSeconds:0} s ({sent / elapsed.TotalSeconds:0} requests/s), seed {seed}
              answers: {string.Join(", ", byStatus)}
              by kind:
            {string.Join(Environment.NewLine, byKind)}
              5xx or no answer: {fiveHundreds}
              host still running, never restarted: {alive}
              internal ids acknowledged by a 200: {acknowledged.Count}
              stored but never acknowledged: {string.Join(", ", strays.Select(s => $"{s.Where} {s.Ids.Count}"))}
              acknowledged but without a record: {unrecorded}
              messages on the queue: {queued}, expected from the 200 answers: {expectedMessages.Value}
              outbox rows left: {stored.First(s => s.Where == "outbox rows").Ids.Count}
            """;
        Console.WriteLine(summary);
        await File.WriteAllTextAsync(Path.Combine(run, "result.txt"), summary);
        return fiveHundreds == 0 && alive && strays.All(s => s.Ids.Count == 0) && unrecorded == 0 && queued == expectedMessages.Value && stored.First(s => s.Where == "outbox rows").Ids.Count == 0 ? 0 : 1;
    }

    private static string Status(int status) => status == -1 ? "no answer" : status.ToString(CultureInfo.InvariantCulture);

    private static async Task<int> SendAsync(HttpClient client, FuzzRequest request, ConcurrentDictionary<string, byte> acknowledged, ConcurrentQueue<string> failures, StrongBox<int> expectedMessages)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, "e/" + request.Key) { Content = new ByteArrayContent(request.Body) };
        message.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
        if (request.Seed is not null) message.Headers.TryAddWithoutValidation("x-inngest-event-id-seed", request.Seed);
        if (request.Environment is not null) message.Headers.TryAddWithoutValidation("x-inngest-env", request.Environment);
        try
        {
            using var response = await client.SendAsync(message);
            var text = await response.Content.ReadAsStringAsync();
            var status = (int)response.StatusCode;
            if (status == 200)
            {
                using var json = JsonDocument.Parse(text);
                foreach (var id in json.RootElement.GetProperty("ids").EnumerateArray()) acknowledged.TryAdd(id.GetString()!, 0);
                // One message now for an accepted event; a delayed one for an event due within the
                // scheduling horizon (6 days); none for a duplicate or an event parked beyond it.
                var horizon = DateTimeOffset.UtcNow.AddDays(6).ToUnixTimeMilliseconds();
                foreach (var e in json.RootElement.GetProperty("events").EnumerateArray())
                {
                    var outcome = e.GetProperty("outcome").GetString();
                    if (outcome == "accepted" || (outcome == "scheduled" && e.GetProperty("due").GetInt64() < horizon)) Interlocked.Increment(ref expectedMessages.Value);
                }
            }
            else if (status >= 500 || status == 429 || !text.Contains($"\"status\":{status}", StringComparison.Ordinal))
            {
                failures.Enqueue($"{status} {request.Kind} seed={request.Seed} env={request.Environment} key={request.Key} body={Convert.ToBase64String(request.Body)} answer={text}");
            }
            return status;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            failures.Enqueue($"no answer ({ex.Message}) {request.Kind} body={Convert.ToBase64String(request.Body)}");
            return -1;
        }
    }

    /// <summary>Messages on the queue, visible or waiting (Azurite's count is exact). Reading them
    /// all back is quadratic in Azurite, so they are counted instead.</summary>
    private static async Task<int> QueuedMessagesAsync(string connectionString)
    {
        var queue = new QueueClient(connectionString, "events");
        return await queue.ExistsAsync() ? (await queue.GetPropertiesAsync()).Value.ApproximateMessagesCount : 0;
    }

    /// <summary>Every internal id anything in storage refers to, by where it was found.</summary>
    private static async Task<List<(string Where, HashSet<string> Ids)>> StoredIdsAsync(string connectionString)
    {
        var records = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var row in new TableClient(connectionString, "eievents").QueryAsync<TableEntity>(select: ["RowKey"])) records.Add(RecordKeys.InternalIdOf(row.RowKey));

        var claims = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var row in new TableClient(connectionString, "eiidempotency").QueryAsync<TableEntity>(select: ["InternalId"])) claims.Add(row.GetString("InternalId"));

        var outbox = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var row in new TableClient(connectionString, "eioutbox").QueryAsync<TableEntity>(select: ["RowKey"])) outbox.Add(row.RowKey);

        var blobs = new HashSet<string>(StringComparer.Ordinal);
        var container = new BlobContainerClient(connectionString, "ei-large");
        if (await container.ExistsAsync())
        {
            await foreach (var blob in container.GetBlobsAsync()) blobs.Add(Path.GetFileNameWithoutExtension(blob.Name));
        }

        return [("records", records), ("claims", claims), ("blobs", blobs), ("outbox rows", outbox)];
    }
}
