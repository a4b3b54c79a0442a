using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using EventIngest.DevServer.Azurite;
using EventIngest.Storage;
using Microsoft.Extensions.Options;

namespace EventIngest.Bench;

/// <summary>
/// The local host as `dotnet run` gives it — its own process, <c>dotnet EventIngest.DevServer.dll</c>
/// with the web SDK's runtime settings (server GC) — on a fresh in-memory Azurite that this
/// process starts, so the CPU of host, Azurite and the load generator can be told apart. The
/// same Azurite is reachable through <see cref="Raw"/>, clients configured as the host's are,
/// for the raw figures the host is compared with.
/// </summary>
internal sealed class HostProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Task _logged;

    private HostProcess(AzuriteProcess azurite, Process process, Task logged, Uri address, string runDirectory)
    {
        Azurite = azurite;
        _process = process;
        _logged = logged;
        Address = address;
        RunDirectory = runDirectory;
        Client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 512 }) { BaseAddress = address, Timeout = TimeSpan.FromMinutes(2) };
        Raw = new StorageAccount(Options.Create(new StorageOptions { ConnectionString = azurite.ConnectionString }), new StorageRequestCounter());
    }

    public AzuriteProcess Azurite { get; }
    public Uri Address { get; }
    public HttpClient Client { get; }
    public StorageAccount Raw { get; }
    public string RunDirectory { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;

    /// <summary>Where the host's startup hook writes its GC heap figures (see <see cref="GcHeapReport"/>).</summary>
    public string GcReportPath => Path.Combine(RunDirectory, "gc-heap.txt");

    public static async Task<HostProcess> StartAsync(string command, IReadOnlyDictionary<string, string>? settings = null)
    {
        var run = Path.Combine(Path.GetTempPath(), "eventingest-bench", $"{command}-{DateTimeOffset.UtcNow:yyyyMMdd-HHmmss}-{Guid.NewGuid().ToString("N")[..6]}");
        Directory.CreateDirectory(run);
        var azurite = await AzuriteProcess.StartAsync();
        try
        {
            var port = FreePort();
            var address = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/");
            var start = new ProcessStartInfo("dotnet")
            {
                WorkingDirectory = Path.GetDirectoryName(DevServerDll)!,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            start.ArgumentList.Add(DevServerDll);
            start.ArgumentList.Add("--urls");
            start.ArgumentList.Add(address.GetLeftPart(UriPartial.Authority));
            start.Environment["EventIngest__Storage__ConnectionString"] = azurite.ConnectionString;
            start.Environment["EventIngest__Local__DataPath"] = run;
            start.Environment["Logging__LogLevel__Default"] = "Warning";
            start.Environment["DOTNET_STARTUP_HOOKS"] = typeof(HostProcess).Assembly.Location;
            start.Environment[GcHeapReport.PathVariable] = Path.Combine(run, "gc-heap.txt");
            foreach (var (name, value) in settings ?? new Dictionary<string, string>()) start.Environment[name] = value;

            var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
            var log = new StreamWriter(Path.Combine(run, "host.log")) { AutoFlush = true };
            var logged = Task.WhenAll(CopyAsync(process.StandardOutput, log), CopyAsync(process.StandardError, log))
                .ContinueWith(_ => log.Dispose(), TaskScheduler.Default);
            var host = new HostProcess(azurite, process, logged, address, run);
            await host.WaitReadyAsync(TimeSpan.FromSeconds(60));
            return host;
        }
        catch
        {
            await azurite.DisposeAsync();
            throw;
        }
    }

    /// <summary>The DevServer build of this command's configuration (bin/{Configuration}/net10.0), built with it.</summary>
    private static string DevServerDll
    {
        get
        {
            var configuration = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name;
            for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            {
                if (!File.Exists(Path.Combine(directory.FullName, "EventIngest.sln"))) continue;
                var path = Path.Combine(directory.FullName, "src", "EventIngest.DevServer", "bin", configuration, "net10.0", "EventIngest.DevServer.dll");
                return File.Exists(path) ? path : throw new InvalidOperationException($"{path} is missing; build the solution first.");
            }
            throw new InvalidOperationException("EventIngest.sln not found above " + AppContext.BaseDirectory);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        await _logged;
        _process.Dispose();
        await Azurite.DisposeAsync();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private async Task WaitReadyAsync(TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited) throw new InvalidOperationException($"the host exited with code {_process.ExitCode} while starting; see {RunDirectory}/host.log");
            try
            {
                // An empty body is zero events: answered without touching storage.
                using var response = await Client.PostAsync("e/ready", new StringContent(""));
                if (response.StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException)
            {
            }
            if (watch.Elapsed > timeout) throw new TimeoutException($"the host did not answer within {timeout}");
            await Task.Delay(100);
        }
    }

    private static async Task CopyAsync(StreamReader reader, StreamWriter log)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            lock (log) log.WriteLine(line);
        }
    }
}
