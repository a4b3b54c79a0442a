using EventIngest.Bench;

// dotnet run -c Release --project bench/EventIngest.Bench -- <benchmark> [options]
args = BenchTelemetry.ReadSwitch(args);
var command = args.FirstOrDefault() ?? "help";
if (command != "help") Console.WriteLine(BenchTelemetry.Describe());
switch (command)
{
    case "release":
        await ReleaseBench.RunAsync(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 10_000);
        break;
    case "capacity":
        await CapacityBench.RunAsync();
        break;
    case "parked":
        await ParkedReleaseBench.RunAsync(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 100_000);
        break;
    case "cost":
        await CostBench.RunAsync();
        break;
    case "inproc":
        InProcessBench.Run(quick: args.Contains("--quick"));
        break;
    case "kv":
        await KeyVaultOpsBench.RunAsync();
        break;
    case "throughput":
        await ThroughputBench.RunAsync(TimeSpan.FromSeconds(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 10));
        break;
    case "packed":
        await ThroughputBench.RunPackedAsync(TimeSpan.FromSeconds(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 10));
        break;
    case "telemetry":
        await ThroughputBench.RunTelemetryAsync(
            TimeSpan.FromSeconds(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 3),
            args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 8);
        break;
    case "latency":
        await LatencyBench.RunAsync(
            args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 50,
            TimeSpan.FromSeconds(args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 60));
        break;
    case "memory":
        await MemoryBench.RunAsync(
            args.Length > 1 ? double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 5,
            args.Length > 2 ? double.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 0.5);
        break;
    case "peek":
        // peek <queue port> [queue]: the first messages on a queue of the local host's Azurite.
        var queues = new Azure.Storage.Queues.QueueClient(
            $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={EventIngest.DevServer.Azurite.AzuriteProcess.AccountKey};QueueEndpoint=http://127.0.0.1:{args[1]}/devstoreaccount1;",
            args.Length > 2 ? args[2] : "events", new Azure.Storage.Queues.QueueClientOptions { MessageEncoding = Azure.Storage.Queues.QueueMessageEncoding.Base64 });
        foreach (var message in (await queues.PeekMessagesAsync(32)).Value) Console.WriteLine(message.Body.ToString());
        break;
    default:
        Console.WriteLine("""
            EventIngest benchmarks (figures and commands are recorded in docs/benchmarks.md)
              release [count]   scheduled release on the local host: throughput and due → visible latency
              parked [count]    one release pass over count (100,000) events parked for the same minute: events/s,
                                against as many plain queue sends on the same Azurite
              capacity          storage operations per event on each queue, table partition and the account, for
                                representative loads, and the events/s at which each reaches its Azure target
              cost              storage requests per accepted event, by request shape
              inproc [--quick]  CPU time and allocations per event (parse, seal user, build message) vs JsonDocument.Parse;
                                --quick: only the interleaved in-process check, without BenchmarkDotNet
              kv                Key Vault operations per 10,000 events, new and steady state
              throughput [s]    events/s over HTTP (batch 1, 100, 1,000; 1, 4, 16 clients), each run s seconds (10)
                                in slices alternating with raw queue sends on the same Azurite; raw table transactions
              packed [s]        batch 100 with one message per event and on a packed queue (4 and 16 clients), each run
                                s seconds (10) in slices alternating with raw one-event queue sends: events/s ÷ that ceiling
              telemetry [s] [n] events/s over HTTP with telemetry off, 5 traces/s and every request traced, in one run:
                                three hosts take turns, n rounds (8) of s-second slices (3); batch 1 and 100
              latency [r] [s]   p50/p99 of single-event sends, r requests/s (50) for s seconds (60), interleaved
                                with one raw table insert + queue send at the same rate on the same Azurite
              memory [m] [h]    the host (own process) under steady load, 20 single-event requests/s and h requests
                                of 100 events/s (0.5: 70 events/s): a minute to settle, then m minutes (5) measured;
                                RSS, live and GC heap every 10 s, first vs last minute, slope
              peek <port> [q]   print the messages waiting on a queue of the local host's Azurite
            --telemetry on|sampled|off  (any benchmark; default off, or EVENTINGEST_BENCH_TELEMETRY) record every
                                metric, and every request's spans (on) or five traces a second as the Functions app
                                samples (sampled): host processes export over OTLP to a sink in this process,
                                in-process code runs under the OpenTelemetry SDK (inproc --quick measures all three)
            """);
        break;
}
