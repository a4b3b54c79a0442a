using Azure.Core;
using Azure.Identity;
using Azure.Monitor.OpenTelemetry.Exporter;
using EventIngest.Telemetry;
using Microsoft.Azure.Functions.Worker.OpenTelemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace EventIngest.Functions;

/// <summary>
/// The service's spans and metrics through the Functions worker's OpenTelemetry integration to
/// Application Insights (the Azure Monitor exporter), authenticated as the app's managed identity:
/// the component accepts no instrumentation key (DisableLocalAuth in infra/bicep).
/// </summary>
public static class FunctionsTelemetry
{
    public const string ConnectionStringSetting = "APPLICATIONINSIGHTS_CONNECTION_STRING";

    /// <summary>Names the identity: <c>ClientId={id};Authorization=AAD</c>, the setting the Functions host reads too.</summary>
    public const string AuthenticationStringSetting = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING";

    public static IHostApplicationBuilder AddEventIngestTelemetry(this IHostApplicationBuilder builder)
    {
        var connectionString = builder.Configuration[ConnectionStringSetting];
        if (string.IsNullOrWhiteSpace(connectionString)) return builder; // not deployed (tests, a local run)

        builder.Services.AddOpenTelemetry()
            .UseFunctionsWorkerDefaults()
            .WithTracing(tracing => tracing.AddSource(IngestActivities.SourceName))
            .WithMetrics(metrics => metrics.AddMeter(IngestMetrics.MeterName))
            .UseAzureMonitorExporter(options =>
            {
                options.ConnectionString = connectionString;
                options.Credential = CredentialFor(builder.Configuration[AuthenticationStringSetting]);
            });
        return builder;
    }

    /// <summary>The managed identity named in the authentication string; the default credential chain without one.</summary>
    public static TokenCredential CredentialFor(string? authenticationString)
    {
        var clientId = (authenticationString ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(part => part.Split('=', 2))
            .Where(pair => pair.Length == 2 && pair[0].Equals("ClientId", StringComparison.OrdinalIgnoreCase))
            .Select(pair => pair[1])
            .FirstOrDefault();
        return string.IsNullOrEmpty(clientId)
            ? new DefaultAzureCredential()
            : new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(clientId));
    }
}
