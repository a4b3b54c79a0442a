using System.Net;
using System.Text.Json;
using EventIngest.DevServer;
using EventIngest.Tests.Api;
using EventIngest.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using static EventIngest.Tests.Infrastructure.KeyHashes;
using EventIngest.Auth;

namespace EventIngest.Tests.Local;

/// <summary>Without keys the local host lets anyone send, read decrypted users, replay and erase:
/// it must then be reachable from this machine only, and not through a rebound DNS name.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class OpenModeTests(AzuriteFixture azurite)
{
    private static readonly Dictionary<string, string?> Keys = new()
    {
        ["EventIngest:Auth:EventKeys:0:Hash"] = Hash("event-key"),
        ["EventIngest:Auth:EventKeys:0:Environment"] = "production",
        ["EventIngest:Auth:SigningKeys:0:Hash"] = Hash("signing-key"),
        ["EventIngest:Auth:SigningKeys:0:Environment"] = "production",
    };

    [Theory]
    [InlineData("urls", "http://0.0.0.0:0")]
    [InlineData("urls", "http://[::]:0")]
    [InlineData("urls", "http://*:0")]
    [InlineData("urls", "http://127.0.0.1:0;http://+:0")]
    [InlineData("Kestrel:Endpoints:Public:Url", "http://0.0.0.0:0")]
    public async Task WithoutKeysTheLocalHostRefusesToListenBeyondLoopback(string setting, string value)
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() =>
            TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(), new Dictionary<string, string?> { [setting] = value }));

        Assert.IsType<OpenModeException>(error);
        Assert.Contains("loopback", error.Message, StringComparison.Ordinal);
        Assert.Contains("EventIngest:Auth:EventKeys:0:Hash", error.Message, StringComparison.Ordinal);
        Assert.Contains("EventIngest:Auth:SigningKeys:0:Hash", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithOnlyEventKeysTheOpenRestApiStillKeepsItOnLoopback()
    {
        var settings = new Dictionary<string, string?>(Keys) { ["urls"] = "http://0.0.0.0:0" };
        settings.Remove("EventIngest:Auth:SigningKeys:0:Hash");
        settings.Remove("EventIngest:Auth:SigningKeys:0:Environment");
        var error = await Assert.ThrowsAsync<OpenModeException>(() => TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(), settings));
        Assert.Contains("EventIngest:Auth:SigningKeys:0:Hash", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("EventIngest:Auth:EventKeys:0:Hash", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithKeysTheLocalHostMayListenOnEveryAddress()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(),
            new Dictionary<string, string?>(Keys) { ["urls"] = "http://0.0.0.0:0" });
        var port = host.BaseAddress.Port;
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
        using var request = new HttpRequestMessage(HttpMethod.Post, "e/event-key") { Content = new StringContent("""{"name":"app/a"}""") };
        request.Headers.Host = "events.example.com";
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(request)).StatusCode);
    }

    public static TheoryData<string, string> EveryRoute() => new()
    {
        { "POST", "/e/any-key" },
        { "GET", "/e/any-key" },
        { "GET", "/v1/events" },
        { "GET", "/v1/events/01JQDAE4RQF8MBCR55T5AK4KXS" },
        { "POST", "/v1/users/erase" },
        { "DELETE", "/v1/users/u-1" },
        { "GET", "/openapi.yaml" },
        { "GET", "/no-such-route" },
    };

    /// <summary>A page on another site in the developer's browser can send a "simple" cross-site request (a form
    /// post, or fetch with text/plain) to the local host: its Host is 127.0.0.1, so only its Origin and
    /// Sec-Fetch-Site tell it apart. Without keys, that must erase nothing and send nothing.</summary>
    [Theory]
    [MemberData(nameof(EveryRoute))]
    public async Task WithoutKeysACrossSiteRequestFromABrowserIsRefusedOnEveryRoute(string method, string path)
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var id = (await host.SendForIdsAsync("""{"name":"app/a","user":{"external_id":"u-1"}}""")).Single();

        foreach (var (header, value) in new[] { ("Origin", "https://attacker.example"), ("Origin", "null"), ("Sec-Fetch-Site", "cross-site"), ("Origin", "http://127.0.0.1.nip.io:8288") })
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path.TrimStart('/'))
            {
                Content = method == "GET" ? null : new StringContent("""{"name":"app/b","external_id":"u-1"}""", System.Text.Encoding.UTF8, "text/plain"),
            };
            request.Headers.TryAddWithoutValidation(header, value);
            using var response = await host.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }

        // The console's own requests (same origin) and requests from tools (no Origin) are served.
        using (var own = new HttpRequestMessage(HttpMethod.Get, "v1/events/" + id))
        {
            own.Headers.TryAddWithoutValidation("Origin", host.BaseAddress.GetLeftPart(UriPartial.Authority));
            own.Headers.TryAddWithoutValidation("Sec-Fetch-Site", "same-origin");
            Assert.Equal(HttpStatusCode.OK, (await host.Client.SendAsync(own)).StatusCode);
        }
        var (status, read) = await host.GetAsync("v1/events/" + id);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("u-1", read.GetProperty("data").GetProperty("user").GetProperty("external_id").GetString());
        Assert.Equal(1, await host.CountMessagesAsync());
    }

    [Theory]
    [MemberData(nameof(EveryRoute))]
    public async Task WithoutKeysARequestNamingAnotherHostIsRefusedOnEveryRoute(string method, string path)
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var id = (await host.SendForIdsAsync("""{"name":"app/a","user":{"external_id":"u-1"}}""")).Single();

        foreach (var name in new[] { "attacker.example", $"attacker.example:{host.BaseAddress.Port}", "localhost.attacker.example", "127.0.0.1.nip.io" })
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path.TrimStart('/'))
            {
                Content = method == "GET" ? null : new StringContent("""{"name":"app/b","external_id":"u-1"}"""),
            };
            request.Headers.Host = name;
            using var response = await host.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal(403, body.GetProperty("status").GetInt32());
            var message = path.StartsWith("/e/", StringComparison.Ordinal) ? body.GetProperty("error").GetString() : body.GetProperty("detail").GetString();
            Assert.Contains("Host", message, StringComparison.Ordinal);
        }

        // Nothing reached the handlers: one event, its user intact.
        var (status, read) = await host.GetAsync("v1/events/" + id);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("u-1", read.GetProperty("data").GetProperty("user").GetProperty("external_id").GetString());
        Assert.Equal(1, await host.CountMessagesAsync());
    }

    [Theory]
    [InlineData("localhost")]
    [InlineData("LOCALHOST")]
    [InlineData("127.0.0.1")]
    [InlineData("[::1]")]
    public async Task WithoutKeysLoopbackNamesAreServed(string name)
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        using var request = new HttpRequestMessage(HttpMethod.Post, "e/any-key") { Content = new StringContent("""{"name":"app/a"}""") };
        request.Headers.Host = $"{name}:{host.BaseAddress.Port}";
        Assert.Equal(HttpStatusCode.OK, (await host.Client.SendAsync(request)).StatusCode);
    }

    [Theory]
    [InlineData("203.0.113.7", "localhost", 403)]
    [InlineData("::ffff:203.0.113.7", "localhost", 403)]
    [InlineData("127.0.0.1", "localhost", 200)]
    [InlineData("::ffff:127.0.0.1", "127.0.0.1", 200)]
    [InlineData("::1", "[::1]", 200)]
    [InlineData("127.0.0.1", "", 403)]
    public async Task WithoutKeysOnlyLoopbackConnectionsAreServed(string remote, string hostHeader, int status)
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = IPAddress.Parse(remote);
        context.Request.Host = new HostString(hostHeader);
        context.Request.Path = "/v1/events";
        context.RequestServices = new Microsoft.Extensions.DependencyInjection.ServiceCollection().AddLogging().BuildServiceProvider();
        context.Response.Body = new MemoryStream();

        await OpenMode.LoopbackOnly(context, _ => Task.CompletedTask);
        Assert.Equal(status, context.Response.StatusCode);
    }

    [Theory]
    [InlineData("EventIngest:Auth:RequireEventKeys")]
    [InlineData("EventIngest:Auth:RequireSigningKeys")]
    public void TheFunctionsAppNeverRunsOpen(string setting)
    {
        var configuration = new Microsoft.Extensions.Configuration.ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["EventIngest:Storage:ConnectionString"] = "UseDevelopmentStorage=true",
            [setting] = "false",
        }).Build();
        var services = new Microsoft.Extensions.DependencyInjection.ServiceCollection()
            .AddSingleton<Microsoft.Extensions.Configuration.IConfiguration>(configuration)
            .AddEventIngest(isProductionHost: true)
            .BuildServiceProvider();

        var error = Assert.ThrowsAny<Exception>(() => services.GetRequiredService<Microsoft.Extensions.Options.IOptions<AuthOptions>>().Value);
        Assert.Contains(setting, error.Message, StringComparison.Ordinal);
    }
}
