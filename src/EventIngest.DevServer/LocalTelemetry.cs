using System.Diagnostics;
using EventIngest.Telemetry;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace EventIngest.DevServer;

/// <summary>
/// Spans and metrics over OTLP to whatever collector <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> names (the
/// standard variable, read from the environment or any configuration source); off when it is unset.
/// The other standard variables (<c>OTEL_EXPORTER_OTLP_PROTOCOL</c>, <c>OTEL_SERVICE_NAME</c>,
/// <c>OTEL_METRIC_EXPORT_INTERVAL</c>, ...) apply as usual.
/// </summary>
public static class LocalTelemetry
{
    public const string EndpointSetting = "OTEL_EXPORTER_OTLP_ENDPOINT";
    public const string DefaultServiceName = "eventingest-local";

    public static bool IsEnabled(IConfiguration configuration) => !string.IsNullOrWhiteSpace(configuration[EndpointSetting]);

    public static WebApplicationBuilder AddLocalTelemetry(this WebApplicationBuilder builder)
    {
        if (!IsEnabled(builder.Configuration)) return builder;
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(builder.Configuration["OTEL_SERVICE_NAME"] ?? DefaultServiceName))
            // The host's own request span (Microsoft.AspNetCore) is the parent of the service's request span.
            .WithTracing(tracing => tracing.AddSource("Microsoft.AspNetCore", IngestActivities.SourceName).AddProcessor(new PathRedaction()).AddOtlpExporter())
            .WithMetrics(metrics => metrics.AddMeter(IngestMetrics.MeterName).AddOtlpExporter());
        return builder;
    }

    /// <summary>The host's request span names the path, which holds the event key or an <c>external_id</c>:
    /// the route takes its place, as in the logs (RequestPathLogging).</summary>
    private sealed class PathRedaction : BaseProcessor<Activity>
    {
        public override void OnEnd(Activity data)
        {
            if (data.Source.Name != "Microsoft.AspNetCore") return;
            data.SetTag("url.path", data.GetTagItem("http.route"));
            data.SetTag("url.query", null);
            data.SetTag("url.full", null);
        }
    }
}
