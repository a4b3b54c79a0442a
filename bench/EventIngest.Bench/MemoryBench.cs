using System.Diagnostics;

namespace EventIngest.Bench;

/// <summary>
/// The local host's memory under steady load: 20 single-event requests and 2 requests of 100
/// events per second (220 events/s, open loop) for some minutes, with the host's resident set
/// (VmRSS) and managed heap sampled every 10 s. A leak shows as a slope; a flat line after the
/// first minute is the goal.
/// </summary>
internal static class MemoryBench
{
    private static readonly TimeSpan SampleEvery = TimeSpan.FromSeconds(10);

    public static async Task RunAsync(double minutes)
    {
        await using var host = await HostProcess.StartAsync("memory");
        var sender = new SdkSender(host.Client);
        var duration = TimeSpan.FromMinutes(minutes);
        Console.WriteLine($"memory: local host pid {host.Pid} (own process, server GC), Azurite pid {host.Azurite.ProcessId} in memory, {Environment.ProcessorCount} cores");
        Console.WriteLine($"load: 20 × batch 1 + 2 × batch 100 requests/s (220 events/s, SDK-style) for {duration.TotalMinutes:0.#} min; sample every {SampleEvery.TotalSeconds:0} s");
        Console.WriteLine();
        Console.WriteLine("| t (s) | host RSS MiB | GC heap MiB | GC committed MiB | gen2 GCs | events acknowledged | failed requests | requests in flight | mean answer ms (last 10 s) |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");

        long acknowledged = 0, failed = 0, inFlight = 0, answered = 0, answerTicks = 0;
        var running = new List<Task>();
        var samples = new List<(double Seconds, double Rss, double? Heap)>();
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
            if (tick % 5 == 0) running.Add(Send(100));
            if (running.Count > 1000) running.RemoveAll(t => t.IsCompleted);

            if (watch.Elapsed >= nextSample)
            {
                var rss = ProcStats.RssBytes(host.Pid) / 1048576.0;
                var gc = GcHeapReport.Read(host.GcReportPath);
                samples.Add((watch.Elapsed.TotalSeconds, rss, gc?.HeapBytes / 1048576.0));
                var meanMs = Interlocked.Exchange(ref answerTicks, 0) / (double)Stopwatch.Frequency * 1000 / Math.Max(1, Interlocked.Exchange(ref answered, 0));
                Console.WriteLine($"| {watch.Elapsed.TotalSeconds:0} | {rss:0.0} | {Mib(gc?.HeapBytes)} | {Mib(gc?.CommittedBytes)} | {gc?.Gen2Collections.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "–"} " +
                                  $"| {Interlocked.Read(ref acknowledged):N0} | {Interlocked.Read(ref failed):N0} | {Interlocked.Read(ref inFlight):N0} | {meanMs:0.0} |");
                nextSample += SampleEvery;
            }
        }
        await Task.WhenAll(running);

        Console.WriteLine();
        Summarise("host RSS", samples.Select(s => (s.Seconds, s.Rss)).ToList());
        var heap = samples.Where(s => s.Heap is not null).Select(s => (s.Seconds, s.Heap!.Value)).ToList();
        if (heap.Count > 0) Summarise("GC heap", heap);
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

    private static string Mib(long? bytes) => bytes is { } b ? (b / 1048576.0).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture) : "–";

    /// <summary>First- and last-minute means, and the least-squares slope over the whole run and after the first minute.</summary>
    private static void Summarise(string what, List<(double Seconds, double MiB)> series)
    {
        var end = series[^1].Seconds;
        var first = series.Where(s => s.Seconds <= 60).Select(s => s.MiB).DefaultIfEmpty(double.NaN).Average();
        var last = series.Where(s => s.Seconds > end - 60).Select(s => s.MiB).DefaultIfEmpty(double.NaN).Average();
        Console.WriteLine($"{what}: first minute {first:0.0} MiB, last minute {last:0.0} MiB ({last - first:+0.0;-0.0} MiB); " +
                          $"slope {Slope(series):+0.00;-0.00} MiB/min over the run, {Slope(series.Where(s => s.Seconds > 60).ToList()):+0.00;-0.00} MiB/min after the first minute");
    }

    private static double Slope(List<(double Seconds, double MiB)> series)
    {
        if (series.Count < 2) return double.NaN;
        var mx = series.Average(s => s.Seconds);
        var my = series.Average(s => s.MiB);
        var sxy = series.Sum(s => (s.Seconds - mx) * (s.MiB - my));
        var sxx = series.Sum(s => (s.Seconds - mx) * (s.Seconds - mx));
        return sxy / sxx * 60;
    }
}
