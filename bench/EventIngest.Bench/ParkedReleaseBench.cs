using System.Diagnostics;
using EventIngest.Scheduling;
using Microsoft.Extensions.DependencyInjection;

namespace EventIngest.Bench;

/// <summary>
/// The release of parked events: N events parked for the same minute, then one release pass (the
/// timer job) gives each its due marker. Measures the pass alone, in events/s, against plain queue
/// sends of as many messages on the same Azurite in the same run (the ceiling any release has).
/// </summary>
internal static class ParkedReleaseBench
{
    private sealed class ShiftedClock : TimeProvider
    {
        public TimeSpan Offset { get; set; }
        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + Offset;
    }

    public static async Task RunAsync(int count)
    {
        var clock = new ShiftedClock();
        await using var host = await BenchHost.StartAsync(new Dictionary<string, string?>
        {
            // Parked beyond a 10-minute horizon; the markers the pass sends stay invisible for
            // about that long, so the due release does not run during the measurement.
            ["EventIngest:Scheduling:Horizon"] = "00:10:00",
            ["EventIngest:Local:ReleaseInterval"] = "01:00:00",
            ["EventIngest:Local:RepairInterval"] = "01:00:00",
        }, s => s.AddSingleton<TimeProvider>(clock));
        Console.WriteLine($"parked: {count} events parked for the same minute, one release pass, local host on Azurite");

        var due = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 20 * 60_000;
        var ingest = Stopwatch.StartNew();
        await host.SendInBatchesAsync(count, (n, i) => $$"""{"name":"bench/parked","data":{"i":{{n}}},"ts":{{due + i * 100}}}""");
        Console.WriteLine($"  parking {count} events took {ingest.Elapsed.TotalSeconds:0.0} s");

        // Now 9 minutes before the first due time: every parked event is within the horizon.
        clock.Offset = TimeSpan.FromMilliseconds(due - DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()) - TimeSpan.FromMinutes(9);
        var scheduler = host.Services.GetRequiredService<Scheduler>();
        var pass = Stopwatch.StartNew();
        var moved = await scheduler.ReleaseParkedAsync(TimeSpan.MaxValue, default);
        var seconds = pass.Elapsed.TotalSeconds;
        Console.WriteLine($"  release pass: {moved} events in {seconds:0.0} s → {moved / seconds:0} events/s");

        // The same number of plain queue sends, 32 at a time as the pass sends its markers.
        var raw = host.Storage.Queue("raw");
        await raw.CreateIfNotExistsAsync();
        var sends = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, ct) =>
            await raw.SendMessageAsync(BinaryData.FromString($$"""{"internal_id":"raw-{{i}}"}"""), TimeSpan.FromMinutes(9), cancellationToken: ct));
        var rawSeconds = sends.Elapsed.TotalSeconds;
        Console.WriteLine($"raw sends: {count} delayed messages, 32 at a time: {rawSeconds:0.0} s → {count / rawSeconds:0} messages/s");
        Console.WriteLine($"release pass ÷ raw sends (time): {seconds / rawSeconds:0.00}");
    }
}
