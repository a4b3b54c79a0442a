using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using EventIngest.Tests.Infrastructure;

namespace EventIngest.Tests.Local;

/// <summary>The local host as people start it, a process with its console log, from wherever they are.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed partial class LocalHostLogTests(AzuriteFixture azurite)
{
    private const string EventKey = "evtkey-cwd-5d1e0c7a";
    private const string ExternalId = "person-cwd-8e2b41f9";
    private const string PathExternalId = "person-path-3c7d90aa";

    [Fact]
    public async Task StartedFromAnotherDirectoryTheLocalHostLogsNoKeysOrExternalIds()
    {
        var elsewhere = Directory.CreateTempSubdirectory("eventingest-cwd-");
        var output = new ConcurrentQueue<string>();
        var listening = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = elsewhere.FullName,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            ArgumentList = { DevServerDll(), "--urls", "http://127.0.0.1:0" },
            Environment =
            {
                ["EventIngest__Storage__ConnectionString"] = azurite.ConnectionString,
                ["EventIngest__Storage__Prefix"] = azurite.NewStorageNamePrefix(),
                ["EventIngest__Local__DataPath"] = elsewhere.FullName,
                ["ASPNETCORE_ENVIRONMENT"] = "Production",
                ["DOTNET_ENVIRONMENT"] = "Production",
            },
        };
        using var process = Process.Start(start)!;
        void Collect(string? line)
        {
            if (line is null) return;
            output.Enqueue(line);
            if (ListeningOn().Match(line) is { Success: true } m) listening.TrySetResult(int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        }
        process.OutputDataReceived += (_, e) => Collect(e.Data);
        process.ErrorDataReceived += (_, e) => Collect(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var port = await listening.Task.WaitAsync(TimeSpan.FromSeconds(60));
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
            using var sent = await client.PostAsync($"e/{EventKey}", new StringContent($$$"""{"name":"app/a","user":{"external_id":"{{{ExternalId}}}"}}"""));
            Assert.Equal(HttpStatusCode.OK, sent.StatusCode);
            using var erased = await client.DeleteAsync($"v1/users/{PathExternalId}");
            Assert.Equal(HttpStatusCode.OK, erased.StatusCode);
            using var missing = await client.GetAsync($"e/{EventKey}/nothing-here");
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }
        finally
        {
            // SIGTERM: a graceful stop, so the console log is flushed.
            if (!process.HasExited) Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
            if (!process.WaitForExit(TimeSpan.FromSeconds(30))) process.Kill(entireProcessTree: true);
            process.WaitForExit();
            elsewhere.Delete(recursive: true);
        }

        var log = string.Join('\n', output);
        Assert.Contains("listening on", log, StringComparison.Ordinal);
        foreach (var secret in new[] { EventKey, ExternalId, PathExternalId })
        {
            Assert.False(log.Contains(secret, StringComparison.Ordinal), $"'{secret}' logged:\n{log}");
        }
    }

    /// <summary>The local host's own build output, of the configuration these tests were built in.</summary>
    private static string DevServerDll()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root.FullName, "EventIngest.sln"))) root = root.Parent!;
        var configuration = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name; // bin/{Configuration}/net10.0
        var dll = Path.Combine(root.FullName, "src", "EventIngest.DevServer", "bin", configuration, "net10.0", "EventIngest.DevServer.dll");
        Assert.True(File.Exists(dll), dll + " is missing");
        return dll;
    }

    [GeneratedRegex(@"listening on http://127\.0\.0\.1:(\d+)")]
    private static partial Regex ListeningOn();
}
