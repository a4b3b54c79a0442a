using System.Diagnostics;
using System.Globalization;

namespace EventIngest.Bench;

/// <summary>
/// The local host's memory under steady load: 20 single-event requests per second and one
/// request of 100 events every 2 s (70 events/s, open loop; a second argument sets the requests
/// of 100 per second), a rate at which Azurite, holding every message (nothing consumes them),
/// does not stall within the run. A first minute of the same load lets the process
/// settle (tiered compilation, thread pool, buffer pools) and is not summarised; then, for the
/// minutes measured, the host's resident set (VmRSS), its managed heap and its live heap (what
/// survives a forced full collection, see <see cref="GcHeapReport"/>) are sampled every 10 s. A
/// leak shows as a slope in the live heap and the resident set; flat lines are the goal.
/// The load's client closes a connection after 5 s idle, so that connections opened while
/// Azurite stalls and answers pile up do not stay open (each holds buffers in the host) and
/// the host's open sockets show how many there are.
/// </summary>
internal static class MemoryBench
{
    private static readonly TimeSpan SampleEvery = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Settle = TimeSpan.FromMinutes(1);

    public static async Task RunAsync(double minutes, double hundredsPerSecond = 0.5)
    {
        var hundredEvery = Math.Max(1, (int)Math.Round(10 / hundredsPerSecond)); // in ticks of 100 ms
        var eventsPerSecond = 20 + 100 * 10.0 / hundredEvery;
        await using var host = await DevServerOnAzurite.StartAsync("memory");
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 512, PooledConnectionIdleTimeout = TimeSpan.FromSeconds(5) })
        {
            BaseAddress = host.Client.BaseAddress,
            Timeout = host.Client.Timeout,
        };
        var sender = new SdkSender(client);
        var measured = TimeSpan.FromMinutes(minutes);
        var duration = Settle + measured;
        Console.WriteLine($"memory: local host pid {host.Pid} (own process, server GC), Azurite pid {host.Azurite.ProcessId} in memory, {Environment.ProcessorCount} cores");
        Console.WriteLine($"load: 20 × batch 1 requests/s + 1 × batch 100 every {hundredEvery / 10.0:0.#} s ({eventsPerSecond:0} events/s, SDK-style); {Settle.TotalMinutes:0} min to settle, then {measured.TotalMinutes:0.#} min measured; " +
                          $"sample every {SampleEvery.TotalSeconds:0} s, live heap after a forced full GC every {GcHeapReport.LiveEvery.TotalSeconds:0} s");
        Console.WriteLine();
        Console.WriteLine("| t (s) | host RSS MiB | live heap MiB | GC heap MiB | GC committed MiB | threads | sockets | events acknowledged | failed requests | requests in flight | mean answer ms (last 10 s) |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");

        long acknowledged = 0, failed = 0, inFlight = 0, answered = 0, answerTicks = 0;
        var running = new List<Task>();
        var samples = new List<Sample>();
        var watch = Stopwatch.StartNew();
        var nextSample = SampleEvery;
        var interval = TimeSpan.FromMilliseconds(100);
        for (var tick = 0L; ; tick++)
        {
            var due = interval * tick;
            if (due > duration) break;
            var wait = due - watch.Elapsed;
            if (wait > TimeSpan.Zero) await Task.Delay(wait);
            if (host.HasExited) throw new InvalidOperationException($"the host exited; see {host.RunDirectory}/host.log");

            running.Add(Send(1));
            running.Add(Send(1));
            if (tick % hundredEvery == 0) running.Add(Send(100));
            if (running.Count > 1000) running.RemoveAll(t => t.IsCompleted);

            if (watch.Elapsed >= nextSample)
            {
                var rss = ProcStats.RssBytes(host.Pid) / 1048576.0;
                var gc = GcHeapReport.Read(host.GcReportPath);
                var live = gc is { LiveBytes: >= 0 } g ? g.LiveBytes / 1048576.0 : (double?)null;
                var seconds = watch.Elapsed.TotalSeconds;
                if (seconds > Settle.TotalSeconds) samples.Add(new Sample(seconds, rss, live, gc?.HeapBytes / 1048576.0, gc?.Threads));
                var meanMs = Interlocked.Exchange(ref answerTicks, 0) / (double)Stopwatch.Frequency * 1000 / Math.Max(1, Interlocked.Exchange(ref answered, 0));
                Console.WriteLine($"| {seconds:0}{(seconds <= Settle.TotalSeconds ? " (settling)" : "")} | {rss:0.0} | {Mib(gc?.LiveBytes)} | {Mib(gc?.HeapBytes)} | {Mib(gc?.CommittedBytes)} | {gc?.Threads.ToString(CultureInfo.InvariantCulture) ?? "–"} | {ProcStats.Sockets(host.Pid)} " +
                                  $"| {Interlocked.Read(ref acknowledged):N0} | {Interlocked.Read(ref failed):N0} | {Interlocked.Read(ref inFlight):N0} | {meanMs:0.0} |");
                nextSample += SampleEvery;
            }
        }
        await Task.WhenAll(running);

        Console.WriteLine();
        Console.WriteLine($"over the {measured.TotalMinutes:0.#} minutes measured (after the first {Settle.TotalMinutes:0}):");
        Summarise("host RSS", samples.Select(s => (s.Seconds, s.Rss)).ToList());
        Summarise("live heap", samples.Where(s => s.Live is not null).Select(s => (s.Seconds, s.Live!.Value)).ToList());
        Summarise("GC heap", samples.Where(s => s.Heap is not null).Select(s => (s.Seconds, s.Heap!.Value)).ToList());
        var threads = samples.Where(s => s.Threads is not null).Select(s => s.Threads!.Value).ToList();
        if (threads.Count > 0) Console.WriteLine($"threads: {threads.Min()}–{threads.Max()}");
        Console.WriteLine($"events acknowledged {acknowledged:N0}, failed requests {failed:N0}");

        async Task Send(int batch)
        {
            Interlocked.Increment(ref inFlight);
            var started = Stopwatch.GetTimestamp();
            var status = await sender.SendAsync(batch);
            Interlocked.Add(ref answerTicks, Stopwatch.GetTimestamp() - started);
            Interlocked.Increment(ref answered);
            Interlocked.Decrement(ref inFlight);
            if (status == 200) Interlocked.Add(ref acknowledged, batch);
            else Interlocked.Increment(ref failed);
        }
    }

    private readonly record struct Sample(double Seconds, double Rss, double? Live, double? Heap, int? Threads);

    private static string Mib(long? bytes) => bytes is { } b and >= 0 ? (b / 1048576.0).ToString("0.0", CultureInfo.InvariantCulture) : "–";

    /// <summary>First- and last-minute means, and the least-squares slope over the samples.</summary>
    private static void Summarise(string what, List<(double Seconds, double MiB)> series)
    {
        if (series.Count < 2) return;
        var start = series[0].Seconds;
        var end = series[^1].Seconds;
        var first = series.Where(s => s.Seconds < start + 60).Average(s => s.MiB);
        var last = series.Where(s => s.Seconds > end - 60).Average(s => s.MiB);
        Console.WriteLine($"{what}: first minute {first:0.0} MiB, last minute {last:0.0} MiB ({last - first:+0.0;-0.0} MiB); " +
                          $"range {series.Min(s => s.MiB):0.0}–{series.Max(s => s.MiB):0.0} MiB; slope {Slope(series):+0.00;-0.00} MiB/min");
    }

    private static double Slope(List<(double Seconds, double MiB)> series)
    {
        var mx = series.Average(s => s.Seconds);
        var my = series.Average(s => s.MiB);
        var sxy = series.Sum(s => (s.Seconds - mx) * (s.MiB - my));
        var sxx = series.Sum(s => (s.Seconds - mx) * (s.Seconds - mx));
        return sxy / sxx * 60;
    }
}
