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

    /// <summary>Open sockets of the process (its file descriptors that are sockets): listeners and connections.</summary>
    public static int Sockets(int pid)
    {
        var count = 0;
        foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget?.StartsWith("socket:", StringComparison.Ordinal) == true) count++;
            }
            catch (IOException)
            {
                // closed while listing
            }
        }
        return count;
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
/// CPU seconds used by the host, Azurite, this process and the whole machine over an interval;
/// all three share the machine's cores with whatever else runs on it.
/// </summary>
internal sealed class CpuSplit
{
    private readonly int _host;
    private readonly int _azurite;
    private readonly CpuTimes _start;

    private CpuSplit(int host, int azurite)
    {
        _host = host;
        _azurite = azurite;
        _start = Read();
    }

    public static CpuSplit Start(int hostPid, int azuritePid) => new(hostPid, azuritePid);

    public CpuTimes Stop() => Read() - _start;

    private CpuTimes Read() => new(ProcStats.CpuSeconds(_host), ProcStats.CpuSeconds(_azurite), ProcStats.CpuSeconds(Environment.ProcessId),
        ProcStats.MachineCpuSeconds().Busy, System.Diagnostics.Stopwatch.GetTimestamp() / (double)System.Diagnostics.Stopwatch.Frequency);
}

/// <summary>CPU seconds of host, Azurite, this process and the machine, over <see cref="Elapsed"/> seconds.</summary>
internal readonly record struct CpuTimes(double Host, double Azurite, double Bench, double Machine, double Elapsed)
{
    public static CpuTimes operator -(CpuTimes a, CpuTimes b) => new(a.Host - b.Host, a.Azurite - b.Azurite, a.Bench - b.Bench, a.Machine - b.Machine, a.Elapsed - b.Elapsed);
    public static CpuTimes operator +(CpuTimes a, CpuTimes b) => new(a.Host + b.Host, a.Azurite + b.Azurite, a.Bench + b.Bench, a.Machine + b.Machine, a.Elapsed + b.Elapsed);

    /// <summary>Cores in use on average: host, Azurite, this process, and everything else on the machine.</summary>
    public (double Host, double Azurite, double Bench, double Others) Cores =>
        Elapsed <= 0 ? default : (Host / Elapsed, Azurite / Elapsed, Bench / Elapsed, Math.Max(0, (Machine - Host - Azurite - Bench) / Elapsed));
}
