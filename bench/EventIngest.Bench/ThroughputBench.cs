using System.Diagnostics;
using System.Globalization;
using Azure.Data.Tables;

namespace EventIngest.Bench;

/// <summary>
/// Events per second through the local host over HTTP (SDK-style requests of 1, 100 and 1,000
/// events at several client concurrencies), and in the same run what the same Azurite gives a
/// plain client: queue sends per second at the concurrency that gets the most out of it, and
/// 100-entity table transactions per second. The machine is shared and Azurite has busy spells
/// of its own, so each ingest run is cut into slices that alternate with slices of raw queue
/// sends, and its ratio is taken against those. The CPU of host, Azurite and this process is
/// read for each run.
/// </summary>
internal static class ThroughputBench
{
    private static readonly int[] Concurrencies = [1, 4, 16];
    private static readonly int[] RawQueueConcurrencies = [1, 4, 16, 64, 128, 256];
    private static readonly int[] BatchSizes = [1, 100, 1000];
    private const int Slices = 4;

    public static async Task RunAsync(TimeSpan perRun)
    {
        var slice = perRun / Slices;
        Console.WriteLine($"throughput: local host in its own process, each run on a fresh in-memory Azurite, {Environment.ProcessorCount} cores");
        Console.WriteLine($"each run: {Slices} slices of {slice.TotalSeconds:0.#} s alternating with {Slices} slices of raw queue sends (requests in flight at a slice's end finish and count)");

        // Which concurrency gets the most sends out of Azurite: two rounds over the candidates.
        var sweep = RawQueueConcurrencies.ToDictionary(c => c, _ => new Tally());
        await using (var rig = await Rig.StartAsync())
        {
            Console.WriteLine($"one event's queue message: {rig.Payload.Length:N0} bytes (an SDK-style event of ~1 KiB, user sealed); raw messages and entity envelopes carry as many");
            for (var round = 0; round < 2; round++)
            {
                foreach (var c in RawQueueConcurrencies) await Measure(rig.Host, slice, c, rig.RawSend, sweep[c]);
            }
        }
        var best = sweep.MaxBy(kv => kv.Value.PerSecond).Key;
        Console.WriteLine($"raw queue sends/s by concurrency: {string.Join(", ", sweep.Select(kv => $"{kv.Key}: {kv.Value.PerSecond:N0}"))} → ceiling at {best}");
        Console.WriteLine();
        Console.WriteLine("| run | clients | events/s (raw: sends/s) | raw queue sends/s beside it | ratio | requests | failed | host cores | Azurite cores | bench cores | others | host+bench CPU µs per event (raw: per send) | Azurite CPU µs per event (raw: per send) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");

        var allRaw = new Tally();
        var results = new Dictionary<(int Batch, int Clients), (double PerSecond, double Ratio)>();
        foreach (var c in Concurrencies)
        {
            foreach (var batch in BatchSizes)
            {
                await using var rig = await Rig.StartAsync();
                var (subject, raw) = await Paired(rig, $"ingest batch {batch:N0}", c, best, slice, async _ => await rig.Sender.SendAsync(batch) == 200 ? batch : -1);
                results[(batch, c)] = (subject.PerSecond, subject.PerSecond / raw.PerSecond);
                allRaw.Add(raw);
            }
        }
        foreach (var c in Concurrencies)
        {
            await using var rig = await Rig.StartAsync();
            var (_, raw) = await Paired(rig, "raw table transactions of 100 (entities/s)", c, best, slice, rig.RawTransaction);
            allRaw.Add(raw);
        }

        Console.WriteLine();
        Console.WriteLine($"raw queue ceiling ({best} clients) over all runs: {allRaw.PerSecond:N0} sends/s");
        Console.WriteLine("events/s through the host (÷ raw queue ceiling in the slices beside it)");
        Console.WriteLine("| batch | " + string.Join(" | ", Concurrencies.Select(c => $"{c} client{(c == 1 ? "" : "s")}")) + " |");
        Console.WriteLine("|---|" + string.Concat(Concurrencies.Select(_ => "---:|")));
        foreach (var batch in BatchSizes)
        {
            Console.WriteLine($"| {batch:N0} | {string.Join(" | ", Concurrencies.Select(c => $"{results[(batch, c)].PerSecond:N0} ({results[(batch, c)].Ratio:0.00})"))} |");
        }
        Console.WriteLine($"| raw queue sends, same clients (sweep) | {string.Join(" | ", Concurrencies.Select(c => $"{sweep[c].PerSecond:N0}"))} |");
        var best100 = Concurrencies.Max(c => results[(100, c)].Ratio);
        Console.WriteLine($"target: batch 100 ≥ 0.70 × raw queue ceiling; best {best100:0.00} → {(best100 >= 0.7 ? "met" : "not met")}");
    }

    /// <summary>
    /// Batch 100 on a packed default queue against the raw one-message-per-event ceiling, in the same
    /// run: for each client count, a host with one message per event and a host with packing, each
    /// in slices alternating with raw queue sends of one SDK-style event each.
    /// </summary>
    public static async Task RunPackedAsync(TimeSpan perRun)
    {
        var slice = perRun / Slices;
        const int rawClients = 64; // where the sweep of `throughput` finds the raw ceiling on this machine
        Console.WriteLine($"packed: batch 100 through the local host, one message per event vs packed, {Environment.ProcessorCount} cores");
        Console.WriteLine($"each run: {Slices} slices of {slice.TotalSeconds:0.#} s alternating with {Slices} slices of raw queue sends ({rawClients} clients, one event's bytes each)");
        Console.WriteLine();
        Console.WriteLine("| run | clients | events/s | raw queue sends/s beside it | ratio | requests | failed | host cores | Azurite cores | bench cores | others | host+bench CPU µs per event | Azurite CPU µs per event |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        var results = new List<(int Clients, double Plain, double Packed, double Raw)>();
        foreach (var c in new[] { 4, 16 })
        {
            double plain, packed;
            var raw = new Tally();
            await using (var rig = await Rig.StartAsync())
            {
                var (subject, r) = await Paired(rig, "batch 100, one message per event", c, rawClients, slice, async _ => await rig.Sender.SendAsync(100) == 200 ? 100 : -1);
                plain = subject.PerSecond;
                raw.Add(r);
            }
            await using (var rig = await Rig.StartAsync(new Dictionary<string, string> { ["EventIngest__Routing__DefaultPacked"] = "true" }))
            {
                var (subject, r) = await Paired(rig, "batch 100, packed", c, rawClients, slice, async _ => await rig.Sender.SendAsync(100) == 200 ? 100 : -1);
                packed = subject.PerSecond;
                raw.Add(r);
            }
            results.Add((c, plain, packed, raw.PerSecond));
        }
        Console.WriteLine();
        Console.WriteLine("| clients | raw ceiling, sends/s | one message per event, events/s (× ceiling) | packed, events/s (× ceiling) | packed ÷ one per event |");
        Console.WriteLine("|---:|---:|---:|---:|---:|");
        foreach (var (c, plain, packed, raw) in results)
        {
            Console.WriteLine($"| {c} | {raw:N0} | {plain:N0} ({plain / raw:0.00}) | {packed:N0} ({packed / raw:0.00}) | {packed / plain:0.00} |");
        }
        var best = results.Max(r => r.Packed / r.Raw);
        Console.WriteLine($"goal: packed batch 100 ≥ 3 × the raw one-message-per-event ceiling; best {best:0.00} → {(best >= 3 ? "met" : "not met")}");
    }

    /// <summary>
    /// What telemetry costs over HTTP, in one run. For each request shape, three hosts — telemetry
    /// off, five traces a second, every request traced — each on a fresh Azurite of its own, take
    /// turns in slices (the order rotating each round), each slice after at least one trace-export
    /// interval (5 s) and until every host is idle, so no host's export lands in another's slice.
    /// Per round, each host's events/s ÷ the off host's; the figure is the median over rounds.
    /// </summary>
    public static async Task RunTelemetryAsync(TimeSpan slice, int rounds)
    {
        (int Batch, int Clients)[] shapes = [(1, 4), (100, 4), (100, 16)];
        var modes = BenchTelemetry.Modes;
        Console.WriteLine($"telemetry: hosts with telemetry {string.Join(", ", modes)}, each on its own Azurite, {Environment.ProcessorCount} cores");
        Console.WriteLine($"each shape: {rounds} rounds of one {slice.TotalSeconds:0.#} s slice per host, order rotating; ratios are to the off host in the same round");
        Console.WriteLine();
        Console.WriteLine("| batch | clients | telemetry | events/s | ÷ off, median of rounds | ÷ off, lowest–highest | host CPU µs per event | requests | failed |");
        Console.WriteLine("|---:|---:|---|---:|---:|---:|---:|---:|---:|");
        foreach (var (batch, clients) in shapes)
        {
            var rigs = new List<Rig>();
            try
            {
                foreach (var mode in modes) rigs.Add(await Rig.StartAsync(await BenchTelemetry.HostSettingsAsync(mode)));
                var tallies = modes.Select(_ => new List<Tally>()).ToArray();
                for (var round = 0; round < rounds; round++)
                {
                    for (var k = 0; k < modes.Length; k++)
                    {
                        var m = (round + k) % modes.Length;
                        var tally = new Tally();
                        await SettleAsync([.. rigs.Select(r => r.Host)], minimum: TimeSpan.FromSeconds(5), waitForAzurite: false);
                        await Measure(rigs[m].Host, slice, clients, async _ => await rigs[m].Sender.SendAsync(batch) == 200 ? batch : -1, tally);
                        tallies[m].Add(tally);
                    }
                }
                for (var m = 0; m < modes.Length; m++)
                {
                    var ratios = Enumerable.Range(0, rounds).Select(r => tallies[m][r].PerSecond / tallies[0][r].PerSecond).ToArray();
                    var all = new Tally();
                    foreach (var t in tallies[m]) all.Add(t);
                    Console.WriteLine($"| {batch:N0} | {clients} | {modes[m]} | {all.PerSecond:N0} | {Stats.Percentile(ratios, 50):0.000} | {ratios.Min():0.00}–{ratios.Max():0.00} " +
                                      $"| {all.Cpu.Host / Math.Max(all.Events, 1) * 1e6:N0} | {all.Requests:N0} | {all.Failed:N0} |");
                }
                if (rigs.Any(r => r.Host.HasExited)) Console.WriteLine("a host exited during the run; see its host.log under /tmp/eventingest-bench/");
            }
            finally
            {
                foreach (var rig in rigs) await rig.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// A warmed-up host on a fresh Azurite, and the raw operations on it. Each run gets its own:
    /// Azurite slows as it holds more messages and stalls for seconds about once a minute, for
    /// longer the more it holds, so runs on one long-lived Azurite would not be comparable.
    /// </summary>
    private sealed class Rig : IAsyncDisposable
    {
        private Rig(DevServerOnAzurite host, byte[] payload)
        {
            Host = host;
            Sender = new SdkSender(host.Client);
            Payload = payload;
        }

        public DevServerOnAzurite Host { get; }
        public SdkSender Sender { get; }
        public byte[] Payload { get; }

        public static async Task<Rig> StartAsync(IReadOnlyDictionary<string, string>? settings = null)
        {
            var host = await DevServerOnAzurite.StartAsync("throughput", settings);
            try
            {
                // Warm-up: JIT, tables and queues created, environment and person keys cached.
                var sender = new SdkSender(host.Client);
                var none = new Tally();
                await Measure(host, TimeSpan.FromSeconds(4), 4, async _ => await sender.SendAsync(100) == 200 ? 100 : -1, none);
                await Measure(host, TimeSpan.FromSeconds(1), 4, async _ => await sender.SendAsync(1) == 200 ? 1 : -1, none);
                await Measure(host, TimeSpan.FromSeconds(1), 1, async _ => await sender.SendAsync(1000) == 200 ? 1000 : -1, none);
                // Raw messages carry as many bytes as the host's, raw entities an envelope as large.
                var payload = new byte[OneEventLength((await host.Raw.Queue("events").PeekMessagesAsync(1)).Value.Single().Body)];
                Random.Shared.NextBytes(payload);
                await host.Raw.Queue("rawsend").CreateIfNotExistsAsync();
                await host.Raw.Tables.GetTableClient("rawtransactions").CreateIfNotExistsAsync();
                return new Rig(host, payload);
            }
            catch
            {
                await host.DisposeAsync();
                throw;
            }
        }

        /// <summary>The bytes of one event's message: the message, or on a packed queue its first element.</summary>
        private static int OneEventLength(BinaryData message)
        {
            using var document = System.Text.Json.JsonDocument.Parse(message);
            return document.RootElement.TryGetProperty("events", out var events)
                ? System.Text.Encoding.UTF8.GetByteCount(events[0].GetRawText())
                : message.ToArray().Length;
        }

        public async Task<int> RawSend(int client)
        {
            await Host.Raw.Queue("rawsend").SendMessageAsync(BinaryData.FromBytes(Payload), visibilityTimeout: null, timeToLive: TimeSpan.FromSeconds(-1));
            return 1;
        }

        public async Task<int> RawTransaction(int client)
        {
            var partition = Guid.NewGuid().ToString("N");
            await Host.Raw.Tables.GetTableClient("rawtransactions").SubmitTransactionAsync(Enumerable.Range(0, 100).Select(i => new TableTransactionAction(TableTransactionActionType.Add,
                new TableEntity(partition, i.ToString("D3", CultureInfo.InvariantCulture)) { ["State"] = "pending", ["Writer"] = partition, ["Envelope"] = Payload })));
            return 100;
        }

        public ValueTask DisposeAsync() => Host.DisposeAsync();
    }

    /// <summary>What a run (or the slices of one) did, and the CPU it took.</summary>
    private sealed class Tally
    {
        public long Events;
        public long Requests;
        public long Failed;
        public CpuTimes Cpu;

        public double PerSecond => Cpu.Elapsed > 0 ? Events / Cpu.Elapsed : 0;

        public void Add(Tally other)
        {
            Events += other.Events;
            Requests += other.Requests;
            Failed += other.Failed;
            Cpu += other.Cpu;
        }
    }

    /// <summary>Alternates slices of the subject with slices of raw queue sends, and prints the subject's row.</summary>
    private static async Task<(Tally Subject, Tally Raw)> Paired(Rig rig, string label, int clients, int rawClients, TimeSpan slice, Func<int, Task<int>> subject)
    {
        var s = new Tally();
        var r = new Tally();
        for (var i = 0; i < Slices; i++)
        {
            await SettleAsync(rig.Host);
            await Measure(rig.Host, slice, rawClients, rig.RawSend, r);
            await SettleAsync(rig.Host);
            await Measure(rig.Host, slice, clients, subject, s);
        }
        if (rig.Host.HasExited) Console.WriteLine($"the host exited during the run; see {rig.Host.RunDirectory}/host.log");
        Row(label, clients, s, r.PerSecond);
        Row("  raw queue sends beside it", rawClients, r, null);
        return (s, r);
    }

    private static void Row(string label, int clients, Tally t, double? rawPerSecond)
    {
        var (hostCores, azuriteCores, benchCores, others) = t.Cpu.Cores;
        var events = Math.Max(t.Events, 1);
        var ratio = rawPerSecond is { } raw ? $"{raw:N0} | {t.PerSecond / raw:0.00}" : "| ";
        Console.WriteLine($"| {label} | {clients} | {t.PerSecond:N0} | {ratio} | {t.Requests:N0} | {t.Failed:N0} " +
                          $"| {hostCores:0.00} | {azuriteCores:0.00} | {benchCores:0.00} | {others:0.00} " +
                          $"| {(t.Cpu.Host + t.Cpu.Bench) / events * 1e6:N0} | {t.Cpu.Azurite / events * 1e6:N0} |");
    }

    /// <summary><paramref name="clients"/> loops call <paramref name="operation"/> (which returns the events it
    /// completed, or −1 for a failure) until <paramref name="duration"/> is up; adds what they did to <paramref name="tally"/>.</summary>
    private static async Task Measure(DevServerOnAzurite host, TimeSpan duration, int clients, Func<int, Task<int>> operation, Tally tally)
    {
        long done = 0, requests = 0, failed = 0;
        var cpu = CpuSplit.Start(host.Pid, host.Azurite.ProcessId);
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(client => Task.Run(async () =>
        {
            while (watch.Elapsed < duration)
            {
                int completed;
                try
                {
                    completed = await operation(client);
                }
                catch (Exception ex) when (ex is Azure.RequestFailedException or HttpRequestException or TaskCanceledException or AggregateException)
                {
                    completed = -1;
                }
                Interlocked.Increment(ref requests);
                if (completed < 0) Interlocked.Increment(ref failed);
                else Interlocked.Add(ref done, completed);
            }
        })));
        // Requests in flight at the deadline finish and count, and so does the time they took.
        tally.Cpu += cpu.Stop();
        tally.Events += done;
        tally.Requests += requests;
        tally.Failed += failed;
    }

    /// <summary>Waits (up to a minute) until host and Azurite are idle, so work left over from one slice
    /// (sends of requests already answered 503, tiered JIT) does not count against the next.</summary>
    private static Task SettleAsync(DevServerOnAzurite host) => SettleAsync([host], TimeSpan.Zero, waitForAzurite: true);

    /// <summary>Waits at least <paramref name="minimum"/>, then (up to a minute) until every host, and its
    /// Azurite if <paramref name="waitForAzurite"/>, is idle. Several Azurites are not waited for: after a
    /// few rounds each idle one, holding the run's messages, keeps 0.15–0.3 of a core busy by itself,
    /// alike under each host.</summary>
    private static async Task SettleAsync(DevServerOnAzurite[] hosts, TimeSpan minimum, bool waitForAzurite)
    {
        await Task.Delay(minimum);
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromMinutes(1))
        {
            var cpus = hosts.Select(h => CpuSplit.Start(h.Pid, h.Azurite.ProcessId)).ToArray();
            await Task.Delay(1000);
            if (cpus.All(cpu => cpu.Stop().Cores is { Host: < 0.05 } cores && (!waitForAzurite || cores.Azurite < 0.05))) return;
        }
    }
}
