using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace EventIngest.Bench;

/// <summary>
/// Scheduled release on the local host: N events due in the same second, and events due at
/// scattered times; consumers poll the queue as a Functions queue trigger would and record when
/// each message first became receivable, against its due time.
/// </summary>
internal static class ReleaseBench
{
    // A Functions queue trigger polls with a handful of receivers per instance; more only load Azurite.
    private const int Consumers = 4;
    private static int _receiveErrors;

    public static async Task RunAsync(int count)
    {
        await using var host = await BenchHost.StartAsync();
        await PrecisionAsync(host);
        Console.WriteLine($"release: {count} events due in the same second, local host on Azurite");

        var due = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 30_000 + count * 3;
        var send = Stopwatch.StartNew();
        await host.SendInBatchesAsync(count, (n, _) => $$"""{"name":"bench/due","data":{"i":{{n}}},"ts":{{due}}}""");
        Console.WriteLine($"  scheduling {count} events took {send.Elapsed.TotalSeconds:0.0} s; waiting for due time");

        var (latencies, first, last) = await ConsumeAsync(host, count, TimeSpan.FromMinutes(15));
        var released = (last - first) / 1000.0;
        Console.WriteLine($"  received {latencies.Count}/{count}; release window (first → last receivable) {(last - first) / 1000.0:0.00} s" +
                          $" → {latencies.Count / Math.Max((last - first) / 1000.0, 0.001):0} events/s");
        Console.WriteLine($"  receive errors (Azurite timeouts, retried): {_receiveErrors}");
        Console.WriteLine($"  due → received: p50 {Stats.Percentile(latencies, 50):0} ms, p99 {Stats.Percentile(latencies, 99):0} ms, min {latencies.Min():0} ms, max {latencies.Max():0} ms");

        // The same number of plain messages, visible at once, drained by the same consumers: the
        // ceiling Azurite's queue puts on any release, in the same run.
        var raw = host.Storage.Queue("events");
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
            await raw.SendMessageAsync(BinaryData.FromString($"{{\"internal_id\":\"raw-{i}\",\"ts\":{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()}}}"), cancellationToken: ct));
        var drain = Stopwatch.StartNew();
        var (rawLatencies, _, _) = await ConsumeAsync(host, count, TimeSpan.FromMinutes(15));
        var rawSeconds = drain.Elapsed.TotalSeconds;
        Console.WriteLine($"raw drain: {rawLatencies.Count} plain messages already visible, same consumers: {rawSeconds:0.00} s → {rawLatencies.Count / rawSeconds:0} messages/s");
        Console.WriteLine($"release ÷ raw drain time: {released / rawSeconds:0.00}");

    }

    /// <summary>Events due at scattered times: precision per event rather than bulk throughput.</summary>
    private static async Task PrecisionAsync(BenchHost host)
    {
        var scattered = 300;
        var start = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 5_000;
        var random = new Random(42);
        var body2 = "[" + string.Join(',', Enumerable.Range(0, scattered).Select(i => $$"""{"name":"bench/scattered","ts":{{start + random.Next(0, 20_000)}}}""")) + "]";
        (await host.Client.PostAsync("e/bench", new StringContent(body2, Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
        var (scatteredLatencies, _, _) = await ConsumeAsync(host, scattered, TimeSpan.FromMinutes(2));
        Console.WriteLine($"scattered: {scattered} events due over 20 s: due → received p50 {Stats.Percentile(scatteredLatencies, 50):0} ms, " +
                          $"p99 {Stats.Percentile(scatteredLatencies, 99):0} ms, min {scatteredLatencies.Min():0} ms, max {scatteredLatencies.Max():0} ms");
    }

    /// <summary>Receives until <paramref name="count"/> messages arrived; latency = receive time − the envelope's ts.</summary>
    private static async Task<(List<double> Latencies, long First, long Last)> ConsumeAsync(BenchHost host, int count, TimeSpan timeout)
    {
        var queue = host.Storage.Queue("events");
        var latencies = new ConcurrentDictionary<string, double>();
        long first = long.MaxValue, last = 0;
        using var cts = new CancellationTokenSource(timeout);
        var received = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, Consumers), cts.Token, async (_, ct) =>
        {
            while (Volatile.Read(ref received) < count && !ct.IsCancellationRequested)
            {
                Azure.Response<Azure.Storage.Queues.Models.QueueMessage[]> batch;
                try
                {
                    batch = await queue.ReceiveMessagesAsync(32, TimeSpan.FromMinutes(5), ct);
                }
                catch (Exception ex) when (ex is Azure.RequestFailedException or AggregateException or TaskCanceledException && !cts.IsCancellationRequested)
                {
                    Interlocked.Increment(ref _receiveErrors);
                    continue;
                }
                var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                if (batch.Value.Length == 0)
                {
                    await Task.Delay(20, ct);
                    continue;
                }
                foreach (var m in batch.Value)
                {
                    using var doc = JsonDocument.Parse(m.Body.ToString());
                    // Azurite may hand one message to two receivers at once; count each event once.
                    if (latencies.TryAdd(doc.RootElement.GetProperty("internal_id").GetString()!, now - doc.RootElement.GetProperty("ts").GetInt64())
                        && Interlocked.Increment(ref received) % 2000 == 0)
                    {
                        Console.WriteLine($"    {received} received, {(now - doc.RootElement.GetProperty("ts").GetInt64()) / 1000.0:0.0} s after due");
                    }
                }
                InterlockedMin(ref first, now);
                InterlockedMax(ref last, now);
                await Task.WhenAll(batch.Value.Select(async m =>
                {
                    try { await queue.DeleteMessageAsync(m.MessageId, m.PopReceipt, ct); }
                    catch (Exception ex) when (ex is Azure.RequestFailedException or AggregateException or TaskCanceledException) { }
                }));
            }
        });
        return (latencies.Values.ToList(), first, last);
    }

    private static void InterlockedMin(ref long target, long value)
    {
        long current;
        while (value < (current = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current) { }
    }

    private static void InterlockedMax(ref long target, long value)
    {
        long current;
        while (value > (current = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current) { }
    }
}
