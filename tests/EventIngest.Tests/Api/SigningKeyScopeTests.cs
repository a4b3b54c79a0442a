using System.Net;
using System.Text;
using EventIngest.Tests.Infrastructure;
using static EventIngest.Tests.Infrastructure.KeyHashes;

namespace EventIngest.Tests.Api;

/// <summary>A signing key does what its scopes allow: read, write (replay, reschedule, cancel),
/// erase. A key configured without scopes only reads.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class SigningKeyScopeTests(AzuriteFixture azurite)
{
    private Task<TestHost> StartAsync(Dictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["EventIngest:Auth:EventKeys:0:Hash"] = Hash("event-key"),
            ["EventIngest:Auth:EventKeys:0:Environment"] = "production",
            ["EventIngest:Auth:SigningKeys:0:Hash"] = Hash("reader"),
            ["EventIngest:Auth:SigningKeys:0:Environment"] = "production",
            ["EventIngest:Auth:SigningKeys:1:Hash"] = Hash("operator"),
            ["EventIngest:Auth:SigningKeys:1:Environment"] = "production",
            ["EventIngest:Auth:SigningKeys:1:Scopes"] = "read, write",
            ["EventIngest:Auth:SigningKeys:2:Hash"] = Hash("privacy"),
            ["EventIngest:Auth:SigningKeys:2:Environment"] = "production",
            ["EventIngest:Auth:SigningKeys:2:Scopes"] = "erase",
            ["EventIngest:Auth:SigningKeys:3:Hash"] = Hash("admin"),
            ["EventIngest:Auth:SigningKeys:3:Environment"] = "production",
            ["EventIngest:Auth:SigningKeys:3:Scopes"] = "READ,Write,erase",
        };
        foreach (var (k, v) in extra ?? []) settings[k] = v;
        return TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(), settings);
    }

    [Fact]
    public async Task AKeyWithoutScopesReadsAndCanChangeNothing()
    {
        await using var host = await StartAsync();
        var due = DateTimeOffset.UtcNow.AddHours(2).ToUnixTimeMilliseconds();
        var ids = await SendAsync(host, $$$"""[{"name":"app/now","user":{"external_id":"u-1"}},{"name":"app/later","ts":{{{due}}}}]""");
        var queued = await host.CountMessagesAsync();

        Assert.Equal(HttpStatusCode.OK, (await Call(host, "reader", HttpMethod.Get, "v1/events/" + ids[0])).Status);
        Assert.Equal(HttpStatusCode.OK, (await Call(host, "reader", HttpMethod.Get, "v1/events")).Status);
        Assert.Equal(HttpStatusCode.OK, (await Call(host, "reader", HttpMethod.Get, "v1/scheduled")).Status);

        await AssertMissingScope(host, "reader", HttpMethod.Post, $"v1/events/{ids[0]}/replay", null, "write");
        await AssertMissingScope(host, "reader", HttpMethod.Patch, "v1/events/" + ids[1], """{"ts":1893456000000}""", "write");
        await AssertMissingScope(host, "reader", HttpMethod.Delete, "v1/events/" + ids[1], null, "write");
        await AssertMissingScope(host, "reader", HttpMethod.Delete, "v1/users/u-1", null, "erase");
        await AssertMissingScope(host, "reader", HttpMethod.Post, "v1/users/erase", """{"external_id":"u-1"}""", "erase");

        // Nothing changed: no replay on the queue, the scheduled event still waits, the user still reads.
        Assert.Equal(queued, await host.CountMessagesAsync());
        var (_, scheduled) = await Call(host, "reader", HttpMethod.Get, "v1/scheduled");
        Assert.Equal(ids[1], Assert.Single(scheduled.GetProperty("data").EnumerateArray()).GetProperty("internal_id").GetString());
        var (_, read) = await Call(host, "reader", HttpMethod.Get, "v1/events/" + ids[0]);
        Assert.Equal("u-1", read.GetProperty("data").GetProperty("user").GetProperty("external_id").GetString());
    }

    [Fact]
    public async Task EachScopeAllowsItsOwnRoutesOnly()
    {
        await using var host = await StartAsync();
        var due = DateTimeOffset.UtcNow.AddHours(2).ToUnixTimeMilliseconds();
        var ids = await SendAsync(host, $$$"""[{"name":"app/now","user":{"external_id":"u-1"}},{"name":"app/later","ts":{{{due}}}},{"name":"app/later2","ts":{{{due}}}}]""");

        Assert.Equal(HttpStatusCode.OK, (await Call(host, "operator", HttpMethod.Post, $"v1/events/{ids[0]}/replay")).Status);
        Assert.Equal(HttpStatusCode.OK, (await Call(host, "operator", HttpMethod.Patch, "v1/events/" + ids[1], """{"ts":1893456000000}""")).Status);
        Assert.Equal(HttpStatusCode.OK, (await Call(host, "operator", HttpMethod.Delete, "v1/events/" + ids[1])).Status);
        await AssertMissingScope(host, "operator", HttpMethod.Post, "v1/users/erase", """{"external_id":"u-1"}""", "erase");

        await AssertMissingScope(host, "privacy", HttpMethod.Get, "v1/events/" + ids[0], null, "read");
        await AssertMissingScope(host, "privacy", HttpMethod.Get, "v1/events", null, "read");
        await AssertMissingScope(host, "privacy", HttpMethod.Get, "v1/scheduled", null, "read");
        await AssertMissingScope(host, "privacy", HttpMethod.Delete, "v1/events/" + ids[2], null, "write");
        Assert.Equal(HttpStatusCode.OK, (await Call(host, "privacy", HttpMethod.Post, "v1/users/erase", """{"external_id":"u-1"}""")).Status);

        var (_, read) = await Call(host, "admin", HttpMethod.Get, "v1/events/" + ids[0]);
        Assert.True(read.GetProperty("data").GetProperty("user_erased").GetBoolean());
        Assert.Equal(HttpStatusCode.OK, (await Call(host, "admin", HttpMethod.Delete, "v1/events/" + ids[2])).Status);
    }

    [Theory]
    [InlineData("admin")]
    [InlineData("read,")]
    [InlineData("read;write")]
    public async Task AnUnknownScopeStopsTheHostNamingTheSetting(string scopes)
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => StartAsync(new() { ["EventIngest:Auth:SigningKeys:0:Scopes"] = scopes }));
        Assert.Contains("EventIngest:Auth:SigningKeys", error.Message, StringComparison.Ordinal);
        Assert.Contains("Scopes", error.Message, StringComparison.Ordinal);
    }

    private static async Task AssertMissingScope(TestHost host, string key, HttpMethod method, string path, string? body, string scope)
    {
        var (status, problem) = await Call(host, key, method, path, body);
        Assert.Equal(HttpStatusCode.Forbidden, status);
        var detail = problem.GetProperty("detail").GetString();
        Assert.Contains($"'{scope}' scope", detail, StringComparison.Ordinal);
        Assert.Contains("Scopes", detail, StringComparison.Ordinal);
    }

    private static async Task<List<string>> SendAsync(TestHost host, string body)
    {
        var response = await host.SendAsync(body, "event-key");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await TestHost.JsonAsync(response)).GetProperty("ids").EnumerateArray().Select(e => e.GetString()!).ToList();
    }

    private static async Task<(HttpStatusCode Status, System.Text.Json.JsonElement Body)> Call(TestHost host, string key, HttpMethod method, string path, string? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null) request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + key);
        using var response = await host.Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : System.Text.Json.JsonDocument.Parse(text).RootElement.Clone());
    }
}
