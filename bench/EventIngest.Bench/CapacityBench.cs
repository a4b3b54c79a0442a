using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Azure.Core;
using EventIngest.Storage;
using Microsoft.Extensions.DependencyInjection;
using EventIngest.Delivery;

namespace EventIngest.Bench;

/// <summary>
/// The capacity model: for representative loads, the storage operations each event costs on each
/// queue, each table partition and the account (counted at the storage clients, retries
/// included), and from them the events/s at which each would reach its Azure scalability target
/// (docs/scale.md). Counts, not timings: Azurite's speed does not enter the figures.
/// </summary>
internal static partial class CapacityBench
{
    // Azure Storage scalability targets (standard general-purpose v2 account; docs/scale.md).
    private const double QueueMessagesPerSecond = 2_000;
    private const double PartitionEntitiesPerSecond = 2_000;
    private const double AccountRequestsPerSecond = 20_000;

    /// <summary>Operations seen since the last reset, by target ("queue events", "table events|p").</summary>
    private static readonly ConcurrentDictionary<string, long> Operations = new();
    /// <summary>Requests by account: the service's own, or the queue account (told apart by its port).</summary>
    private static readonly ConcurrentDictionary<string, long> Requests = new();
    private static int _queueAccountPort = -1;

    public static async Task RunAsync()
    {
        Console.WriteLine("capacity: storage operations per event by target, and the events/s at which each target reaches its Azure limit");
        Console.WriteLine("(queue: 2,000 messages/s; table partition: 2,000 entities/s; account: 20,000 requests/s)");
        await RunConfigurationAsync("default configuration (one queue per route)", new() { ["EventIngest:Routing:DefaultShards"] = "1" });
        await RunConfigurationAsync("high volume (EventIngest:Routing:DefaultShards = 8)", new() { ["EventIngest:Routing:DefaultShards"] = "8" });
        await RunConfigurationAsync("high volume, packed (DefaultShards = 8, DefaultPacked)", new() { ["EventIngest:Routing:DefaultShards"] = "8", ["EventIngest:Routing:DefaultPacked"] = "true" });
        // A second storage account (a second Azurite) for the queues.
        await using var queueAccount = await DevServer.Azurite.AzuriteProcess.StartAsync();
        _queueAccountPort = queueAccount.QueuePort;
        await RunConfigurationAsync("high volume, packed, queues in a second account (DefaultAccount)", new()
        {
            ["EventIngest:Routing:DefaultShards"] = "8",
            ["EventIngest:Routing:DefaultPacked"] = "true",
            ["EventIngest:Routing:DefaultAccount"] = "queues",
            ["EventIngest:Storage:QueueAccounts:queues:ConnectionString"] = queueAccount.ConnectionString,
        });
        await RunConfigurationAsync("one message per event, 8 shards, queues in a second account", new()
        {
            ["EventIngest:Routing:DefaultShards"] = "8",
            ["EventIngest:Routing:DefaultAccount"] = "queues",
            ["EventIngest:Storage:QueueAccounts:queues:ConnectionString"] = queueAccount.ConnectionString,
        });
    }

    private static async Task RunConfigurationAsync(string configuration, Dictionary<string, string?> routing)
    {
        var settings = new Dictionary<string, string?>
        {
            ["EventIngest:Local:RepairInterval"] = "01:00:00",
            ["EventIngest:Local:ReleaseInterval"] = "01:00:00",
            ["EventIngest:Local:CleanupInterval"] = "01:00:00",
            // The due poller would count its receives against the loads.
            ["EventIngest:Local:DuePollInterval"] = "01:00:00",
        };
        foreach (var (key, value) in routing) settings[key] = value;
        await using var host = await BenchHost.StartAsync(settings);
        var counter = host.Services.GetRequiredService<StorageRequestCounter>();
        var outbox = host.Services.GetRequiredService<Outbox>();
        await SendAsync(host, "[{\"name\":\"warm/up\"}]"); // creates tables, the environment key
        await outbox.FlushAsync();
        counter.Observe = Record;

        Console.WriteLine();
        Console.WriteLine($"== {configuration}");
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await LoadAsync(host, outbox, "batch 1, SDK seed", 1, 400, _ => "{\"name\":\"app/x\",\"data\":{}}");
        await LoadAsync(host, outbox, "batch 100, SDK seed", 100, 40, _ => "{\"name\":\"app/x\",\"data\":{}}");
        await LoadAsync(host, outbox, "batch 100, every event its own id", 100, 40, _ => $"{{\"name\":\"app/x\",\"id\":\"{Guid.NewGuid():N}\"}}");
        await LoadAsync(host, outbox, "batch 100, scheduled 1 h ahead", 100, 40, _ => $"{{\"name\":\"app/x\",\"ts\":{now + 3_600_000}}}");
        await LoadAsync(host, outbox, "batch 100, scheduled 30 days ahead (parked)", 100, 40, _ => $"{{\"name\":\"app/x\",\"ts\":{now + 30L * 86_400_000}}}");
        counter.Observe = null;
    }

    private static async Task LoadAsync(BenchHost host, Outbox outbox, string label, int size, int requests, Func<int, string> item)
    {
        Operations.Clear();
        Requests.Clear();
        // Four clients at once, as an instance under load sees them: requests share outbox partitions.
        await Parallel.ForEachAsync(Enumerable.Range(0, requests), new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (_, _) =>
            await SendAsync(host, "[" + string.Join(',', Enumerable.Range(0, size).Select(item)) + "]"));
        await outbox.FlushAsync();
        double events = size * requests;

        Console.WriteLine();
        Console.WriteLine($"{label}: {events:0} events in {requests} requests");
        Console.WriteLine($"  {"target",-44} {"ops/event",10} {"hottest",10} {"ceiling ev/s",13}");
        var ceilings = new List<(string Target, double Ceiling)>();
        // Queues: messages (sends) per event; a queue is one target.
        foreach (var (target, ops) in Operations.Where(o => o.Key.StartsWith("queue ", StringComparison.Ordinal)).OrderBy(o => o.Key, StringComparer.Ordinal))
        {
            var perEvent = ops / events;
            var ceiling = QueueMessagesPerSecond / perEvent;
            ceilings.Add((target, ceiling));
            Console.WriteLine($"  {target,-44} {perEvent,10:0.000} {perEvent,10:0.000} {ceiling,13:N0}");
        }
        // Tables: entities per event over the whole table, and in its busiest partition (the one that binds).
        foreach (var table in Operations.Keys.Where(k => k.StartsWith("table ", StringComparison.Ordinal)).Select(k => k[..k.IndexOf('|', StringComparison.Ordinal)]).Distinct().Order(StringComparer.Ordinal))
        {
            var partitions = Operations.Where(o => o.Key.StartsWith(table + "|", StringComparison.Ordinal)).ToList();
            var perEvent = partitions.Sum(p => p.Value) / events;
            var hottest = partitions.Max(p => p.Value) / events;
            var ceiling = PartitionEntitiesPerSecond / hottest;
            ceilings.Add(($"{table} (busiest of {partitions.Count} partitions)", ceiling));
            Console.WriteLine($"  {table + $" ({partitions.Count} partitions)",-44} {perEvent,10:0.000} {hottest,10:0.000} {ceiling,13:N0}");
        }
        foreach (var (name, count) in Requests.OrderBy(r => r.Key, StringComparer.Ordinal))
        {
            var requestsPerEvent = count / events;
            var account = AccountRequestsPerSecond / requestsPerEvent;
            ceilings.Add(($"{name} (requests)", account));
            Console.WriteLine($"  {name + ": requests",-44} {requestsPerEvent,10:0.000} {"",10} {account,13:N0}");
        }
        var binding = ceilings.MinBy(c => c.Ceiling);
        Console.WriteLine($"  binds first: {binding.Target} at {binding.Ceiling:N0} events/s");
    }

    /// <summary>Attributes one request: a queue message send to its queue; a table write, read or
    /// transaction to the partitions of the entities it touches (one operation per entity).</summary>
    private static void Record(HttpMessage message)
    {
        var request = message.Request;
        Requests.AddOrUpdate(request.Uri.Port == _queueAccountPort ? "queue account" : "account", 1, (_, n) => n + 1);
        var path = Uri.UnescapeDataString(request.Uri.Path);
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Length < 2) return; // account-level calls
        var resource = segments[1];
        if (segments.Length >= 3 && segments[2] == "messages")
        {
            if (request.Method == RequestMethod.Post) Operations.AddOrUpdate("queue " + resource, 1, (_, n) => n + 1);
            return;
        }
        if (resource == "$batch")
        {
            foreach (var action in BatchAction().Matches(ContentOf(request)).Cast<Match>())
            {
                var (table, partition) = (action.Groups["table"].Value, action.Groups["pk"].Success ? action.Groups["pk"].Value : PartitionInBody(action.Groups["body"].Value));
                Operations.AddOrUpdate($"table {table}|{partition}", 1, (_, n) => n + 1);
            }
            return;
        }
        var key = KeyInUrl().Match(resource);
        if (key.Success)
        {
            Operations.AddOrUpdate($"table {key.Groups["table"].Value}|{key.Groups["pk"].Value.Replace("''", "'", StringComparison.Ordinal)}", 1, (_, n) => n + 1);
        }
        else if (request.Method == RequestMethod.Post && !resource.StartsWith("Tables", StringComparison.Ordinal))
        {
            Operations.AddOrUpdate($"table {resource.TrimEnd('(', ')')}|{PartitionInBody(ContentOf(request))}", 1, (_, n) => n + 1);
        }
        // Queries (GET table()?$filter=...) read ranges: counted in the account's requests only.
    }

    private static string ContentOf(Request request)
    {
        if (request.Content is null) return "";
        using var stream = new MemoryStream();
        request.Content.WriteTo(stream, default);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static string PartitionInBody(string body) => PartitionKeyProperty().Match(body) is { Success: true } m ? m.Groups[1].Value : "?";

    // One action of a table transaction: its request line (the table, and the key when the URL has
    // it) and what follows up to the next part boundary.
    [GeneratedRegex(@"^(?:POST|PUT|MERGE|PATCH|DELETE|GET) \S*?/(?<table>[A-Za-z0-9]+)(?:\(PartitionKey='(?<pk>(?:[^']|'')*)',RowKey='(?:[^']|'')*'\))?(?:\?\S*)? HTTP/1\.1(?<body>(?:(?!^--).)*)", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex BatchAction();

    [GeneratedRegex(@"^(?<table>[A-Za-z0-9]+)\(PartitionKey='(?<pk>(?:[^']|'')*)',RowKey='")]
    private static partial Regex KeyInUrl();

    [GeneratedRegex("\"PartitionKey\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"")]
    private static partial Regex PartitionKeyProperty();

    private static async Task SendAsync(BenchHost host, string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "e/bench") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("x-inngest-event-id-seed", $"{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()},{Convert.ToBase64String(RandomNumberGenerator.GetBytes(10))}");
        (await host.Client.SendAsync(request)).EnsureSuccessStatusCode();
    }
}
