using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using EventIngest.Encryption;
using EventIngest.Telemetry;
using EventIngest.Tests.Encryption;
using EventIngest.Tests.Infrastructure;
using Azure.Core.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using static EventIngest.Tests.Infrastructure.KeyHashes;
using EventIngest.Encryption.KeyProviders;

namespace EventIngest.Tests.Telemetry;

/// <summary>The service's metrics against the outcomes of real requests on Azurite: each test
/// listens to its own host's instruments only (<see cref="MetricRecorder"/>).</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class MetricTests(AzuriteFixture azurite)
{
    private const string Key = "metrics-key-5d0c1e";

    private static (string, object?) Tag(string key, object? value) => (key, value);

    [Fact]
    public async Task EventsAreCountedByTheOutcomeTheirRequestWasAnswered()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        using var metrics = new MetricRecorder(host.Services);
        var later = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds();

        var first = await host.SendAsync($$"""[{"name":"app/a","id":"k1"},{"name":"app/b"},{"name":"app/c","ts":{{later}}},{"name":"app/a","id":"k1"}]""");
        var again = await host.SendAsync("""{"name":"app/a","id":"k1"}""");

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(2, metrics.Sum(MetricNames.Events, Tag(MetricAttributes.Outcome, "accepted")));
        Assert.Equal(1, metrics.Sum(MetricNames.Events, Tag(MetricAttributes.Outcome, "scheduled")));
        Assert.Equal(2, metrics.Sum(MetricNames.Events, Tag(MetricAttributes.Outcome, "duplicate")));
        Assert.All(metrics.Of(MetricNames.Events), m =>
        {
            Assert.Equal("dev", m.Tags[MetricAttributes.Environment]); // the local host's default
            Assert.Equal("/e/{eventKey}", m.Tags[MetricAttributes.Route]);
        });
        Assert.Equal([4.0, 1.0], metrics.Of(MetricNames.BatchSize).Select(m => m.Value).Order().Reverse());
        Assert.Equal(2, metrics.Count(MetricNames.RequestDuration, Tag(MetricAttributes.StatusCode, 200)));
        Assert.Empty(metrics.Of(MetricNames.Refusals));
        // Every accepted request wrote rows and, the first, sent messages: the tally saw both services.
        Assert.Equal(2, metrics.Count(MetricNames.StorageRequests, Tag(MetricAttributes.StorageService, "table")));
        Assert.All(metrics.Of(MetricNames.StorageRequests).Where(m => Equals(m.Tags[MetricAttributes.StorageService], "table")), m => Assert.True(m.Value >= 1));
        Assert.True(metrics.Of(MetricNames.StorageRequests).Where(m => Equals(m.Tags[MetricAttributes.StorageService], "queue")).Max(m => m.Value) >= 2);
    }

    [Fact]
    public async Task RefusalsAreCountedByReason()
    {
        var settings = new Dictionary<string, string?>
        {
            ["EventIngest:Auth:RequireEventKeys"] = "true",
            ["EventIngest:Auth:EventKeys:0:Hash"] = Hash(Key),
            ["EventIngest:Auth:EventKeys:0:Environment"] = "refusals",
            ["EventIngest:Ingest:MaxRequestBytes"] = "2048",
            ["EventIngest:RateLimit:EventsPerSecond"] = "1",
            ["EventIngest:RateLimit:Burst"] = "3",
        };
        // The rate limiter's clock stands still: no token comes back while the test runs.
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(), settings,
            s => s.AddSingleton<TimeProvider>(new ShiftedTime { StopwatchStopped = true }));
        using var metrics = new MetricRecorder(host.Services);

        Assert.Equal(HttpStatusCode.Unauthorized, (await host.SendAsync("""{"name":"app/a"}""", "not-a-key")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await host.SendAsync("""{"name":""", Key)).StatusCode);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await host.SendAsync("{\"name\":\"app/a\",\"data\":{\"s\":\"" + new string('x', 3000) + "\"}}", Key)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await host.SendAsync("""{"name":"app/a"}""", Key)).StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await host.SendAsync("""{"name":"app/a"}""", Key)).StatusCode);

        Assert.Equal(5, metrics.Count(MetricNames.RequestDuration));
        Assert.Equal(4, metrics.Sum(MetricNames.Refusals));
        Assert.Equal(1, metrics.Sum(MetricNames.Refusals, Tag(MetricAttributes.Reason, "auth"), Tag(MetricAttributes.StatusCode, 401)));
        Assert.Equal(1, metrics.Sum(MetricNames.Refusals, Tag(MetricAttributes.Reason, "validation"), Tag(MetricAttributes.Environment, "refusals")));
        Assert.Equal(1, metrics.Sum(MetricNames.Refusals, Tag(MetricAttributes.Reason, "size"), Tag(MetricAttributes.StatusCode, 413)));
        Assert.Equal(1, metrics.Sum(MetricNames.Refusals, Tag(MetricAttributes.Reason, "rate_limit"), Tag(MetricAttributes.StatusCode, 429)));
        Assert.Equal(1, metrics.Sum(MetricNames.Events, Tag(MetricAttributes.Outcome, "accepted"), Tag(MetricAttributes.Environment, "refusals")));
    }

    [Fact]
    public async Task KeyVaultFailuresAreCountedAndTheRequestIsRefusedForKeyVault()
    {
        using var vault = new FakeKeyVault();
        vault.CreateKeyVersion("user-kek");
        var key = new KeyVaultKey(vault.KeyUri("user-kek"), new FakeTokenCredential("vault-tenant"), KeyVaultKeyTests.TestOptions(vault));
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(), services: s =>
        {
            s.AddSingleton<IKeyEncryptionKey>(key);
            s.AddSingleton<IKeyEncryptionKeyResolver>(key);
        });
        using var metrics = new MetricRecorder(host.Services);

        vault.FailNext(HttpStatusCode.ServiceUnavailable, times: 100);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await host.SendAsync("""{"name":"app/a","user":{"external_id":"p1"}}""")).StatusCode);

        Assert.Equal(1, metrics.Sum(MetricNames.Refusals, Tag(MetricAttributes.Reason, "key_vault"), Tag(MetricAttributes.StatusCode, 503)));
        Assert.True(metrics.Sum(MetricNames.KeyVaultFailures) >= 1);
        Assert.True(metrics.Sum(MetricNames.KeyVaultOperations) >= metrics.Sum(MetricNames.KeyVaultFailures));
        Assert.All(metrics.Of(MetricNames.KeyVaultFailures), m => Assert.Equal(nameof(KeyManagementUnavailableException), m.Tags[MetricAttributes.ErrorType]));
    }

    [Fact]
    public async Task AStorageRefusalIsCountedAndItsRepairShowsAsRepairedResentAndNoLongerOverdue()
    {
        var prefix = azurite.NewStorageNamePrefix();
        const string body = """[{"name":"app/a"},{"name":"app/b"},{"name":"app/c"}]""";
        await using (var broken = await TestHost.StartAsync(TestHost.WithDeadQueues(azurite.ConnectionString), prefix))
        {
            using var brokenMetrics = new MetricRecorder(broken.Services);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await broken.SendAsync(body)).StatusCode);
            Assert.Equal(1, brokenMetrics.Sum(MetricNames.Refusals, Tag(MetricAttributes.Reason, "storage"), Tag(MetricAttributes.StatusCode, 503)));
            Assert.Empty(brokenMetrics.Of(MetricNames.Events));
        }

        var time = new ShiftedTime();
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, prefix, services: s => s.AddSingleton<TimeProvider>(time));
        using var metrics = new MetricRecorder(host.Services);
        var jobs = host.Services.GetRequiredService<Jobs>();
        time.Offset = TimeSpan.FromMinutes(3); // past RepairAfter (two minutes in the test host)

        await jobs.MeasureDepthsAsync(default);
        Assert.Equal(1, Gauge(metrics, MetricNames.OutboxOverdue));

        // The run's span stands for the host's; the repair's span of the row is its child.
        var repairSpans = new List<Activity>();
        using var run = new Activity("test.repair-run").SetIdFormat(ActivityIdFormat.W3C).Start();
        using (var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == IngestActivities.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> options) =>
                options.TraceId == run.TraceId ? ActivitySamplingResult.AllDataAndRecorded : ActivitySamplingResult.None,
            ActivityStopped = activity =>
            {
                if (activity.TraceId == run.TraceId) lock (repairSpans) repairSpans.Add(activity);
            },
        })
        {
            ActivitySource.AddActivityListener(listener);
            Assert.Equal(3, await jobs.RepairOutboxAsync(default));
        }
        run.Stop();
        Assert.Equal(run.SpanId, Assert.Single(repairSpans, a => a.OperationName == IngestActivities.Repair).ParentSpanId);
        await jobs.MeasureDepthsAsync(default);

        Assert.Equal(1, metrics.Sum(MetricNames.OutboxRepaired));
        Assert.Equal(3, metrics.Sum(MetricNames.OutboxResent));
        Assert.True(Assert.Single(metrics.Of(MetricNames.OutboxCompletionDelay)).Value >= TimeSpan.FromMinutes(3).TotalSeconds);
        Assert.Equal(0, Gauge(metrics, MetricNames.OutboxOverdue));
        var depths = metrics.ObserveGauges().Where(m => m.Instrument == MetricNames.QueueDepth).ToList();
        Assert.Equal(3, depths.Single(m => Equals(m.Tags[MetricAttributes.Queue], host.DefaultQueue)).Value);
        Assert.Equal(0, depths.Single(m => Equals(m.Tags[MetricAttributes.Queue], host.DefaultQueue + "-poison")).Value);
    }

    [Fact]
    public async Task AScheduledEventIsCountedWaitingThenReleasedWithItsLag()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        using var metrics = new MetricRecorder(host.Services);
        var jobs = host.Services.GetRequiredService<Jobs>();
        var due = DateTimeOffset.UtcNow.AddSeconds(8).ToUnixTimeMilliseconds();

        Assert.Equal(HttpStatusCode.OK, (await host.SendAsync($$"""{"name":"app/later","ts":{{due}}}""")).StatusCode);
        await jobs.MeasureDepthsAsync(default);
        var waitingBefore = Gauge(metrics, MetricNames.ScheduledWaiting);

        var lags = await Waits.UntilAsync(() => Task.FromResult(metrics.Of(MetricNames.ReleaseLag).ToList()), l => l.Count > 0);
        await host.DueMarkersSettledAsync();
        await jobs.MeasureDepthsAsync(default);

        Assert.Equal(1, waitingBefore);
        Assert.Equal(0, Gauge(metrics, MetricNames.ScheduledParked));
        Assert.True(Assert.Single(lags).Value >= 0);
        Assert.Equal(0, Gauge(metrics, MetricNames.ScheduledWaiting));
        Assert.Equal(1, metrics.ObserveGauges().Single(m => m.Instrument == MetricNames.QueueDepth && Equals(m.Tags[MetricAttributes.Queue], host.DefaultQueue)).Value);
    }

    [Fact]
    public async Task PersonKeyCacheLookupsAndErasuresAreCounted()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        using var metrics = new MetricRecorder(host.Services);

        // An observable counter: each observation is the running total since the host started.
        double Lookups(string result) => metrics.ObserveGauges().Single(m => m.Instrument == MetricNames.PersonKeyCache && Equals(m.Tags[MetricAttributes.CacheResult], result)).Value;

        Assert.Equal(HttpStatusCode.OK, (await host.SendAsync("""{"name":"app/a","user":{"external_id":"cache-person"}}""")).StatusCode);
        var missesAfterFirst = Lookups("miss");
        var hitsAfterFirst = Lookups("hit");
        Assert.Equal(HttpStatusCode.OK, (await host.SendAsync("""{"name":"app/a","user":{"external_id":"cache-person"}}""")).StatusCode);
        var erase = await host.Client.SendAsync(new HttpRequestMessage(HttpMethod.Delete, "v1/users/cache-person"));

        Assert.Equal(HttpStatusCode.OK, erase.StatusCode);
        Assert.True(missesAfterFirst >= 1);
        Assert.True(Lookups("hit") >= hitsAfterFirst + 1);
        Assert.Equal(missesAfterFirst, Lookups("miss"));
        Assert.Equal(1, metrics.Sum(MetricNames.Erasures, Tag(MetricAttributes.Found, true)));
    }

    private static double Gauge(MetricRecorder metrics, string name) => metrics.ObserveGauges().Single(m => m.Instrument == name).Value;
}
