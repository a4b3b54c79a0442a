using System.Diagnostics;
using EventIngest.DevServer;
using Microsoft.Extensions.Configuration;
using OpenTelemetry.Trace;

namespace EventIngest.Tests.Telemetry;

/// <summary>The local host's reading of the Azure app's sampler setting (<c>microsoft.rate_limited</c>).</summary>
public sealed class RateLimitedSamplerTests
{
    private static SamplingDecision Decide(Sampler sampler, ActivityContext parent = default) =>
        sampler.ShouldSample(new SamplingParameters(parent, parent.TraceId == default ? ActivityTraceId.CreateRandom() : parent.TraceId, "eventingest.ingest", ActivityKind.Server)).Decision;

    private static ActivityContext Parent(bool sampled, bool remote) =>
        new(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), sampled ? ActivityTraceFlags.Recorded : ActivityTraceFlags.None, isRemote: remote);

    [Fact]
    public void AtMostOneTraceIsSampledInEachIntervalEvenFromManyThreadsAndTheOthersAreRecordedOnly()
    {
        var sampler = new LocalTelemetry.RateLimitedSampler(perSecond: 2); // one each half second
        var started = Stopwatch.GetTimestamp();

        var decisions = Enumerable.Range(0, 8).AsParallel().WithDegreeOfParallelism(8)
            .SelectMany(_ => Enumerable.Range(0, 5_000).Select(_ => Decide(sampler))).ToList();

        // The first is sampled; more only if the loop outlasted an interval.
        var intervals = (int)(Stopwatch.GetElapsedTime(started).TotalSeconds * 2);
        Assert.InRange(decisions.Count(d => d == SamplingDecision.RecordAndSample), 1, 1 + intervals);
        Assert.All(decisions.Where(d => d != SamplingDecision.RecordAndSample), d => Assert.Equal(SamplingDecision.RecordOnly, d));
    }

    [Fact]
    public void ACallersSampledTraceIsRateLimitedLikeAnyOther()
    {
        var sampler = new LocalTelemetry.RateLimitedSampler(perSecond: 0.001);
        Assert.Equal(SamplingDecision.RecordAndSample, Decide(sampler));

        Assert.Equal(SamplingDecision.RecordOnly, Decide(sampler, Parent(sampled: true, remote: true)));
    }

    [Fact]
    public void ASpanFollowsItsParentInThisProcessSoASampledTraceIsWhole()
    {
        var sampler = new LocalTelemetry.RateLimitedSampler(0);

        Assert.Equal(SamplingDecision.RecordAndSample, Decide(sampler, Parent(sampled: true, remote: false)));
        Assert.Equal(SamplingDecision.RecordOnly, Decide(sampler, Parent(sampled: false, remote: false)));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1e-300)] // an interval past any clock: none, rather than an overflow that samples all
    public void ARateOfZeroOrNextToItSamplesNothing(double perSecond)
    {
        var sampler = new LocalTelemetry.RateLimitedSampler(perSecond);

        Assert.All(Enumerable.Range(0, 100), _ => Assert.Equal(SamplingDecision.RecordOnly, Decide(sampler)));
    }

    [Theory]
    [InlineData(null, null, null)]
    [InlineData("parentbased_always_on", null, null)]
    [InlineData("microsoft.rate_limited", null, "RateLimitedSampler{5}")]
    [InlineData("microsoft.rate_limited", "0.5", "RateLimitedSampler{0.5}")]
    public void TheLocalHostTakesTheSamplerSettingOfTheAzureApp(string? name, string? argument, string? expected)
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
    [InlineData("Infinity")]
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
