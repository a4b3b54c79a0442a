using System.Diagnostics;
using System.Net;
using EventIngest.Telemetry;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Xunit.Abstractions;
using static EventIngest.Tests.Infrastructure.KeyHashes;

namespace EventIngest.Tests.Telemetry;

/// <summary>The local host exports over OTLP exactly when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set.
/// The settings go through the host's configuration (which the exporter reads like the environment),
/// so tests running beside each other do not share them.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class OtlpExportTests(AzuriteFixture azurite, ITestOutputHelper output)
{
    private const string EventKey = "otlp-key-61e0b2a7";
    private const string ExternalId = "otlp-person-3f9a";
    private const string Email = "otlp-mail-77@example.com";

    [Fact]
    public async Task MetricsAndTheRequestsSpanTreeReachTheCollectorNamedByTheEndpointSetting()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        var settings = new Dictionary<string, string?>(ExportingTo(receiver))
        {
            ["OTEL_SERVICE_NAME"] = "eventingest-otlp-test",
            ["EventIngest:Auth:RequireEventKeys"] = "true",
            ["EventIngest:Auth:EventKeys:0:Hash"] = Hash(EventKey),
            ["EventIngest:Auth:EventKeys:0:Environment"] = "otlp",
        };
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(), settings);
        var traceId = ActivityTraceId.CreateRandom().ToHexString();
        var callerSpan = ActivitySpanId.CreateRandom().ToHexString();

        var response = await host.SendAsync(
            $$$"""[{"name":"app/a","user":{"external_id":"{{{ExternalId}}}","email":"{{{Email}}}"}},{"name":"app/b"}]""",
            EventKey, new Dictionary<string, string> { ["traceparent"] = $"00-{traceId}-{callerSpan}-01" });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        string[] steps = [IngestActivities.Parse, IngestActivities.Seal, IngestActivities.Record, IngestActivities.Claim, IngestActivities.Send];
        await Waits.UntilAsync(() => Task.FromResult(receiver.Spans.Count(s => s.TraceId == traceId)), n => n >= 2 + steps.Length);
        await Waits.UntilAsync(() => Task.FromResult(receiver.MetricNames), names => names.Contains(MetricNames.Events) && names.Contains(MetricNames.RequestDuration));

        var spans = receiver.Spans.Where(s => s.TraceId == traceId).ToList();
        output.WriteLine("metrics: " + string.Join(", ", receiver.MetricNames.Order()));
        foreach (var line in Tree(spans, callerSpan)) output.WriteLine(line);

        var server = Assert.Single(spans, s => s.Scope == "Microsoft.AspNetCore");
        var ingest = Assert.Single(spans, s => s.Name == IngestActivities.Ingest);
        Assert.Equal(callerSpan, server.ParentSpanId);
        Assert.Equal(server.SpanId, ingest.ParentSpanId);
        Assert.Equal("otlp", ingest.Attributes[MetricAttributes.Environment]);
        Assert.Equal("200", ingest.Attributes[MetricAttributes.StatusCode]);
        Assert.All(steps, step => Assert.Equal(ingest.SpanId, Assert.Single(spans, s => s.Name == step).ParentSpanId));
        Assert.Contains(MetricNames.BatchSize, receiver.MetricNames);
        Assert.Contains("eventingest-otlp-test", receiver.Strings);
        // The path holds the event key: an exported host span carries the route, if anything.
        Assert.True(server.Attributes.GetValueOrDefault("url.path") is null or "/e/{eventKey}", server.Attributes.GetValueOrDefault("url.path"));
        foreach (var secret in new[] { EventKey, ExternalId, Email })
        {
            Assert.DoesNotContain(receiver.Strings, s => s.Contains(secret, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task ARequestTheSamplerDropsStartsNoSpanOfTheServiceAndItsMessagesCarryTheCallersContext()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(), ExportingTo(receiver));
        // The caller did not sample its trace (flags 00): the default parent-based sampler drops the request.
        var traceId = ActivityTraceId.CreateRandom();
        var incoming = $"00-{traceId}-{ActivitySpanId.CreateRandom()}-00";
        // Watches without voting (None): the host's sampler alone decides. Other tests' spans are told apart by trace id.
        var started = 0;
        using var watch = new ActivityListener
        {
            ShouldListenTo = source => source.Name == IngestActivities.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.None,
            ActivityStarted = activity =>
            {
                if (activity.TraceId == traceId) Interlocked.Increment(ref started);
            },
        };
        ActivitySource.AddActivityListener(watch);

        var response = await host.SendAsync("""[{"name":"app/a","user":{"external_id":"u-1"}},{"name":"app/b"}]""", headers: new Dictionary<string, string> { ["traceparent"] = incoming });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var messages = await host.ReceiveAllAsync();
        Assert.Equal(2, messages.Count);
        Assert.All(messages, m => Assert.Equal(incoming, m.GetProperty("traceparent").GetString()));
        await Waits.UntilAsync(() => Task.FromResult(receiver.MetricNames), names => names.Contains(MetricNames.Events));
        Assert.Equal(0, Volatile.Read(ref started));
        Assert.DoesNotContain(receiver.Spans, s => s.TraceId == traceId.ToHexString());
    }

    [Fact]
    public async Task WithTheAzureAppsSamplerSettingAtZeroMetricsArriveAndNoSpan()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        var settings = new Dictionary<string, string?>(ExportingTo(receiver))
        {
            ["OTEL_SERVICE_NAME"] = "eventingest-sampled-test",
            ["OTEL_TRACES_SAMPLER"] = "microsoft.rate_limited",
            ["OTEL_TRACES_SAMPLER_ARG"] = "0",
        };
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(), settings);

        for (var i = 0; i < 3; i++) Assert.Equal(HttpStatusCode.OK, (await host.SendAsync("""{"name":"app/a"}""")).StatusCode);

        await Waits.UntilAsync(() => Task.FromResult(receiver.MetricNames), names => names.Contains(MetricNames.Events));
        Assert.Contains("eventingest-sampled-test", receiver.Strings);
        Assert.Empty(receiver.Spans);
    }

    [Fact]
    public async Task NothingIsExportedWhenTheEndpointIsUnset()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());

        Assert.Equal(HttpStatusCode.OK, (await host.SendAsync("""{"name":"app/a"}""")).StatusCode);

        Assert.Null(host.Services.GetService<MeterProvider>());
        Assert.Null(host.Services.GetService<TracerProvider>());
    }

    /// <summary>The host's settings for exporting to the receiver, with short intervals so that a test need not wait.</summary>
    private static Dictionary<string, string?> ExportingTo(OtlpReceiver receiver) => new()
    {
        ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.Endpoint.ToString().TrimEnd('/'),
        ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
        ["OTEL_METRIC_EXPORT_INTERVAL"] = "500",
        ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
    };

    private static IEnumerable<string> Tree(List<OtlpReceiver.ReceivedSpan> spans, string root, int depth = 0)
    {
        foreach (var span in spans.Where(s => s.ParentSpanId == root))
        {
            yield return new string(' ', depth * 2) + $"{span.Name} ({span.Scope})";
            foreach (var line in Tree(spans, span.SpanId, depth + 1)) yield return line;
        }
    }
}
