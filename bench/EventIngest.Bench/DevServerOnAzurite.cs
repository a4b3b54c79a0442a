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
internal sealed class DevServerOnAzurite : IAsyncDisposable
{
    private readonly Faults.DevServerProcess _host;

    private DevServerOnAzurite(AzuriteProcess azurite, Faults.DevServerProcess host, string runDirectory)
    {
        Azurite = azurite;
        _host = host;
        RunDirectory = runDirectory;
        Client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 512 }) { BaseAddress = host.Address, Timeout = TimeSpan.FromMinutes(2) };
        Raw = new StorageAccount(Options.Create(new StorageOptions { ConnectionString = azurite.ConnectionString }), new StorageRequestCounter());
    }

    public AzuriteProcess Azurite { get; }
    public Uri Address => _host.Address;
    public HttpClient Client { get; }
    public StorageAccount Raw { get; }
    public string RunDirectory { get; }
    public int Pid => _host.Pid;
    public bool HasExited => _host.HasExited;

    /// <summary>Where the host's startup hook writes its GC heap figures (see <see cref="GcHeapReport"/>).</summary>
    public string GcReportPath => Path.Combine(RunDirectory, "gc-heap.txt");

    public static async Task<DevServerOnAzurite> StartAsync(string command, IReadOnlyDictionary<string, string>? settings = null)
    {
        var run = Path.Combine(Path.GetTempPath(), "eventingest-bench", $"{command}-{DateTimeOffset.UtcNow:yyyyMMdd-HHmmss}-{Guid.NewGuid().ToString("N")[..6]}");
        Directory.CreateDirectory(run);
        var azurite = await AzuriteProcess.StartAsync();
        try
        {
            var environment = new Dictionary<string, string>
            {
                ["EventIngest__Storage__ConnectionString"] = azurite.ConnectionString,
                ["EventIngest__Local__DataPath"] = run,
                ["Logging__LogLevel__Default"] = "Warning",
                ["DOTNET_STARTUP_HOOKS"] = typeof(DevServerOnAzurite).Assembly.Location,
                [GcHeapReport.PathVariable] = Path.Combine(run, "gc-heap.txt"),
            };
            foreach (var (name, value) in await BenchTelemetry.HostSettingsAsync()) environment[name] = value;
            foreach (var (name, value) in settings ?? new Dictionary<string, string>()) environment[name] = value;
            var host = await Faults.DevServerProcess.StartAsync(Faults.DevServerProcess.FreePort(), environment, Path.Combine(run, "host.log"));
            return new DevServerOnAzurite(azurite, host, run);
        }
        catch
        {
            await azurite.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _host.DisposeAsync();
        await Azurite.DisposeAsync();
    }
}
