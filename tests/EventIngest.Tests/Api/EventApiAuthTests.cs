using System.Net;
using EventIngest.Tests.Infrastructure;
using static EventIngest.Tests.Infrastructure.KeyHashes;

namespace EventIngest.Tests.Api;

[Collection(AzuriteFixture.CollectionName)]
public sealed class EventApiAuthTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private const string AlphaKey = "signkey-alpha-0123456789";
    private const string BetaKey = "signkey-beta-9876543210";
    private TestHost _host = null!;

    public async Task InitializeAsync() => _host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(), new Dictionary<string, string?>
    {
        ["EventIngest:Auth:SigningKeys:0:Hash"] = Hash(AlphaKey),
        ["EventIngest:Auth:SigningKeys:0:Environment"] = "alpha",
        ["EventIngest:Auth:SigningKeys:0:Scopes"] = "read,write",
        ["EventIngest:Auth:SigningKeys:1:Hash"] = Hash(BetaKey),
        ["EventIngest:Auth:SigningKeys:1:Environment"] = "beta",
        ["EventIngest:Auth:SigningKeys:1:Scopes"] = "read,write",
    });

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task AKeyForOneEnvironmentNeverSeesAnother()
    {
        var alpha = await _host.SendForIdsAsync("""[{"name":"app/x","id":"shared"},{"name":"app/y"}]""", environment: "alpha");
        var beta = await _host.SendForIdsAsync("""[{"name":"app/x","id":"shared"},{"name":"app/y"}]""", environment: "beta");

        Assert.Equal(alpha.OrderDescending(StringComparer.Ordinal), (await _host.ListAllAsync("", AlphaKey)).Events.InternalIds());
        Assert.Equal(beta.OrderDescending(StringComparer.Ordinal), (await _host.ListAllAsync("", BetaKey)).Events.InternalIds());
        Assert.Equal([alpha[0]], (await _host.ListAllAsync("id=shared", AlphaKey)).Events.InternalIds());
        Assert.Equal([beta[0]], (await _host.ListAllAsync("id=shared", BetaKey)).Events.InternalIds());

        Assert.Equal(HttpStatusCode.OK, (await _host.GetAsync($"v1/events/{alpha[1]}", AlphaKey)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await _host.GetAsync($"v1/events/{beta[1]}", AlphaKey)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await _host.ReplayAsync(beta[1], AlphaKey)).Status);
    }

    [Fact]
    public async Task AKeyCannotNameAnotherEnvironment()
    {
        var beta = Assert.Single(await _host.SendForIdsAsync("""{"name":"app/x"}""", environment: "beta"));

        Assert.Equal(HttpStatusCode.Forbidden, (await _host.GetAsync($"v1/events/{beta}", AlphaKey, "beta")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await _host.GetAsync("v1/events", AlphaKey, "beta")).Status);
        Assert.Equal(HttpStatusCode.OK, (await _host.GetAsync("v1/events", AlphaKey, "alpha")).Status);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("wrong-key")]
    [InlineData("signkey-alpha-012345678")]
    public async Task EveryRouteRefusesAMissingOrUnknownKey(string? key)
    {
        var id = Assert.Single(await _host.SendForIdsAsync("""{"name":"app/x"}""", environment: "alpha"));
        await _host.ReceiveAllAsync();

        foreach (var (method, path) in new[] { (HttpMethod.Get, "v1/events"), (HttpMethod.Get, $"v1/events/{id}"), (HttpMethod.Post, $"v1/events/{id}/replay") })
        {
            var (status, body) = await _host.CallAsync(method, path, key);
            Assert.Equal(HttpStatusCode.Unauthorized, status);
            Assert.Equal(401, body.GetProperty("status").GetInt32());
        }
        Assert.Empty(await _host.ReceiveAllAsync());
    }

    [Fact]
    public async Task UnauthorizedAnswersCarryABearerChallenge()
    {
        using var response = await _host.Client.GetAsync("v1/events");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer", Assert.Single(response.Headers.WwwAuthenticate).Scheme);
    }

    [Fact]
    public async Task WithoutSigningKeysAHostThatRequiresThemAnswers503()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(),
            new Dictionary<string, string?> { ["EventIngest:Auth:RequireSigningKeys"] = "true" });

        var (status, body) = await host.GetAsync("v1/events", "anything");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Contains("EventIngest:Auth:SigningKeys", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheOpenLocalHostReadsTheEnvironmentTheHeaderNames()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var dev = await host.SendForIdsAsync("""{"name":"app/x"}""");
        var feature = await host.SendForIdsAsync("""{"name":"app/x"}""", environment: "feature-1");

        Assert.Equal(dev, (await host.ListAllAsync("")).Events.InternalIds());
        Assert.Equal(feature, (await host.ListAllAsync("", environment: "feature-1")).Events.InternalIds());
    }
}
