using System.Globalization;

namespace EventIngest.Bench
{
    /// <summary>
    /// The managed heap of the host process, as the host itself sees it. This assembly is the
    /// host's startup hook (DOTNET_STARTUP_HOOKS): a timer in the host writes the figures to a
    /// file every two seconds, which the memory command reads with each RSS sample. Every
    /// <see cref="LiveEvery"/> it also runs a full, compacting collection and notes the heap that
    /// survives it: the live heap, the figure a leak makes grow (the heap between collections
    /// rises and falls with the GC's allocation budget, not with what the process keeps).
    /// </summary>
    internal static class GcHeapReport
    {
        public const string PathVariable = "EVENTINGEST_BENCH_GC_REPORT";
        public static readonly TimeSpan LiveEvery = TimeSpan.FromSeconds(30);
        private static Timer? _timer;
        private static long _live = -1;
        private static long _nextLive;

        public static void StartWriting()
        {
            var path = Environment.GetEnvironmentVariable(PathVariable);
            if (string.IsNullOrEmpty(path)) return;
            _timer = new Timer(_ => Write(path), null, TimeSpan.Zero, TimeSpan.FromSeconds(2));
        }

        /// <summary>Heap size after the last GC, committed bytes, gen2 collections, the live heap after the last
        /// forced full collection (-1 before the first) and the process's threads; null before the first report.</summary>
        public static (long HeapBytes, long CommittedBytes, int Gen2Collections, long LiveBytes, int Threads)? Read(string path)
        {
            try
            {
                var parts = File.ReadAllText(path).Split(' ');
                return (long.Parse(parts[0], CultureInfo.InvariantCulture), long.Parse(parts[1], CultureInfo.InvariantCulture), int.Parse(parts[2], CultureInfo.InvariantCulture),
                    long.Parse(parts[3], CultureInfo.InvariantCulture), int.Parse(parts[4], CultureInfo.InvariantCulture));
            }
            catch (Exception ex) when (ex is IOException or FormatException or IndexOutOfRangeException)
            {
                return null;
            }
        }

        private static void Write(string path)
        {
            try
            {
                if (Environment.TickCount64 >= _nextLive)
                {
                    _nextLive = Environment.TickCount64 + (long)LiveEvery.TotalMilliseconds;
                    GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
                    _live = GC.GetTotalMemory(forceFullCollection: false);
                }
                var info = GC.GetGCMemoryInfo();
                using var self = System.Diagnostics.Process.GetCurrentProcess();
                var text = string.Create(CultureInfo.InvariantCulture,
                    $"{info.HeapSizeBytes} {info.TotalCommittedBytes} {GC.CollectionCount(2)} {_live} {self.Threads.Count}");
                File.WriteAllText(path + ".tmp", text);
                File.Move(path + ".tmp", path, overwrite: true);
            }
            catch (IOException)
            {
                // the next tick writes again
            }
        }
    }
}

/// <summary>The runtime calls <c>StartupHook.Initialize</c> in every process started with this assembly in DOTNET_STARTUP_HOOKS.</summary>
#pragma warning disable CA1050 // the runtime looks the hook up by this exact name, outside any namespace
internal static class StartupHook
#pragma warning restore CA1050
{
    public static void Initialize() => EventIngest.Bench.GcHeapReport.StartWriting();
}
