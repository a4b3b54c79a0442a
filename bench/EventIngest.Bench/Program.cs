using EventIngest.Bench;

// dotnet run -c Release --project bench/EventIngest.Bench -- <benchmark> [options]
var command = args.FirstOrDefault() ?? "help";
switch (command)
{
    case "release":
        await ReleaseBench.RunAsync(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 10_000);
        break;
    case "cost":
        await CostBench.RunAsync();
        break;
    default:
        Console.WriteLine("""
            EventIngest benchmarks (figures and commands are recorded in docs/benchmarks.md)
              release [count]   scheduled release on the local host: throughput and due → visible latency
              cost              storage requests per accepted event, by request shape
            """);
        break;
}
