using System.Diagnostics;
using System.Globalization;
using EventIngest.DevServer.Azurite;

namespace EventIngest.Faults;

/// <summary>
/// Azurite on ports chosen once and a data folder, so it can be stopped (an outage) and started
/// again at the same address with the same data while the host keeps running.
/// </summary>
internal sealed class FixedPortAzurite : IAsyncDisposable
{
    private readonly string _location;
    private readonly string _logPath;
    private readonly int _blob = DevServerProcess.FreePort();
    private readonly int _queue = DevServerProcess.FreePort();
    private readonly int _table = DevServerProcess.FreePort();
    private Process? _process;

    public FixedPortAzurite(string location, string logPath)
    {
        _location = location;
        _logPath = logPath;
        Directory.CreateDirectory(location);
    }

    public string ConnectionString => string.Create(CultureInfo.InvariantCulture,
        $"DefaultEndpointsProtocol=http;AccountName={AzuriteProcess.AccountName};AccountKey={AzuriteProcess.AccountKey};" +
        $"BlobEndpoint=http://127.0.0.1:{_blob}/{AzuriteProcess.AccountName};" +
        $"QueueEndpoint=http://127.0.0.1:{_queue}/{AzuriteProcess.AccountName};" +
        $"TableEndpoint=http://127.0.0.1:{_table}/{AzuriteProcess.AccountName};");

    public async Task StartAsync()
    {
        var script = Path.Combine(AzuriteProcess.FindToolsDirectory(), "node_modules", "azurite", "dist", "src", "azurite.js");
        var start = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[]
        {
            script, "--silent", "--skipApiVersionCheck", "--disableTelemetry", "--location", _location,
            "--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1",
            "--blobPort", _blob.ToString(CultureInfo.InvariantCulture),
            "--queuePort", _queue.ToString(CultureInfo.InvariantCulture),
            "--tablePort", _table.ToString(CultureInfo.InvariantCulture),
        })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        _process = process;
        var listening = 0;
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var log = new StreamWriter(_logPath, append: true) { AutoFlush = true };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (log) log.WriteLine(e.Data);
            if (e.Data.Contains("successfully listening", StringComparison.Ordinal) && Interlocked.Increment(ref listening) == 3) ready.TrySetResult();
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null) lock (log) log.WriteLine(e.Data);
        };
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException($"Azurite exited with {process.ExitCode}; see {_logPath}"));
        process.EnableRaisingEvents = true;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await ready.Task.WaitAsync(TimeSpan.FromSeconds(60));
    }

    /// <summary>SIGTERM, as a service shutting down: Azurite writes its data out and exits; nothing durable is lost.</summary>
    public async Task StopAsync()
    {
        if (_process is not { HasExited: false } process) return;
        using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            await process.WaitForExitAsync();
        }
        process.Dispose();
        _process = null;
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}
