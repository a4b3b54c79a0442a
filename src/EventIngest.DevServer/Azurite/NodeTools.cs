using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace EventIngest.DevServer.Azurite;

/// <summary>
/// A folder under <c>tools/</c> with a pinned <c>package.json</c> and lockfile, installed with
/// <c>npm ci</c> when first needed. Each folder holds one purpose (<c>tools/azurite</c> for the
/// local host and the tests, <c>tools/node</c> for test-only tools), so a first run installs only
/// what it uses.
/// </summary>
public static class NodeTools
{
    private static readonly TimeSpan InstallTimeout = TimeSpan.FromMinutes(15);
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(5);
    private const int KeptOutputLines = 40;

    /// <summary>
    /// <paramref name="environmentVariable"/> if set, else the first <c>tools/{name}</c> holding a
    /// <c>package.json</c>, walking up from the application's base directory, then from the current one.
    /// </summary>
    public static string Find(string name, string environmentVariable)
    {
        var configured = Environment.GetEnvironmentVariable(environmentVariable);
        if (!string.IsNullOrWhiteSpace(configured))
        {
            var full = Path.GetFullPath(configured);
            return File.Exists(Path.Combine(full, "package.json"))
                ? full
                : throw new InvalidOperationException($"{environmentVariable} is '{configured}', which holds no package.json.");
        }

        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
            {
                var candidate = Path.Combine(directory.FullName, "tools", name);
                if (File.Exists(Path.Combine(candidate, "package.json")))
                {
                    return candidate;
                }
            }
        }

        throw new InvalidOperationException(
            $"No tools/{name}/package.json above {AppContext.BaseDirectory} or {Directory.GetCurrentDirectory()}; " +
            $"set {environmentVariable} to the folder holding it.");
    }

    /// <summary>Whether <paramref name="requiredFile"/> (relative to the folder) exists and the last
    /// <c>npm ci</c> there finished.</summary>
    public static bool IsInstalled(string toolsDirectory, string requiredFile) =>
        File.Exists(Path.Combine(toolsDirectory, requiredFile))
        // npm writes this last, so its presence means the previous install was not cut short.
        && File.Exists(Path.Combine(toolsDirectory, "node_modules", ".package-lock.json"));

    /// <summary>Runs <c>npm ci</c> in the folder unless it is installed, logging progress while it
    /// runs. One process installs at a time per folder; the others wait for it.</summary>
    public static async Task EnsureInstalledAsync(
        string toolsDirectory, string requiredFile, bool installIfMissing, ILogger? logger, CancellationToken cancellationToken)
    {
        if (IsInstalled(toolsDirectory, requiredFile))
        {
            return;
        }

        if (!installIfMissing)
        {
            throw new InvalidOperationException($"{toolsDirectory} is not installed; run 'npm ci' there.");
        }

        await using var installLock = await AcquireInstallLockAsync(toolsDirectory, logger, cancellationToken);
        if (IsInstalled(toolsDirectory, requiredFile))
        {
            logger?.LogInformation("{ToolsDirectory} was installed by another process meanwhile", toolsDirectory);
            return;
        }

        logger?.LogInformation("First run: installing {ToolsDirectory} with npm ci (about a minute; only this once)", toolsDirectory);
        var stopwatch = Stopwatch.StartNew();
        var startInfo = new ProcessStartInfo
        {
            FileName = OperatingSystem.IsWindows() ? "cmd.exe" : "npm",
            WorkingDirectory = toolsDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (OperatingSystem.IsWindows())
        {
            startInfo.ArgumentList.Add("/c");
            startInfo.ArgumentList.Add("npm");
        }

        // http: one line per request npm makes; the progress below counts the tarballs among them.
        foreach (var argument in new[] { "ci", "--no-audit", "--no-fund", "--loglevel=http" })
        {
            startInfo.ArgumentList.Add(argument);
        }

        var total = LockedPackages(toolsDirectory);
        var fetched = 0;
        using var npm = Process.Start(startInfo) ?? throw new InvalidOperationException("npm could not be started.");
        npm.StandardInput.Close();
        var output = new Queue<string>();
        var drained = Task.WhenAll(DrainAsync(npm.StandardOutput, Collect), DrainAsync(npm.StandardError, Collect));

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(InstallTimeout);
        try
        {
            var exited = npm.WaitForExitAsync(timeout.Token);
            // npm ci prints nothing useful until it ends: say how far it got, so a first run does not look stuck.
            while (await Task.WhenAny(exited, Task.Delay(ProgressInterval, timeout.Token)) != exited)
            {
                logger?.LogInformation("Installing {ToolsDirectory}: {Fetched} of {Total} packages fetched, {Elapsed:0} s",
                    toolsDirectory, Volatile.Read(ref fetched), total, stopwatch.Elapsed.TotalSeconds);
            }
            await exited;
            await drained;
        }
        catch (OperationCanceledException)
        {
            npm.Kill(entireProcessTree: true);
            await npm.WaitForExitAsync(CancellationToken.None);
            cancellationToken.ThrowIfCancellationRequested();
            throw new InvalidOperationException(
                $"npm ci in {toolsDirectory} did not finish within {InstallTimeout}.{Environment.NewLine}{Tail()}");
        }

        if (npm.ExitCode != 0 || !IsInstalled(toolsDirectory, requiredFile))
        {
            throw new InvalidOperationException(
                $"npm ci in {toolsDirectory} failed with exit code {npm.ExitCode}.{Environment.NewLine}{Tail()}");
        }

        logger?.LogInformation("Installed {ToolsDirectory} ({Total} packages) in {Elapsed:0} s", toolsDirectory, total, stopwatch.Elapsed.TotalSeconds);

        void Collect(string line)
        {
            // A package's tarball ("…/name/-/name-1.2.3.tgz"); the lockfile records no URLs, so npm also fetches each package's metadata first.
            if (line.Contains("http fetch GET", StringComparison.Ordinal) && line.Contains("/-/", StringComparison.Ordinal)) Interlocked.Increment(ref fetched);
            lock (output)
            {
                if (output.Count == KeptOutputLines) output.Dequeue();
                output.Enqueue(line);
            }
            logger?.LogDebug("npm: {Line}", line);
        }

        string Tail()
        {
            lock (output) return output.Count == 0 ? "(no output)" : string.Join(Environment.NewLine, output);
        }
    }

    /// <summary>The packages the lockfile pins (each <c>node_modules/...</c> entry), which npm ci fetches.</summary>
    private static int LockedPackages(string toolsDirectory)
    {
        try
        {
            using var lockfile = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(toolsDirectory, "package-lock.json")));
            return lockfile.RootElement.TryGetProperty("packages", out var packages)
                ? packages.EnumerateObject().Count(p => p.Name.StartsWith("node_modules/", StringComparison.Ordinal))
                : 0;
        }
        catch (Exception ex) when (ex is IOException or JsonException)
        {
            return 0; // npm ci reports a missing or broken lockfile itself
        }
    }

    private static async Task DrainAsync(StreamReader reader, Action<string> onLine)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            onLine(line);
        }
    }

    // One exclusive lock per tools folder, so parallel test processes run npm ci once. It lives in
    // the temp folder to stay out of the repository; the OS releases it if the holder dies.
    private static async Task<FileStream> AcquireInstallLockAsync(string toolsDirectory, ILogger? logger, CancellationToken cancellationToken)
    {
        var key = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(toolsDirectory)))[..16];
        var path = Path.Combine(Path.GetTempPath(), $"eventingest-npm-{key}.lock");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(InstallTimeout);
        var waiting = false;
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (!timeout.IsCancellationRequested)
            {
                if (!waiting)
                {
                    logger?.LogInformation("Waiting for another process installing {ToolsDirectory} (lock {LockFile})", toolsDirectory, path);
                    waiting = true;
                }
            }

            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500), timeout.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new InvalidOperationException(
                    $"Another process held the install lock {path} of {toolsDirectory} for more than {InstallTimeout}.");
            }
        }
    }
}
