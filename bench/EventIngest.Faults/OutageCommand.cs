using System.Diagnostics;
using System.Globalization;

namespace EventIngest.Faults;

/// <summary>
/// Storage goes away under load and comes back: Azurite (fixed ports, data on disk) is stopped
/// while retrying clients keep sending to the local host (a child process that stays up), then
/// started again. During the outage every answer must be a prompt 503 with Retry-After, never a
/// 500; afterwards every acknowledged event must be on the queue.
/// </summary>
internal static class OutageCommand
{
    public static async Task<int> RunAsync(int before, int outage, int after, int workers)
    {
        var run = Paths.NewRunDirectory("outage");
        Console.WriteLine($"outage: {before} s of load, {outage} s without storage, {after} s after; {workers} clients; data and logs in {run}");
        await using var azurite = new FixedPortAzurite(Path.Combine(run, "azurite"), Path.Combine(run, "azurite.log"));
        await azurite.StartAsync();
        var environment = new Dictionary<string, string>
        {
            ["EventIngest__Storage__ConnectionString"] = azurite.ConnectionString,
            ["EventIngest__Local__DataPath"] = run,
            ["EventIngest__Repair__RepairAfter"] = "00:00:10",
            ["EventIngest__Local__RepairInterval"] = "00:00:01",
            ["Logging__LogLevel__Default"] = "Warning",
        };
        var hostLog = Path.Combine(run, "host.log");
        await using var host = await DevServerProcess.StartAsync(DevServerProcess.FreePort(), environment, hostLog);

        var load = new EventLoad(host.Address, Environment.TickCount);
        var sending = true;
        var running = load.RunAsync(workers, () => Volatile.Read(ref sending));
        await Task.Delay(TimeSpan.FromSeconds(before));

        var down = DateTimeOffset.UtcNow;
        var stopping = Stopwatch.StartNew();
        await azurite.StopAsync();
        Console.WriteLine($"  Azurite stopped at {down:HH:mm:ss.fff} (took {stopping.Elapsed.TotalSeconds:0.0} s); {load.Acknowledged.Count} events acknowledged so far");
        await Task.Delay(TimeSpan.FromSeconds(outage));
        var restarting = DateTimeOffset.UtcNow;
        await azurite.StartAsync();
        var up = DateTimeOffset.UtcNow;
        Console.WriteLine($"  Azurite listening again at {up:HH:mm:ss.fff}");
        await Task.Delay(TimeSpan.FromSeconds(after));
        Volatile.Write(ref sending, false);
        await running;

        var report = await Delivery.CheckAsync(azurite.ConnectionString, [.. load.Acknowledged.Keys], load.MaxDue, TimeSpan.FromMinutes(3));
        var (duplicated, byRepair) = await Delivery.AttributeDuplicatesAsync(azurite.ConnectionString, report, hostLog);

        // Attempts that started while storage was gone (from the stop until it listened again).
        var during = load.Attempts.Where(a => a.Started >= down && a.Started < restarting).ToList();
        var answered = during.Where(a => a.Status != 0).ToList();
        var unavailable = during.Where(a => a.Status == 503).ToList();
        var fiveHundreds = load.Attempts.Count(a => a.Status is >= 500 and not 503);
        var acknowledgedDuring = during.Count(a => a.Status == 200);
        string Histogram(IEnumerable<Attempt> attempts) => string.Join(", ", attempts.GroupBy(a => a.Status).OrderBy(g => g.Key)
            .Select(g => $"{(g.Key == 0 ? "no answer" : g.Key.ToString(CultureInfo.InvariantCulture))}: {g.Count()}"));
        var summary = $"""
            outage run: {load.EventsPlanned} events in {load.Requests} requests from {workers} clients; storage down {(restarting - down).TotalSeconds:0.0} s
              all answers: {Histogram(load.Attempts)}
              during the outage: {during.Count} attempts; {Histogram(during)}
                503 with Retry-After: {unavailable.Count(a => a.HasRetryAfter)} of {unavailable.Count}
                latency of answers: max {Max(answered):0} ms, p99 {Percentile(answered, 0.99):0} ms, median {Percentile(answered, 0.5):0} ms
                200s (acknowledged while storage was down): {acknowledgedDuring}
              5xx other than 503 in the whole run: {fiveHundreds}
              refused (4xx other than 429): {load.Refused}
            {report}
              ids delivered more than once: {duplicated}, of them written by a request the repair job completed: {byRepair}
            """;
        Console.WriteLine(summary);
        await File.WriteAllTextAsync(Path.Combine(run, "result.txt"), summary);
        var ok = report.Missing == 0 && report.Unexpected == 0 && report.OutboxRows == 0 && fiveHundreds == 0 && load.Refused == 0
                 && unavailable.All(a => a.HasRetryAfter) && during.All(a => a.Status is 503 or 0 or 200) && byRepair == duplicated;
        return ok ? 0 : 1;
    }

    private static double Max(List<Attempt> attempts) => attempts.Count == 0 ? 0 : attempts.Max(a => a.Latency.TotalMilliseconds);

    private static double Percentile(List<Attempt> attempts, double p)
    {
        if (attempts.Count == 0) return 0;
        var sorted = attempts.Select(a => a.Latency.TotalMilliseconds).Order().ToList();
        return sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
    }
}
