using System.Diagnostics;
using EventIngest.DevServer;
using Microsoft.Extensions.Configuration;
using OpenTelemetry.Trace;

namespace EventIngest.Tests.Telemetry;

/// <summary>The local host's reading of the Azure app's sampler setting.</summary>
public sealed class RateLimitedSamplerTests
{
    private static SamplingDecision Decide(Sampler sampler) =>
        sampler.ShouldSample(new SamplingParameters(default, ActivityTraceId.CreateRandom(), "eventingest.ingest", ActivityKind.Server)).Decision;

    [Fact]
    public void AtMostOneTraceIsRecordedInEachIntervalOfTheRate()
    {
        var sampler = new LocalTelemetry.RateLimitedSampler(perSecond: 2); // one each half second
        var started = Stopwatch.GetTimestamp();

        var recorded = Enumerable.Range(0, 10_000).Count(_ => Decide(sampler) == SamplingDecision.RecordAndSample);

        // The first is recorded; more only if the loop outlasted an interval.
        var intervals = (int)(Stopwatch.GetElapsedTime(started).TotalSeconds * 2);
        Assert.InRange(recorded, 1, 1 + intervals);
    }

    [Fact]
    public void ARateOfZeroRecordsNothing()
    {
        var sampler = new LocalTelemetry.RateLimitedSampler(0);

        Assert.All(Enumerable.Range(0, 100), _ => Assert.Equal(SamplingDecision.Drop, Decide(sampler)));
    }

    [Theory]
    [InlineData(null, null, null)]
    [InlineData("parentbased_always_on", null, null)]
    [InlineData("microsoft.rate_limited", null, "RateLimitedSampler{5}")]
    [InlineData("microsoft.rate_limited", "0.5", "RateLimitedSampler{0.5}")]
    public void TheSettingIsReadAsTheAzureExporterReadsIt(string? name, string? argument, string? expected)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["OTEL_TRACES_SAMPLER"] = name,
            ["OTEL_TRACES_SAMPLER_ARG"] = argument,
        }).Build();

        Assert.Equal(expected, LocalTelemetry.RateLimitedSampler.From(configuration)?.Description);
    }

    [Theory]
    [InlineData("fast")]
    [InlineData("-1")]
    public void AnArgumentThatIsNotARateIsRefusedAtStartup(string argument)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["OTEL_TRACES_SAMPLER"] = "microsoft.rate_limited",
            ["OTEL_TRACES_SAMPLER_ARG"] = argument,
        }).Build();

        var error = Assert.Throws<InvalidOperationException>(() => LocalTelemetry.RateLimitedSampler.From(configuration));
        Assert.Contains("OTEL_TRACES_SAMPLER_ARG", error.Message, StringComparison.Ordinal);
    }
}
