using System.Globalization;
using EventIngest.Faults;

// dotnet run -c Release --project bench/EventIngest.Faults -- <command> [options]
// Results are recorded in docs/reliability.md and docs/benchmarks.md.
var command = args.FirstOrDefault() ?? "help";
int Option(string name, int fallback)
{
    var at = Array.IndexOf(args, "--" + name);
    return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
}

return command switch
{
    "crash" => await CrashCommand.RunAsync(Option("events", 20_000), Option("kills", 10), Option("clients", 8)),
    "outage" => await OutageCommand.RunAsync(Option("before", 15), Option("outage", 20), Option("after", 15), Option("clients", 8)),
    "fuzz" => await FuzzCommand.RunAsync(Option("requests", 100_000), Option("clients", 16), Option("seed", 1)),
    "chaos" => await ChaosCommand.RunAsync(Option("seed", 1), Option("minutes", 10), Option("clients", 6), Option("kills-per-minute", 3), Option("faults", 1) != 0),
    _ => Usage(),
};

static int Usage()
{
    Console.WriteLine("""
        EventIngest fault and fuzz runs (real processes, real Azurite; not part of CI)
          crash  [--events 20000] [--kills 10] [--clients 8]
                 kill -9 the local host at random moments under retrying load; check every acknowledged event is delivered
          outage [--before 15] [--outage 20] [--after 15] [--clients 8]   (seconds)
                 stop Azurite under load and start it again; check 503 + Retry-After during the outage and no loss after
          fuzz   [--requests 100000] [--clients 16] [--seed 1]
                 malformed and odd bodies: no 5xx, no crash, nothing stored for what was refused
          chaos  [--seed 1] [--minutes 10] [--clients 6] [--kills-per-minute 3] [--faults 1]
                 SDK-style load, cancels and reschedules through a storage fault proxy with random faults and
                 kill -9 of the host (all seeded); then check delivery, identity, schedule changes and the API's state.
                 --faults 0: kills only, so that every duplicate message is one a kill made
        """);
    return 2;
}
