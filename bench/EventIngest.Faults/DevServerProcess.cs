using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace EventIngest.Faults;

/// <summary>
/// The local host (<c>dotnet EventIngest.DevServer.dll --urls ...</c>) as a child process, which
/// these commands kill with SIGKILL and start again. Its output goes to a log file. The
/// benchmarks (bench/EventIngest.Bench) start the host through this class too (a linked file).
/// </summary>
internal sealed class DevServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Task _drained;

    private DevServerProcess(Process process, Task drained, Uri address)
    {
        _process = process;
        _drained = drained;
        Address = address;
    }

    public Uri Address { get; }

    public bool HasExited => _process.HasExited;

    public int Pid => _process.Id;

    public int ExitCode => _process.ExitCode;

    /// <summary>The DevServer build of the same configuration as this command.</summary>
    public static string DllPath
    {
        get
        {
            var configuration = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name; // bin/{Configuration}/net10.0
            var path = Path.Combine(Paths.RepositoryRoot, "src", "EventIngest.DevServer", "bin", configuration, "net10.0", "EventIngest.DevServer.dll");
            return File.Exists(path) ? path : throw new InvalidOperationException($"{path} is missing; build the solution first.");
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static async Task<DevServerProcess> StartAsync(int port, IReadOnlyDictionary<string, string> environment, string logPath)
    {
        var address = new Uri($"http://127.0.0.1:{port}/");
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Path.GetDirectoryName(DllPath)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(DllPath);
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add(address.GetLeftPart(UriPartial.Authority));
        foreach (var (name, value) in environment) start.Environment[name] = value;

        var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
        var log = new StreamWriter(logPath, append: true) { AutoFlush = true };
        await log.WriteLineAsync($"---- host {process.Id} started {DateTimeOffset.UtcNow:O}");
        var drained = Task.WhenAll(CopyAsync(process.StandardOutput, log), CopyAsync(process.StandardError, log))
            .ContinueWith(_ =>
            {
                var exited = process.WaitForExit(5_000);
                lock (log) log.WriteLine($"---- host {process.Id} exited with {(exited ? process.ExitCode : -1)} at {DateTimeOffset.UtcNow:O}");
                log.Dispose();
            }, TaskScheduler.Default);
        var host = new DevServerProcess(process, drained, address);
        await host.WaitReadyAsync(TimeSpan.FromSeconds(60));
        return host;
    }

    /// <summary>kill -9: no shutdown, no flush, requests in flight cut off wherever they are.</summary>
    public async Task KillAsync()
    {
        try
        {
            _process.Kill(entireProcessTree: false);
        }
        catch (InvalidOperationException)
        {
            // exited already
        }
        await _process.WaitForExitAsync();
        await _drained;
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
    }

    private async Task WaitReadyAsync(TimeSpan timeout)
    {
        using var client = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(5) };
        var watch = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited) throw new InvalidOperationException($"the host exited with code {_process.ExitCode} while starting");
            try
            {
                // An empty body is zero events: answered without touching storage.
                using var response = await client.PostAsync("e/ready", new StringContent(""));
                if (response.StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
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

internal static class Paths
{
    public static string RepositoryRoot
    {
        get
        {
            for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, "EventIngest.sln"))) return directory.FullName;
            }
            throw new InvalidOperationException("EventIngest.sln not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>A fresh folder under the system temp folder for one run's data and logs.</summary>
    public static string NewRunDirectory(string command)
    {
        var path = Path.Combine(Path.GetTempPath(), "eventingest-faults", $"{command}-{DateTimeOffset.UtcNow:yyyyMMdd-HHmmss}");
        Directory.CreateDirectory(path);
        return path;
    }
}
