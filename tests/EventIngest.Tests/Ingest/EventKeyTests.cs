using System.Net;
using EventIngest.Tests.Infrastructure;
using static EventIngest.Tests.Infrastructure.KeyHashes;

namespace EventIngest.Tests.Ingest;

[Collection(AzuriteFixture.CollectionName)]
public sealed class EventKeyTests(AzuriteFixture azurite)
{
    private Task<TestHost> StartAsync(Dictionary<string, string?> settings) =>
        TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(), settings);

    [Fact]
    public async Task ConfiguredKeyNamesTheEnvironmentAndUnknownKeysAre401()
    {
        await using var host = await StartAsync(new()
        {
            ["EventIngest:Auth:RequireEventKeys"] = "true",
            ["EventIngest:Auth:EventKeys:0:Hash"] = Hash("prod-key"),
            ["EventIngest:Auth:EventKeys:0:Environment"] = "production",
        });

        var unknown = await host.SendAsync("""{"name":"app/x"}""", key: "wrong");
        Assert.Equal(HttpStatusCode.Unauthorized, unknown.StatusCode);
        var body = await TestHost.JsonAsync(unknown);
        Assert.Equal("Event key not found", body.GetProperty("error").GetString());
        Assert.Equal(401, body.GetProperty("status").GetInt32());

        var ok = await host.SendAsync("""{"name":"app/x"}""", key: "prod-key");
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal("production", Assert.Single(await host.ReceiveAllAsync()).GetProperty("env").GetString());
    }

    [Fact]
    public async Task KeysRequiredButNoneConfiguredIs503()
    {
        await using var host = await StartAsync(new() { ["EventIngest:Auth:RequireEventKeys"] = "true" });
        var response = await host.SendAsync("""{"name":"app/x"}""");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("Event keys are required to process events securely", (await TestHost.JsonAsync(response)).GetProperty("error").GetString());
    }

    [Fact]
    public async Task BranchEnvironmentsNeedAKeyThatAllowsThem()
    {
        await using var host = await StartAsync(new()
        {
            ["EventIngest:Auth:EventKeys:0:Hash"] = Hash("prod-key"),
            ["EventIngest:Auth:EventKeys:0:Environment"] = "production",
            ["EventIngest:Auth:EventKeys:1:Hash"] = Hash("branch-key"),
            ["EventIngest:Auth:EventKeys:1:Environment"] = "branch",
            ["EventIngest:Auth:EventKeys:1:BranchEnvironments"] = "true",
        });
        var env = (string e) => new Dictionary<string, string> { ["x-inngest-env"] = e };

        Assert.Equal(HttpStatusCode.BadRequest, (await host.SendAsync("""{"name":"app/x"}""", "prod-key", env("feature-1"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await host.SendAsync("""{"name":"app/x"}""", "prod-key", env("production"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await host.SendAsync("""{"name":"app/x"}""", "branch-key", env("feature-1"))).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await host.SendAsync("""{"name":"app/x"}""", "branch-key", env("bad env!"))).StatusCode);
        Assert.Equal(["feature-1", "production"], (await host.ReceiveAllAsync()).Select(m => m.GetProperty("env").GetString()).Order());
    }

    [Fact]
    public async Task ABranchKeyReachesOnlyEnvironmentsNoOtherKeyOwnsAndNeverProduction()
    {
        await using var host = await StartAsync(new()
        {
            ["EventIngest:Auth:EventKeys:0:Hash"] = Hash("prod-key"),
            ["EventIngest:Auth:EventKeys:0:Environment"] = "production",
            ["EventIngest:Auth:EventKeys:1:Hash"] = Hash("stage-key"),
            ["EventIngest:Auth:EventKeys:1:Environment"] = "staging",
            ["EventIngest:Auth:EventKeys:2:Hash"] = Hash("branch-key"),
            ["EventIngest:Auth:EventKeys:2:Environment"] = "branch",
            ["EventIngest:Auth:EventKeys:2:BranchEnvironments"] = "true",
            ["EventIngest:Auth:EventKeys:3:Hash"] = Hash("preview-key"),
            ["EventIngest:Auth:EventKeys:3:Environment"] = "preview",
            ["EventIngest:Auth:EventKeys:3:BranchEnvironments"] = "true",
            ["EventIngest:Auth:EventKeys:3:BranchPrefix"] = "pr-",
            ["EventIngest:Auth:SigningKeys:0:Hash"] = Hash("audit-read-key"),
            ["EventIngest:Auth:SigningKeys:0:Environment"] = "audit",
        });
        async Task<HttpStatusCode> Send(string key, string env)
        {
            var response = await host.SendAsync("""{"name":"app/x"}""", key, new Dictionary<string, string> { ["x-inngest-env"] = env });
            if (response.StatusCode != HttpStatusCode.OK)
            {
                Assert.Contains("x-inngest-env", (await TestHost.JsonAsync(response)).GetProperty("error").GetString(), StringComparison.Ordinal);
            }
            return response.StatusCode;
        }

        foreach (var owned in new[] { "production", "Production", "PRODUCTION", "staging", "Staging", "audit", "preview" })
        {
            Assert.Equal(HttpStatusCode.BadRequest, await Send("branch-key", owned));
        }
        Assert.Equal(HttpStatusCode.OK, await Send("branch-key", "branch"));
        Assert.Equal(HttpStatusCode.OK, await Send("branch-key", "feature-1"));

        Assert.Equal(HttpStatusCode.OK, await Send("preview-key", "pr-12"));
        Assert.Equal(HttpStatusCode.OK, await Send("preview-key", "preview"));
        Assert.Equal(HttpStatusCode.BadRequest, await Send("preview-key", "feature-2"));
        Assert.Equal(HttpStatusCode.BadRequest, await Send("preview-key", "production"));
        Assert.Equal(HttpStatusCode.BadRequest, await Send("preview-key", "branch"));

        Assert.Equal(["branch", "feature-1", "pr-12", "preview"], (await host.ReceiveAllAsync()).Select(m => m.GetProperty("env").GetString()).Order());
    }

    [Fact]
    public async Task ABranchKeyNeverReachesProductionEvenWhenNoKeyOwnsIt()
    {
        await using var host = await StartAsync(new()
        {
            ["EventIngest:Auth:EventKeys:0:Hash"] = Hash("branch-key"),
            ["EventIngest:Auth:EventKeys:0:Environment"] = "dev",
            ["EventIngest:Auth:EventKeys:0:BranchEnvironments"] = "true",
        });
        var response = await host.SendAsync("""{"name":"app/x"}""", "branch-key", new Dictionary<string, string> { ["x-inngest-env"] = "production" });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Empty(await host.ReceiveAllAsync());
    }

    [Theory]
    [InlineData("BranchPrefix", "bad prefix!")]
    [InlineData("BranchPrefix", "-pr")]
    public async Task ABadBranchPrefixStopsTheHostNamingTheSetting(string setting, string value)
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => StartAsync(new()
        {
            ["EventIngest:Auth:EventKeys:0:Hash"] = Hash("branch-key"),
            ["EventIngest:Auth:EventKeys:0:Environment"] = "dev",
            ["EventIngest:Auth:EventKeys:0:BranchEnvironments"] = "true",
            [$"EventIngest:Auth:EventKeys:0:{setting}"] = value,
        }));
        Assert.Contains("BranchPrefix", error.Message, StringComparison.Ordinal);
    }
}
