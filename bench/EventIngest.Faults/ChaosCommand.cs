using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Azure.Data.Tables;
using EventIngest.DevServer.Azurite;
using EventIngest.Ingest;
using EventIngest.StorageFaults;

namespace EventIngest.Faults;

/// <summary>
/// SDK-style load through a storage fault proxy with changing random faults, cancels and
/// reschedules racing due times, and the host killed with SIGKILL at random moments; then an
/// invariant check on what reached the queues (read from Azurite directly, not through the proxy).
/// Every random choice comes from generators derived from <c>--seed</c>.
/// </summary>
internal static class ChaosCommand
{
    private const string Prefix = "ei";
    private const string DefaultQueue = "events";
    private static readonly (string Pattern, string Queue)[] Routes = [("app/billing.*", "billing"), ("app/billing.*", DefaultQueue)];
    private static readonly TimeSpan RepairAfter = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan RepairInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan LateSlack = TimeSpan.FromSeconds(5);
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static async Task<int> RunAsync(int seed, int minutes, int clients, int killsPerMinute, bool withFaults)
    {
        var master = new Random(seed);
        var (loadSeed, changeSeed, faultSeed, killSeed, proxySeed) = (master.Next(), master.Next(), master.Next(), master.Next(), master.Next());
        var run = Paths.NewRunDirectory("chaos");
        Console.WriteLine($"chaos: seed {seed}, {minutes} min, {clients} clients, ~{killsPerMinute} kills/min, storage faults {(withFaults ? "on" : "off")}; data and logs in {run}");

        await using var azurite = await AzuriteProcess.StartAsync(Path.Combine(run, "azurite"));
        await using var proxy = await StorageFaultProxy.StartAsync(azurite.ConnectionString, proxySeed);
        var environment = new Dictionary<string, string>
        {
            ["EventIngest__Storage__ConnectionString"] = proxy.ConnectionString,
            ["EventIngest__Storage__OperationTimeout"] = "00:00:03",
            ["EventIngest__Local__DataPath"] = run,
            ["EventIngest__Repair__RepairAfter"] = RepairAfter.ToString("c", CultureInfo.InvariantCulture),
            ["EventIngest__Local__RepairInterval"] = RepairInterval.ToString("c", CultureInfo.InvariantCulture),
            ["EventIngest__Local__ReleaseInterval"] = "00:00:02",
            ["EventIngest__Routing__DefaultQueue"] = DefaultQueue,
            ["Logging__LogLevel__Default"] = "Warning",
        };
        for (var i = 0; i < Routes.Length; i++)
        {
            environment[$"EventIngest__Routing__Routes__{i}__Pattern"] = Routes[i].Pattern;
            environment[$"EventIngest__Routing__Routes__{i}__Queue"] = Routes[i].Queue;
        }
        var port = DevServerProcess.FreePort();
        var hostLog = Path.Combine(run, "host.log");
        var host = await StartHostAsync(port, environment, hostLog);

        var consumer = new ChaosConsumer(azurite.ConnectionString, [.. Routes.Select(r => r.Queue).Append(DefaultQueue).Distinct()]);
        using var stopConsumer = new CancellationTokenSource();
        var consuming = consumer.RunAsync(stopConsumer.Token);

        var load = new ChaosLoad(host.Address, loadSeed, changeSeed);
        var faults = new FaultSchedule(proxy, faultSeed);
        var start = DateTimeOffset.UtcNow;
        var watch = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(minutes));
        var sending = load.RunAsync(clients, stop.Token);
        var changing = load.ChangeSchedulesAsync(stop.Token);
        var faulting = withFaults ? faults.RunAsync(start, stop.Token) : Task.CompletedTask;

        // kill -9 at seeded moments, about killsPerMinute a minute; up again 0–500 ms later.
        var killRandom = new Random(killSeed);
        var kills = new List<DateTimeOffset>();
        var downtime = TimeSpan.Zero;
        var meanGapMs = 60_000.0 / Math.Max(1, killsPerMinute);
        while (killsPerMinute > 0)
        {
            var gap = TimeSpan.FromMilliseconds(meanGapMs * (0.2 + 1.6 * killRandom.NextDouble()));
            try
            {
                await Task.Delay(gap, stop.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            var pause = killRandom.Next(0, 501);
            await host.KillAsync();
            kills.Add(DateTimeOffset.UtcNow);
            var down = Stopwatch.StartNew();
            await Task.Delay(pause);
            host = await StartHostAsync(port, environment, hostLog);
            downtime += down.Elapsed;
            Console.WriteLine($"  kill {kills.Count} at {watch.Elapsed.TotalSeconds:0.0} s: {load.EventsPlanned} events planned, {load.Acks.Count} acknowledged, {consumer.Messages.Count} messages received");
        }
        if (killsPerMinute == 0) await Task.Delay(Timeout.Infinite, stop.Token).ContinueWith(_ => { }, TaskScheduler.Default);

        // The load ends: faults off, the host kept running; clients finish what they had taken.
        await faulting;
        faults.StopAll();
        await changing;
        await sending;
        var loadTime = watch.Elapsed;
        Console.WriteLine($"  load ended at {loadTime.TotalSeconds:0} s; faults off; waiting for the outbox, due times and the queues");

        var outboxDrained = await WaitForEmptyOutboxAsync(azurite.ConnectionString, TimeSpan.FromMinutes(3));
        var lastDue = new[] { load.Acks.Select(a => a.Due ?? 0).DefaultIfEmpty(0).Max(), load.Changes.Select(c => c.NewTs ?? 0).DefaultIfEmpty(0).Max() }.Max();
        var untilDue = DateTimeOffset.FromUnixTimeMilliseconds(lastDue + 5_000) - DateTimeOffset.UtcNow;
        if (untilDue > TimeSpan.Zero) await Task.Delay(untilDue);
        while (DateTimeOffset.UtcNow - consumer.LastMessageAt < TimeSpan.FromSeconds(4)) await Task.Delay(500);
        await stopConsumer.CancelAsync();
        await consuming;

        Console.WriteLine($"  checking {load.Acks.Count} answers, {consumer.Messages.Count} messages");
        var checker = new InvariantChecker(
            [.. load.Acks], [.. load.Sent], load.Unanswered, [.. load.Changes], [.. consumer.Messages], kills,
            QueuesFor, RepairAfter + RepairInterval + LateSlack);
        var findings = await checker.CheckAsync(host.Address, azurite.ConnectionString, Prefix);
        findings.ConsumerErrors = consumer.Errors.Count;
        var outboxLeft = await Delivery.CountAsync(new TableClient(azurite.ConnectionString, Prefix + "outbox"));
        var survived = !host.HasExited;
        await host.DisposeAsync();

        var statuses = load.Attempts.GroupBy(a => a.Status).OrderBy(g => g.Key).Select(g => $"{(g.Key == 0 ? "no answer" : g.Key.ToString(CultureInfo.InvariantCulture))}: {g.Count()}");
        var outcomes = load.Acks.GroupBy(a => a.Outcome).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}");
        var changeAnswers = load.Changes.GroupBy(c => (c.Kind, c.Status)).OrderBy(g => g.Key).Select(g => $"{g.Key.Kind} {(g.Key.Status == 0 ? "no answer" : g.Key.Status.ToString(CultureInfo.InvariantCulture))}: {g.Count()}");
        var injected = proxy.Injected.OrderBy(i => i.Key).Select(i => $"{i.Key} {i.Value}");
        var violations = findings.Violations.Count;
        var summary = new StringBuilder();
        summary.AppendLine(CultureInfo.InvariantCulture, $"""
            chaos run, seed {seed}: {load.EventsPlanned} events in {load.Requests} requests from {clients} clients, {loadTime.TotalSeconds:0} s; host killed {kills.Count} times ({downtime.TotalSeconds:0} s down)
              attempts: {load.Attempts.Count} ({load.Retries} retries); answers {string.Join(", ", statuses)}; refused (4xx but 429): {load.Refused}
              outcomes: {string.Join(", ", outcomes)}
              schedule changes: {string.Join(", ", changeAnswers)}
              storage faults: {proxy.Forwarded} requests forwarded; injected {string.Join(", ", injected)}; {faults.Cuts} cuts ({faults.CutTime.TotalSeconds:0.0} s); {faults.Phases.Count} phases
              outbox: empty {(outboxDrained is { } d ? $"{d.TotalSeconds:0} s after the load" : "NOT within 3 min")}; rows left at the check: {outboxLeft}
              acknowledged internal ids: {findings.AcknowledgedIds}; deliveries expected (id × queue): {findings.ExpectedDeliveries}, arrived {findings.Delivered}
              cancelled with 200: {findings.CancelledIds} ids; not delivered after a cancel that may have landed (no answer, 5xx, or 409 "was cancelled"; not counted in G1): {findings.CancelUncertainUndelivered}
              answer (or due) → first arrival: p50 {findings.LatencyP50Ms / 1000:0.00} s, p99 {findings.LatencyP99Ms / 1000:0.00} s, max {findings.LatencyMaxMs / 1000:0.00} s; later than {findings.LateThresholdMs / 1000:0} s: {findings.Late.Count}
              messages received: {findings.Messages}; duplicates (per queue and id, beyond the first): {findings.Duplicates} ({findings.DuplicatesPerKill:0.0} per kill, at most {findings.MostMessagesForOneQueueAndId} for one queue and id)
                of events not scheduled: {findings.DuplicatesOfRequestsInFlightAtAKill} of the {findings.EventsInFlightAtAKill} events whose request was in flight at a kill, {findings.DuplicatesOfRequestsInFlightAtNoKill} of requests in flight at no kill
              messages for ids never acknowledged: {findings.MessagesForUnacknowledgedIds} (request never answered {findings.UnacknowledgedFromUnansweredRequests}; own id of an event answered as a duplicate {findings.UnacknowledgedOwnIdsOfDuplicates}; unknown {findings.UnacknowledgedUnknown})
              changes answered 200: {findings.CancelsAnswered200} cancels, {findings.ReschedulesAnswered200} reschedules; of them after a message was already received: {findings.ChangedAfterAMessageWasReceived}; messages received while a change was in flight: {findings.MessagesBetweenChangeStartAndAnswer}
              API states of acknowledged ids: {string.Join(", ", findings.ApiStates.Select(s => $"{s.Key} {s.Value}"))}; lookups failed: {findings.ApiLookupsFailed}
              record states in {Prefix}events: {string.Join(", ", findings.RecordStates.Select(s => $"{s.Key} {s.Value}"))}
              consumer errors: {findings.ConsumerErrors}; last host still running at the end: {survived}
              VIOLATIONS: {violations} ({string.Join(", ", new[] { "G1", "G2", "G3", "G4" }.Select(g => $"{g} {findings.ViolationsByGuarantee.GetValueOrDefault(g)}"))})
            """);
        foreach (var group in findings.Violations.GroupBy(v => v.Guarantee).OrderBy(g => g.Key))
        {
            foreach (var v in group.Take(8)) summary.AppendLine(CultureInfo.InvariantCulture, $"    {v.Guarantee} {v.InternalId}: {v.Detail}");
            if (group.Count() > 8) summary.AppendLine(CultureInfo.InvariantCulture, $"    {group.Key}: {group.Count() - 8} more in violations.txt");
        }
        foreach (var late in findings.Late.Take(5)) summary.AppendLine(CultureInfo.InvariantCulture, $"    late: {late}");
        foreach (var sample in findings.UnacknowledgedSamples.Take(5)) summary.AppendLine(CultureInfo.InvariantCulture, $"    unacknowledged: {sample}");
        Console.WriteLine(summary);

        await File.WriteAllTextAsync(Path.Combine(run, "result.txt"), summary.ToString());
        await File.WriteAllLinesAsync(Path.Combine(run, "violations.txt"), findings.Violations
            .SelectMany(v => checker.Trace(v.InternalId).Select(line => "    " + line).Prepend($"{v.Guarantee} {v.InternalId}: {v.Detail}"))
            .Concat(findings.Late.Select(l => "late " + l)));
        await File.WriteAllLinesAsync(Path.Combine(run, "faults.txt"), faults.Phases.Concat(kills.Select((k, i) => $"kill {i + 1} at {(k - start).TotalSeconds:0.0} s")));
        await File.WriteAllLinesAsync(Path.Combine(run, "consumer-errors.txt"), consumer.Errors);
        var result = new
        {
            seed,
            minutes,
            clients,
            killsPerMinute,
            storageFaults = withFaults,
            runDirectory = run,
            loadSeconds = loadTime.TotalSeconds,
            eventsPlanned = load.EventsPlanned,
            requests = load.Requests,
            attempts = load.Attempts.Count,
            retries = load.Retries,
            refused = load.Refused,
            answers = load.Attempts.GroupBy(a => a.Status).ToDictionary(g => g.Key.ToString(CultureInfo.InvariantCulture), g => g.Count()),
            outcomes = load.Acks.GroupBy(a => a.Outcome).ToDictionary(g => g.Key, g => g.Count()),
            scheduleChanges = load.Changes.GroupBy(c => $"{c.Kind} {c.Status}").ToDictionary(g => g.Key, g => g.Count()),
            kills = kills.Count,
            downtimeSeconds = downtime.TotalSeconds,
            faults = new
            {
                forwarded = proxy.Forwarded,
                injected = proxy.Injected.ToDictionary(i => i.Key.ToString(), i => i.Value),
                cuts = faults.Cuts,
                cutSeconds = faults.CutTime.TotalSeconds,
                phases = faults.Phases.Count,
            },
            outboxDrainedSeconds = outboxDrained?.TotalSeconds,
            outboxRowsLeft = outboxLeft,
            hostSurvived = survived,
            findings,
            passed = violations == 0,
        };
        await File.WriteAllTextAsync(Path.Combine(run, "result.json"), JsonSerializer.Serialize(result, Indented));
        return violations == 0 ? 0 : 1;
    }

    /// <summary>Every queue whose route matches the name, or the default queue when none does (as the service routes).</summary>
    private static IReadOnlyList<string> QueuesFor(string name)
    {
        var queues = Routes.Where(r => QueueRouter.Matches(r.Pattern, name)).Select(r => r.Queue).Distinct().ToList();
        return queues.Count == 0 ? [DefaultQueue] : queues;
    }

    /// <summary>The host talks to storage through the faults, so a start can fail; try again.</summary>
    private static async Task<DevServerProcess> StartHostAsync(int port, Dictionary<string, string> environment, string log)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await DevServerProcess.StartAsync(port, environment, log);
            }
            catch (Exception ex) when (attempt < 5 && ex is InvalidOperationException or TimeoutException)
            {
                Console.WriteLine($"  host start failed ({ex.Message}); again");
                await Task.Delay(500);
            }
        }
    }

    private static async Task<TimeSpan?> WaitForEmptyOutboxAsync(string connectionString, TimeSpan timeout)
    {
        var outbox = new TableClient(connectionString, Prefix + "outbox");
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < timeout)
        {
            if (await Delivery.CountAsync(outbox) == 0) return watch.Elapsed;
            await Task.Delay(1_000);
        }
        return null;
    }
}
