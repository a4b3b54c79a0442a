using System.Diagnostics;
using System.Diagnostics.Metrics;
using EventIngest.DevServer;
using EventIngest.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EventIngest.Bench;

/// <summary>
/// Telemetry on or off for a benchmark run (<c>--telemetry on|off</c>, or <c>EVENTINGEST_BENCH_TELEMETRY</c>,
/// which BenchmarkDotNet's child processes inherit). On, every instrument and span is actually recorded:
/// a host process exports over OTLP to a sink in this process that reads and drops what it gets (a
/// collector stand-in), and the in-process benchmark starts the OpenTelemetry SDK on the meter and the source (InProcessTelemetry).
/// Off, host processes get no OTLP endpoint even if this process's environment names one.
/// </summary>
internal static class BenchTelemetry
{
    public const string Variable = "EVENTINGEST_BENCH_TELEMETRY";
    private static readonly SemaphoreSlim SinkGate = new(1, 1);
    private static WebApplication? s_sink;
    private static long s_exportedBytes;

    /// <summary>On: every request traced. Sampled: five traces a second, as the Functions app samples.</summary>
    public static bool On => Sampled || string.Equals(Environment.GetEnvironmentVariable(Variable), "on", StringComparison.OrdinalIgnoreCase);

    public static bool Sampled => string.Equals(Environment.GetEnvironmentVariable(Variable), "sampled", StringComparison.OrdinalIgnoreCase);

    /// <summary>Takes <c>--telemetry on|off</c> out of the arguments and sets the variable for this process and its children.</summary>
    public static string[] ReadSwitch(string[] args)
    {
        var at = Array.IndexOf(args, "--telemetry");
        if (at < 0 || at + 1 >= args.Length) return args;
        Environment.SetEnvironmentVariable(Variable, args[at + 1]);
        return [.. args[..at], .. args[(at + 2)..]];
    }

    public static string Describe() => On
        ? $"telemetry on, {(Sampled ? "5 traces/s" : "every request traced")} (OTLP to an in-process sink; {Interlocked.Read(ref s_exportedBytes):N0} bytes received so far)"
        : "telemetry off";

    /// <summary>The modes a run can take, as <c>--telemetry</c> names them.</summary>
    public static readonly string[] Modes = ["off", "sampled", "on"];

    /// <summary>The OTLP settings of a host process, for this run's mode.</summary>
    public static Task<IReadOnlyDictionary<string, string>> HostSettingsAsync() => HostSettingsAsync(!On ? "off" : Sampled ? "sampled" : "on");

    /// <summary>The OTLP settings of a host process in <paramref name="mode"/> (one of <see cref="Modes"/>).</summary>
    public static async Task<IReadOnlyDictionary<string, string>> HostSettingsAsync(string mode)
    {
        if (mode == "off") return new Dictionary<string, string> { ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "" };
        var sampled = mode == "sampled";
        return new Dictionary<string, string>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = (await SinkAsync()).ToString().TrimEnd('/'),
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_TRACES_SAMPLER"] = sampled ? LocalTelemetry.RateLimitedSampler.Name : "parentbased_always_on",
            ["OTEL_TRACES_SAMPLER_ARG"] = sampled ? "5" : "",
        };
    }

    /// <summary>The OpenTelemetry SDK on the service's meter and source in this process (in-process
    /// benchmarks); null when off.</summary>
    public static IDisposable? ListenInProcess() => On ? new InProcessTelemetry(Sampled ? InProcessTelemetry.Traces.FivePerSecond : InProcessTelemetry.Traces.All) : null;

    private static async Task<Uri> SinkAsync()
    {
        await SinkGate.WaitAsync();
        try
        {
            if (s_sink is null)
            {
                var builder = WebApplication.CreateSlimBuilder();
                builder.WebHost.UseUrls("http://127.0.0.1:0");
                builder.Logging.ClearProviders();
                var app = builder.Build();
                app.MapPost("/v1/{signal}", async (HttpRequest request) =>
                {
                    var buffer = new byte[16 * 1024];
                    int read;
                    while ((read = await request.Body.ReadAsync(buffer)) > 0) Interlocked.Add(ref s_exportedBytes, read);
                    return Results.Ok();
                });
                await app.StartAsync();
                s_sink = app;
            }
            return new Uri(s_sink.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        }
        finally
        {
            SinkGate.Release();
        }
    }
}
