using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace EventIngest.DevServer.Azurite;

/// <summary>
/// The real Azurite storage emulator running as a child process on free ports, either in memory
/// or persisting to a directory. Dispose it to stop Azurite and wait for it to exit.
/// </summary>
public sealed partial class AzuriteProcess : IAsyncDisposable
{
    /// <summary>The emulator's fixed account name.</summary>
    public const string AccountName = "devstoreaccount1";

    /// <summary>The emulator's well-known, public account key.</summary>
    public const string AccountKey =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    /// <summary>Environment variable naming the folder that holds Azurite's pinned <c>package.json</c>.</summary>
    public const string ToolsEnvironmentVariable = "EVENTINGEST_AZURITE_TOOLS";

    private const string Host = "127.0.0.1";
    private const string PidFileName = "azurite.pid";
    private const string PidLinePrefix = "azurite-pid ";
    private const int KeptOutputLines = 40;
    private static readonly TimeSpan DefaultStartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan GracefulStopTimeout = TimeSpan.FromSeconds(10);

    // Runs Azurite in the background and stops it (SIGTERM, so persisted data is flushed) once
    // our end of its stdin closes: on dispose, and also when this process dies in any way, since
    // the kernel closes the pipe then. The wrapper exits with Azurite, so a failed start is seen
    // at once. The first line it prints is Azurite's pid, for the pid file.
    private const string WatchdogScript = """
        exec 3<&0
        "$@" </dev/null 3<&- &
        child=$!
        echo "azurite-pid $child"
        { while read -r _; do :; done; kill -TERM "$child" 2>/dev/null; } <&3 >/dev/null 2>&1 &
        watcher=$!
        exec 3<&-
        wait "$child"
        status=$?
        kill "$watcher" 2>/dev/null
        exit "$status"
        """;

    private readonly Process process;
    private readonly ILogger? logger;
    private readonly Task outputDrained;
    private readonly Task errorDrained;
    private readonly OutputTail stderrTail;
    private int disposed;

    private AzuriteProcess(
        Process process,
        int processId,
        string? location,
        Ports ports,
        ILogger? logger,
        Task outputDrained,
        Task errorDrained,
        OutputTail stderrTail)
    {
        this.process = process;
        this.logger = logger;
        this.outputDrained = outputDrained;
        this.errorDrained = errorDrained;
        this.stderrTail = stderrTail;
        ProcessId = processId;
        Location = location;
        BlobPort = ports.Blob;
        QueuePort = ports.Queue;
        TablePort = ports.Table;
        ConnectionString = string.Create(
            CultureInfo.InvariantCulture,
            $"DefaultEndpointsProtocol=http;AccountName={AccountName};AccountKey={AccountKey};" +
            $"BlobEndpoint=http://{Host}:{BlobPort}/{AccountName};" +
            $"QueueEndpoint=http://{Host}:{QueuePort}/{AccountName};" +
            $"TableEndpoint=http://{Host}:{TablePort}/{AccountName};");
    }

    /// <summary>Port of the Blob service.</summary>
    public int BlobPort { get; }

    /// <summary>Port of the Queue service.</summary>
    public int QueuePort { get; }

    /// <summary>Port of the Table service.</summary>
    public int TablePort { get; }

    /// <summary>Connection string with explicit Blob, Queue and Table endpoints.</summary>
    public string ConnectionString { get; }

    /// <summary>Process id of the node process running Azurite.</summary>
    public int ProcessId { get; }

    /// <summary>The persistence directory, or <see langword="null"/> when data is kept in memory.</summary>
    public string? Location { get; }

    /// <summary>
    /// Starts Azurite and waits until all three services listen.
    /// </summary>
    /// <param name="location">
    /// Directory to persist data in (created if missing; one Azurite per directory: a previous one
    /// still running there is stopped), or <see langword="null"/> to keep data in memory.
    /// </param>
    /// <param name="logger">Receives install progress and Azurite's output.</param>
    /// <param name="installIfMissing">Run <c>npm ci</c> in the tools folder when Azurite is not installed.</param>
    /// <param name="startTimeout">How long Azurite may take to listen; 30 seconds by default.</param>
    /// <param name="cancellationToken">Cancels the install and the start.</param>
    /// <exception cref="InvalidOperationException">Azurite could not be installed or started.</exception>
    public static async Task<AzuriteProcess> StartAsync(
        string? location = null,
        ILogger? logger = null,
        bool installIfMissing = true,
        TimeSpan? startTimeout = null,
        CancellationToken cancellationToken = default)
    {
        var toolsDirectory = FindToolsDirectory();
        await NodeTools.EnsureInstalledAsync(toolsDirectory, AzuriteScriptPath, installIfMissing, logger, cancellationToken);

        string? fullLocation = null;
        if (location is not null)
        {
            fullLocation = Path.TrimEndingDirectorySeparator(Path.GetFullPath(location));
            Directory.CreateDirectory(fullLocation);
            StopStaleAzurite(fullLocation, logger);
        }

        var startInfo = CreateStartInfo(toolsDirectory, fullLocation);
        var process = new Process { StartInfo = startInfo };
        process.Start();
        var useWatchdog = !OperatingSystem.IsWindows();
        var ports = new PortCollector(useWatchdog);
        var stdoutTail = new OutputTail(KeptOutputLines);
        var stderrTail = new OutputTail(KeptOutputLines);
        var outputDrained = DrainAsync(process.StandardOutput, line =>
        {
            stdoutTail.Add(line);
            ports.Observe(line);
            logger?.LogDebug("azurite: {Line}", line);
        });
        var errorDrained = DrainAsync(process.StandardError, line =>
        {
            stderrTail.Add(line);
            logger?.LogWarning("azurite: {Line}", line);
        });

        try
        {
            var timeoutAfter = startTimeout ?? DefaultStartTimeout;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(timeoutAfter);
            var first = await Task.WhenAny(ports.Started, outputDrained, Task.Delay(Timeout.Infinite, timeout.Token));
            if (first != ports.Started)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (first == outputDrained)
                {
                    // Let the exit code and the last stderr lines arrive for the message.
                    var exited = Task.WhenAll(process.WaitForExitAsync(CancellationToken.None), errorDrained);
                    await Task.WhenAny(exited, Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None));
                }

                var reason = process.HasExited
                    ? $"exited with code {process.ExitCode} before listening"
                    : $"did not report its ports within {timeoutAfter.TotalSeconds:0} s";
                throw new InvalidOperationException(
                    $"Azurite {reason} (tools folder {toolsDirectory}).{Environment.NewLine}" +
                    $"stderr:{Environment.NewLine}{stderrTail}{Environment.NewLine}" +
                    $"stdout:{Environment.NewLine}{stdoutTail}");
            }

            // The watchdog prints Azurite's pid before Azurite prints anything.
            var processId = useWatchdog ? await ports.ProcessId : process.Id;
            if (fullLocation is not null)
            {
                WritePidFile(fullLocation, processId);
            }

            var azurite = new AzuriteProcess(
                process, processId, fullLocation, await ports.Started, logger, outputDrained, errorDrained, stderrTail);
            logger?.LogInformation(
                "Azurite {Pid} listening: blob {BlobPort}, queue {QueuePort}, table {TablePort}, {Storage}",
                processId, azurite.BlobPort, azurite.QueuePort, azurite.TablePort, fullLocation ?? "in memory");
            return azurite;
        }
        catch
        {
            await StopAsync(process, logger);
            process.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The folder holding Azurite's pinned <c>package.json</c>: <see cref="ToolsEnvironmentVariable"/>
    /// if set, else the first <c>tools/azurite</c> found walking up from the application's base
    /// directory, then from the current directory.
    /// </summary>
    public static string FindToolsDirectory() => NodeTools.Find("azurite", ToolsEnvironmentVariable);

    /// <summary>Stops Azurite (gracefully, then by killing its process tree) and waits for it to exit.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 1)
        {
            return;
        }

        await StopAsync(process, logger);
        await Task.WhenAll(outputDrained, errorDrained);
        if (process.ExitCode != 0)
        {
            logger?.LogWarning(
                "Azurite {Pid} exited with code {ExitCode}; stderr: {Stderr}", ProcessId, process.ExitCode, stderrTail);
        }

        process.Dispose();
        if (Location is not null)
        {
            DeletePidFile(Location, ProcessId);
        }
    }

    private static ProcessStartInfo CreateStartInfo(string toolsDirectory, string? location)
    {
        var startInfo = new ProcessStartInfo
        {
            WorkingDirectory = location ?? toolsDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var arguments = startInfo.ArgumentList;
        if (OperatingSystem.IsWindows())
        {
            startInfo.FileName = "node";
        }
        else
        {
            startInfo.FileName = "/bin/sh";
            arguments.Add("-c");
            arguments.Add(WatchdogScript);
            arguments.Add("azurite-watchdog");
            arguments.Add("node");
        }

        arguments.Add(AzuriteScript(toolsDirectory));
        foreach (var argument in new[]
                 {
                     "--silent", "--skipApiVersionCheck", "--disableTelemetry",
                     "--blobHost", Host, "--queueHost", Host, "--tableHost", Host,
                     "--blobPort", "0", "--queuePort", "0", "--tablePort", "0",
                 })
        {
            arguments.Add(argument);
        }

        if (location is null)
        {
            arguments.Add("--inMemoryPersistence");
        }
        else
        {
            arguments.Add("--location");
            arguments.Add(location);
        }

        return startInfo;
    }

    private static readonly string AzuriteScriptPath = Path.Combine("node_modules", "azurite", "dist", "src", "azurite.js");

    private static string AzuriteScript(string toolsDirectory) => Path.Combine(toolsDirectory, AzuriteScriptPath);

    private static async Task StopAsync(Process process, ILogger? logger)
    {
        if (process.HasExited)
        {
            return;
        }

        try
        {
            // Closing stdin is the watchdog's signal to stop Azurite gracefully.
            process.StandardInput.Close();
        }
        catch (IOException)
        {
        }

        if (!OperatingSystem.IsWindows())
        {
            using var graceful = new CancellationTokenSource(GracefulStopTimeout);
            try
            {
                await process.WaitForExitAsync(graceful.Token);
                return;
            }
            catch (OperationCanceledException)
            {
                logger?.LogWarning("Azurite did not stop within {Timeout}; killing it", GracefulStopTimeout);
            }
        }

        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }

        await process.WaitForExitAsync();
    }

    private static async Task DrainAsync(StreamReader reader, Action<string> onLine)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            onLine(line);
        }
    }

    // Pid file

    private static void WritePidFile(string location, int processId) =>
        File.WriteAllText(Path.Combine(location, PidFileName), processId.ToString(CultureInfo.InvariantCulture));

    private static void DeletePidFile(string location, int processId)
    {
        var path = Path.Combine(location, PidFileName);
        if (ReadPidFile(path) == processId)
        {
            File.Delete(path);
        }
    }

    private static int? ReadPidFile(string path)
    {
        try
        {
            return int.TryParse(File.ReadAllText(path).Trim(), CultureInfo.InvariantCulture, out var pid) ? pid : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    // A host that was killed outright (SIGKILL to the whole tree) can leave Azurite running on the
    // same files; two instances on one location would overwrite each other's data.
    private static void StopStaleAzurite(string location, ILogger? logger)
    {
        var pidFile = Path.Combine(location, PidFileName);
        if (ReadPidFile(pidFile) is not { } pid)
        {
            return;
        }

        if (IsAzuriteFor(pid, location))
        {
            logger?.LogWarning("Stopping stale Azurite {Pid} left running on {Location}", pid, location);
            try
            {
                using var stale = Process.GetProcessById(pid);
                stale.Kill(entireProcessTree: true);
                stale.WaitForExit(GracefulStopTimeout);
            }
            catch (Exception exception) when (exception is ArgumentException or InvalidOperationException)
            {
                // It exited meanwhile.
            }
        }

        File.Delete(pidFile);
    }

    // Only /proc shows another process's arguments; elsewhere nothing is killed.
    private static bool IsAzuriteFor(int pid, string location)
    {
        string[] arguments;
        try
        {
            arguments = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return false;
        }

        var locationIndex = Array.IndexOf(arguments, "--location");
        return arguments.Length > 1
            && Path.GetFileName(arguments[0]).StartsWith("node", StringComparison.Ordinal)
            && arguments.Any(a => a.EndsWith("azurite.js", StringComparison.Ordinal))
            && locationIndex >= 0
            && locationIndex + 1 < arguments.Length
            && arguments[locationIndex + 1] == location;
    }

    // Output parsing

    [GeneratedRegex(@"^Azurite (?<service>Blob|Queue|Table) service is successfully listening at https?://\S+:(?<port>\d+)\s*$")]
    private static partial Regex ListeningLine();

    private readonly record struct Ports(int Blob, int Queue, int Table);

    private sealed class PortCollector(bool expectPidLine)
    {
        private readonly TaskCompletionSource<Ports> started = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource<int> processId = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int blob;
        private int queue;
        private int table;

        public Task<Ports> Started => started.Task;

        public Task<int> ProcessId => processId.Task;

        public void Observe(string line)
        {
            if (expectPidLine && line.StartsWith(PidLinePrefix, StringComparison.Ordinal)
                && int.TryParse(line.AsSpan(PidLinePrefix.Length), CultureInfo.InvariantCulture, out var pid))
            {
                processId.TrySetResult(pid);
                return;
            }

            var match = ListeningLine().Match(line);
            if (!match.Success)
            {
                return;
            }

            var port = int.Parse(match.Groups["port"].Value, CultureInfo.InvariantCulture);
            switch (match.Groups["service"].Value)
            {
                case "Blob": blob = port; break;
                case "Queue": queue = port; break;
                default: table = port; break;
            }

            if (blob > 0 && queue > 0 && table > 0)
            {
                started.TrySetResult(new Ports(blob, queue, table));
            }
        }
    }

    private sealed class OutputTail(int capacity)
    {
        private readonly Queue<string> lines = new();

        public void Add(string line)
        {
            lock (lines)
            {
                if (lines.Count == capacity)
                {
                    lines.Dequeue();
                }

                lines.Enqueue(line);
            }
        }

        public override string ToString()
        {
            lock (lines)
            {
                return lines.Count == 0 ? "(empty)" : string.Join(Environment.NewLine, lines);
            }
        }
    }
}
