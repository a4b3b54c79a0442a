using System.Text.RegularExpressions;
using EventIngest.Telemetry;

namespace EventIngest.Tests.Infrastructure.Bicep;

/// <summary>The dashboard and the alert rules query the names the code emits: renaming a metric, an
/// attribute or the request span on one side only fails here.</summary>
[Collection(BicepTemplateCollection.Name)]
public sealed partial class TemplateObservabilityTests(BicepTemplateFixture template)
{
    private static readonly string[] Charted =
    [
        MetricNames.Events, MetricNames.Refusals, MetricNames.OutboxRepaired, MetricNames.OutboxResent, MetricNames.OutboxOverdue,
        MetricNames.ReleaseLag, MetricNames.ScheduledWaiting, MetricNames.ScheduledParked, MetricNames.KeyVaultFailures, MetricNames.QueueDepth,
        IngestActivities.Ingest, MetricAttributes.Outcome, MetricAttributes.Reason, MetricAttributes.Queue, MetricAttributes.ErrorType,
    ];

    [Fact]
    public void TheWorkbookChartsIngestRefusalsRepairReleaseLagKeyVaultAndQueueDepth()
    {
        var workbook = template.OnlyResource("Microsoft.Insights/workbooks");
        var content = (string)workbook["properties"]!["serializedData"]!;

        Assert.Equal("EventIngest", (string?)workbook["properties"]!["displayName"]);
        Assert.Contains("Microsoft.Insights/components/", (string?)workbook["properties"]!["sourceId"], StringComparison.OrdinalIgnoreCase);
        Assert.All(Charted, name => Assert.Contains($"'{name}'", content, StringComparison.Ordinal));
        Assert.Contains("percentile(duration, 99)", content, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("server-errors", MetricNames.RequestDuration, MetricAttributes.StatusCode)]
    [InlineData("repair-backlog", MetricNames.OutboxOverdue, null)]
    [InlineData("release-lag", MetricNames.ReleaseLag, null)]
    [InlineData("key-vault-failures", MetricNames.KeyVaultFailures, null)]
    [InlineData("poison-messages", MetricNames.QueueDepth, MetricAttributes.QueueKind)]
    public void AnAlertRuleWatchesTheMetric(string alert, string metric, string? attribute)
    {
        var rule = Assert.Single(template.ResourcesOfType("Microsoft.Insights/scheduledQueryRules"), r => ((string)r["name"]!).StartsWith($"eventingest-{alert}-", StringComparison.Ordinal));
        var properties = rule["properties"]!;
        var criterion = properties["criteria"]!["allOf"]![0]!;
        var query = (string)criterion["query"]!;

        Assert.Contains($"'{metric}'", query, StringComparison.Ordinal);
        if (attribute is not null) Assert.Contains($"'{attribute}'", query, StringComparison.Ordinal);
        Assert.Contains("Microsoft.Insights/components/", (string?)properties["scopes"]![0], StringComparison.OrdinalIgnoreCase);
        Assert.Contains("docs/operations.md#" + alert, (string?)properties["description"], StringComparison.Ordinal);
        // No action group given in the sample deployment: the rule exists and notifies nobody.
        Assert.Empty(properties["actions"]!["actionGroups"]!.AsArray());
    }

    [Fact]
    public void TracesAreSampledAtTheRateTheDeploymentSets()
    {
        var settings = template.AppSettings;

        // Read by the Azure Monitor exporter; spelled out so that a change of its default changes nothing here.
        Assert.Equal("microsoft.rate_limited", settings["OTEL_TRACES_SAMPLER"]);
        Assert.Equal("5", settings["OTEL_TRACES_SAMPLER_ARG"]); // tracesPerSecond, left at its default by the sample
    }

    [Fact]
    public void ThePoisonAlertFiltersOnTheKindTheDepthProbeNames()
    {
        var rule = Assert.Single(template.ResourcesOfType("Microsoft.Insights/scheduledQueryRules"), r => ((string)r["name"]!).StartsWith("eventingest-poison-messages-", StringComparison.Ordinal));

        Assert.Contains($"== '{DepthProbe.PoisonKind}'", (string)rule["properties"]!["criteria"]!["allOf"]![0]!["query"]!, StringComparison.Ordinal);
    }

    [Fact]
    public void EveryEventIngestNameTheTemplatesQueryIsOneTheCodeEmits()
    {
        var emitted = typeof(MetricNames).GetFields().Concat(typeof(MetricAttributes).GetFields()).Concat(typeof(IngestActivities).GetFields())
            .Where(f => f.IsLiteral && f.FieldType == typeof(string))
            .Select(f => (string)f.GetRawConstantValue()!)
            .ToHashSet(StringComparer.Ordinal);
        var text = File.ReadAllText(Path.Combine(template.BicepFolder, "modules", "observability.bicep")) + template.SnapshotText;

        var queried = DottedName().Matches(text).Select(m => m.Value).Distinct().ToList();

        Assert.True(queried.Count >= 10, string.Join(", ", queried));
        Assert.All(queried, name => Assert.True(emitted.Contains(name), $"{name} is queried by the templates but emitted by no code."));
        Assert.All(MetricNames.All.Where(n => n is not MetricNames.BatchSize and not MetricNames.StorageRequests and not MetricNames.OutboxCompletionDelay
            and not MetricNames.PersonKeyCache and not MetricNames.Erasures), name => Assert.Contains(name, queried));
    }

    [GeneratedRegex(@"eventingest(\.[a-z_]+)+")]
    private static partial Regex DottedName();
}
