using System.Globalization;

namespace EventIngest.Bench;

/// <summary>CPU time and resident memory of a process, and the machine's CPU, from /proc (Linux).</summary>
internal static class ProcStats
{
    private const double TicksPerSecond = 100; // USER_HZ

    /// <summary>User + system CPU seconds the process has used, all threads.</summary>
    public static double CpuSeconds(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        // The command name can hold spaces; the fields after it start with the state (field 3).
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / TicksPerSecond;
    }

    /// <summary>VmRSS of the process, in bytes.</summary>
    public static long RssBytes(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (!line.StartsWith("VmRSS:", StringComparison.Ordinal)) continue;
            var kib = line["VmRSS:".Length..].Trim().Split(' ')[0];
            return long.Parse(kib, CultureInfo.InvariantCulture) * 1024;
        }
        throw new InvalidOperationException($"no VmRSS for process {pid}");
    }

    /// <summary>Busy and total CPU seconds of the whole machine since boot, all cores.</summary>
    public static (double Busy, double Total) MachineCpuSeconds()
    {
        var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
        var idle = fields[3] + fields[4]; // idle + iowait
        var total = fields.Take(8).Sum(); // guest time is already counted in user
        return ((total - idle) / TicksPerSecond, total / TicksPerSecond);
    }
}

/// <summary>
/// CPU used by the host, Azurite and this process over an interval, in cores (CPU seconds per
/// second), and what the rest of the machine used meanwhile.
/// </summary>
internal sealed class CpuSplit
{
    private readonly int _host;
    private readonly int _azurite;
    private readonly double[] _start;
    private readonly long _started = System.Diagnostics.Stopwatch.GetTimestamp();

    private CpuSplit(int host, int azurite)
    {
        _host = host;
        _azurite = azurite;
        _start = Read();
    }

    public static CpuSplit Start(int hostPid, int azuritePid) => new(hostPid, azuritePid);

    public (double Host, double Azurite, double Bench, double Others) Stop()
    {
        var end = Read();
        var seconds = System.Diagnostics.Stopwatch.GetElapsedTime(_started).TotalSeconds;
        double Cores(int i) => (end[i] - _start[i]) / seconds;
        var host = Cores(0);
        var azurite = Cores(1);
        var bench = Cores(2);
        return (host, azurite, bench, Math.Max(0, Cores(3) - host - azurite - bench));
    }

    private double[] Read() =>
        [ProcStats.CpuSeconds(_host), ProcStats.CpuSeconds(_azurite), ProcStats.CpuSeconds(Environment.ProcessId), ProcStats.MachineCpuSeconds().Busy];
}
