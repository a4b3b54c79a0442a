using System.Diagnostics;
using EventIngest.DevServer.Azurite;

namespace EventIngest.Faults;

/// <summary>
/// The local host as a child process over an Azurite that keeps its data on disk; a load of
/// retrying clients; the host killed with SIGKILL at random moments and started again. Then every
/// acknowledged event must be on the queue (scheduled ones once due), the outbox empty.
/// </summary>
internal static class CrashCommand
{
    public static async Task<int> RunAsync(int events, int minKills, int workers)
    {
        var run = Paths.NewRunDirectory("crash");
        Console.WriteLine($"crash: {events} events, at least {minKills} kills, {workers} clients; data and logs in {run}");
        await using var azurite = await AzuriteProcess.StartAsync(Path.Combine(run, "azurite"));
        var environment = new Dictionary<string, string>
        {
            ["EventIngest__Storage__ConnectionString"] = azurite.ConnectionString,
            ["EventIngest__Local__DataPath"] = run,
            ["EventIngest__Repair__RepairAfter"] = "00:00:10",
            ["EventIngest__Local__RepairInterval"] = "00:00:01",
            ["EventIngest__Local__ReleaseInterval"] = "00:00:02",
            ["Logging__LogLevel__Default"] = "Warning",
        };
        var port = DevServerProcess.FreePort();
        var hostLog = Path.Combine(run, "host.log");
        var host = await DevServerProcess.StartAsync(port, environment, hostLog);

        var load = new EventLoad(host.Address, Environment.TickCount);
        var watch = Stopwatch.StartNew();
        var sending = load.RunAsync(workers, () => load.EventsPlanned < events);
        var random = new Random();
        var kills = 0;
        var downtime = TimeSpan.Zero;
        while (!sending.IsCompleted)
        {
            await Task.WhenAny(sending, Task.Delay(random.Next(500, 3_000)));
            if (sending.IsCompleted && kills >= minKills) break;
            await host.KillAsync();
            kills++;
            var down = Stopwatch.StartNew();
            await Task.Delay(random.Next(0, 500));
            host = await DevServerProcess.StartAsync(port, environment, hostLog);
            downtime += down.Elapsed;
            Console.WriteLine($"  kill {kills} at {watch.Elapsed.TotalSeconds:0.0} s ({DateTimeOffset.UtcNow:HH:mm:ss.fff}, up again {downtime.TotalSeconds:0.0} s): {load.EventsPlanned} events planned, {load.Acknowledged.Count} acknowledged");
        }
        await sending;
        var loadTime = watch.Elapsed;

        // The host left running does the repairs; then everything is counted.
        var report = await Delivery.CheckAsync(azurite.ConnectionString, [.. load.Acknowledged.Keys], load.MaxDue, TimeSpan.FromMinutes(3));
        var (duplicated, byRepair) = await Delivery.AttributeDuplicatesAsync(azurite.ConnectionString, report, hostLog);
        var survived = !host.HasExited;
        await host.DisposeAsync();

        var statuses = load.Attempts.GroupBy(a => a.Status).OrderBy(g => g.Key).Select(g => $"{(g.Key == 0 ? "no answer" : g.Key.ToString(System.Globalization.CultureInfo.InvariantCulture))}: {g.Count()}");
        var summary = $"""
            crash run: {load.EventsPlanned} events (target {events}) in {load.Requests} requests from {workers} clients, {loadTime.TotalSeconds:0} s, host killed {kills} times ({downtime.TotalSeconds:0} s down)
              attempts: {load.Attempts.Count} ({load.Retries} retries); answers {string.Join(", ", statuses)}
              outcomes: {string.Join(", ", load.Outcomes.OrderBy(o => o.Key).Select(o => $"{o.Key} {o.Value}"))}
              refused (4xx other than 429): {load.Refused}
            {report}
              duplicates per kill: {(kills == 0 ? 0 : (double)report.Duplicates / kills):0.0}
              ids delivered more than once: {duplicated}, of them written by a request the repair job completed after a kill: {byRepair}
              last host still running at the end: {survived}
            """;
        Console.WriteLine(summary);
        await File.WriteAllTextAsync(Path.Combine(run, "result.txt"), summary);
        return report.Missing == 0 && report.Unexpected == 0 && report.OutboxRows == 0 && load.Refused == 0 && byRepair == duplicated && kills >= minKills ? 0 : 1;
    }
}
