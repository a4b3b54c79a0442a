using System.Collections.Concurrent;
using System.Diagnostics;
using Azure.Data.Tables;

namespace EventIngest.Bench;

/// <summary>
/// Latency of single-event SDK-style sends at a steady, moderate rate (open loop: requests start
/// on a fixed schedule whether or not earlier ones have been answered), interleaved with the
/// least a durable ingest must do, done by a plain client on the same Azurite: one table insert
/// followed by one queue send, at the same rate. A third stream of requests with no events
/// (answered without touching storage) shows what HTTP and the host's routing add.
/// </summary>
internal static class LatencyBench
{
    public static async Task RunAsync(int perSecond, TimeSpan duration)
    {
        await using var host = await DevServerOnAzurite.StartAsync("latency");
        var sender = new SdkSender(host.Client);
        Console.WriteLine($"latency: local host pid {host.Pid} (own process), Azurite pid {host.Azurite.ProcessId} in memory, {Environment.ProcessorCount} cores");

        await sender.SendAsync(1); // creates the tables, the queue and the environment key
        var message = (await host.Raw.Queue("events").PeekMessagesAsync(1)).Value.Single().Body.ToArray();
        var payload = new byte[message.Length];
        Random.Shared.NextBytes(payload);
        var table = host.Raw.Tables.GetTableClient("rawlatency");
        await table.CreateIfNotExistsAsync();
        var queue = host.Raw.Queue("rawlatency");
        await queue.CreateIfNotExistsAsync();

        var warmUp = TimeSpan.FromSeconds(10);
        Console.WriteLine($"{perSecond} single-event requests/s, {perSecond} raw insert+send/s and {perSecond} empty requests/s, interleaved; {warmUp.TotalSeconds:0} s warm-up, then {duration.TotalSeconds:0} s measured; messages and entities of {payload.Length:N0} bytes");
        await Schedule(perSecond, warmUp, new Samples(), sender, table, queue, payload);
        var samples = new Samples();
        var cpu = CpuSplit.Start(host.Pid, host.Azurite.ProcessId);
        var lateStart = await Schedule(perSecond, duration, samples, sender, table, queue, payload);
        var (hostCores, azuriteCores, benchCores, others) = cpu.Stop().Cores;

        var ingest = samples.Ingest.ToList();
        var raw = samples.Raw.ToList();
        Console.WriteLine();
        Console.WriteLine("| operation | count | p50 ms | p90 ms | p99 ms | max ms |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        Row("ingest: POST /e/{key}, 1 event, SDK seed", ingest);
        Row("raw: table insert + queue send", raw);
        Row("  of which table insert", samples.RawInsert.ToList());
        Row("  of which queue send", samples.RawSend.ToList());
        Row("raw table delete (after, not counted above)", samples.RawDelete.ToList());
        Row("POST /e/{key} with no events (no storage)", samples.Empty.ToList());
        Console.WriteLine();
        Console.WriteLine($"ingest ÷ raw: p50 {Stats.Percentile(ingest, 50) / Stats.Percentile(raw, 50):0.00}, p99 {Stats.Percentile(ingest, 99) / Stats.Percentile(raw, 99):0.00}" +
                          $"; target p50 ≤ 1.50 → {(Stats.Percentile(ingest, 50) <= 1.5 * Stats.Percentile(raw, 50) ? "met" : "not met")}");
        Console.WriteLine($"failed: ingest {samples.IngestFailures}, raw {samples.RawFailures}; latest start behind schedule {lateStart:0.0} ms");
        Console.WriteLine($"CPU while measuring (cores): host {hostCores:0.00}, Azurite {azuriteCores:0.00}, bench {benchCores:0.00}, others {others:0.00}");
    }

    private static void Row(string label, List<double> values) =>
        Console.WriteLine($"| {label} | {values.Count:N0} | {Stats.Percentile(values, 50):0.0} | {Stats.Percentile(values, 90):0.0} | {Stats.Percentile(values, 99):0.0} | {(values.Count > 0 ? values.Max() : double.NaN):0.0} |");

    private sealed class Samples
    {
        public ConcurrentBag<double> Ingest { get; } = [];
        public ConcurrentBag<double> Raw { get; } = [];
        public ConcurrentBag<double> RawInsert { get; } = [];
        public ConcurrentBag<double> RawSend { get; } = [];
        public ConcurrentBag<double> RawDelete { get; } = [];
        public ConcurrentBag<double> Empty { get; } = [];
        public int IngestFailures;
        public int RawFailures;
    }

    /// <summary>Starts an ingest request, a raw operation and an empty request in turn, 1/(3·rate) apart, for
    /// <paramref name="duration"/>; returns how far behind schedule the latest start was (ms).</summary>
    private static async Task<double> Schedule(int perSecond, TimeSpan duration, Samples samples, SdkSender sender, TableClient table, Azure.Storage.Queues.QueueClient queue, byte[] payload)
    {
        var interval = TimeSpan.FromSeconds(1.0 / (3 * perSecond));
        var watch = Stopwatch.StartNew();
        var running = new List<Task>();
        var late = 0.0;
        for (var tick = 0L; ; tick++)
        {
            var due = interval * tick;
            if (due >= duration) break;
            var wait = due - watch.Elapsed;
            if (wait > TimeSpan.Zero) await Task.Delay(wait);
            late = Math.Max(late, (watch.Elapsed - due).TotalMilliseconds);
            running.Add((tick % 3) switch
            {
                0 => IngestOnce(sender, samples),
                1 => RawOnce(table, queue, payload, samples),
                _ => EmptyOnce(sender, samples),
            });
        }
        await Task.WhenAll(running);
        return late;
    }

    private static async Task IngestOnce(SdkSender sender, Samples samples)
    {
        var (status, ms) = await sender.TimedSendAsync(1);
        if (status == 200) samples.Ingest.Add(ms);
        else Interlocked.Increment(ref samples.IngestFailures);
    }

    private static async Task EmptyOnce(SdkSender sender, Samples samples)
    {
        var (status, ms) = await sender.TimedSendAsync(0);
        if (status == 200) samples.Empty.Add(ms);
    }

    private static async Task RawOnce(TableClient table, Azure.Storage.Queues.QueueClient queue, byte[] payload, Samples samples)
    {
        try
        {
            var partition = Guid.NewGuid().ToString("N");
            var started = Stopwatch.GetTimestamp();
            await table.AddEntityAsync(new TableEntity(partition, "0") { ["State"] = "pending", ["Writer"] = partition, ["Envelope"] = payload });
            var inserted = Stopwatch.GetTimestamp();
            await queue.SendMessageAsync(BinaryData.FromBytes(payload), visibilityTimeout: null, timeToLive: TimeSpan.FromSeconds(-1));
            var sent = Stopwatch.GetTimestamp();
            samples.RawInsert.Add(Stopwatch.GetElapsedTime(started, inserted).TotalMilliseconds);
            samples.RawSend.Add(Stopwatch.GetElapsedTime(inserted, sent).TotalMilliseconds);
            samples.Raw.Add(Stopwatch.GetElapsedTime(started, sent).TotalMilliseconds);
            await table.DeleteEntityAsync(partition, "0");
            samples.RawDelete.Add(Stopwatch.GetElapsedTime(sent).TotalMilliseconds);
        }
        catch (Exception ex) when (ex is Azure.RequestFailedException or AggregateException or TaskCanceledException)
        {
            Interlocked.Increment(ref samples.RawFailures);
        }
    }
}
