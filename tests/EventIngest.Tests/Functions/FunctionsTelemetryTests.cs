extern alias functions;
using Azure.Identity;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using FunctionsTelemetry = functions::EventIngest.Functions.FunctionsTelemetry;

namespace EventIngest.Tests.Functions;

/// <summary>The Functions app's export setup, checked on the registrations alone: building the exporter
/// would reach for a managed identity and Azure, which tests never do.</summary>
public sealed class FunctionsTelemetryTests
{
    [Fact]
    public void WithAnApplicationInsightsConnectionStringTracesAndMetricsAreExported()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration[FunctionsTelemetry.ConnectionStringSetting] = "InstrumentationKey=00000000-0000-0000-0000-000000000001;IngestionEndpoint=https://127.0.0.1:9/";

        FunctionsTelemetry.AddEventIngestTelemetry(builder);

        Assert.Contains(builder.Services, d => d.ServiceType == typeof(TracerProvider));
        Assert.Contains(builder.Services, d => d.ServiceType == typeof(MeterProvider));
    }

    [Fact]
    public void WithoutAConnectionStringNothingIsSetUp()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());

        FunctionsTelemetry.AddEventIngestTelemetry(builder);

        Assert.DoesNotContain(builder.Services, d => d.ServiceType == typeof(TracerProvider) || d.ServiceType == typeof(MeterProvider));
    }

    [Fact]
    public void TheExporterAuthenticatesAsTheIdentityOfTheAuthenticationString()
    {
        Assert.IsType<ManagedIdentityCredential>(FunctionsTelemetry.CredentialFor("ClientId=11111111-2222-3333-4444-555555555555;Authorization=AAD"));
        Assert.IsType<DefaultAzureCredential>(FunctionsTelemetry.CredentialFor(null));
    }
}
