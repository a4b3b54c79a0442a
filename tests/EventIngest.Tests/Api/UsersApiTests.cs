using System.Net;
using System.Text;
using System.Text.Json;
using EventIngest.Encryption;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace EventIngest.Tests.Api;

[Collection(AzuriteFixture.CollectionName)]
public sealed class UsersApiTests(AzuriteFixture azurite)
{
    private const int MaxExternalIdLength = 1024;

    [Fact]
    public async Task ErasingAPersonMakesTheirUserDataUnreadableEverywhereAndSparesOthers()
    {
        // On the instance that erases, erasure is immediate; others follow within PersonKeyCacheDuration.
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var soon = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 3_600_000;
        await host.SendAsync("""[{"name":"app/a","user":{"external_id":"ada","email":"ada@example.com"}},{"name":"app/b","user":{"external_id":"bob"}},""" +
            "{\"name\":\"app/later\",\"ts\":" + soon + ",\"user\":{\"external_id\":\"ada\"}}]");

        var response = await host.Client.DeleteAsync("v1/users/ada");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var receipt = (await TestHost.JsonAsync(response)).GetProperty("data");
        Assert.Equal("ada", receipt.GetProperty("external_id").GetString());
        Assert.True(DateTimeOffset.Parse(receipt.GetProperty("erased_at").GetString()!, System.Globalization.CultureInfo.InvariantCulture) <= DateTimeOffset.UtcNow.AddSeconds(5));

        await host.SendAsync("""{"name":"app/c","user":{"external_id":"ada","email":"new@example.com"}}""");

        var protector = host.Services.GetRequiredService<UserDataProtector>();
        var messages = await host.ReceiveAllAsync();
        async Task<UserOpenResult> Open(string name)
        {
            var m = messages.Single(x => x.GetProperty("name").GetString() == name);
            return await protector.OpenAsync("dev", m.GetProperty("internal_id").GetString()!, m.GetProperty("user").GetString()!);
        }
        Assert.True((await Open("app/a")).IsErased);
        Assert.False((await Open("app/b")).IsErased);
        var fresh = await Open("app/c");
        Assert.Contains("new@example.com", Encoding.UTF8.GetString(fresh.UserJson!), StringComparison.Ordinal);

        // The scheduled event waiting on its queue is erased too: its sealed user no longer opens.
        var record = (await host.RowsAsync(host.Storage.Events)).Single(r => r.GetString("Name") == "app/later");
        var envelope = System.Text.Json.JsonDocument.Parse(record.GetBinary("Message")).RootElement;
        Assert.True((await protector.OpenAsync("dev", envelope.GetProperty("internal_id").GetString()!, envelope.GetProperty("user").GetString()!)).IsErased);
    }

    [Theory]
    [InlineData("tenant/42")]
    [InlineData(".")]
    [InlineData("..")]
    [InlineData("a%2Fb")]
    [InlineData("  spaced  ")]
    public async Task EveryExternalIdIngestAcceptsIsErasedThroughTheBodyRoute(string externalId)
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var user = JsonSerializer.Serialize(new { external_id = externalId, email = "p@example.com" });
        var id = (await host.SendForIdsAsync("{\"name\":\"app/a\",\"user\":" + user + "}")).Single();

        var (status, body) = await EraseAsync(host, JsonSerializer.Serialize(new { external_id = externalId }));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(externalId, body.GetProperty("data").GetProperty("external_id").GetString());
        Assert.True(body.GetProperty("data").GetProperty("found").GetBoolean());

        var (_, read) = await host.GetAsync("v1/events/" + id);
        Assert.Equal(JsonValueKind.Null, read.GetProperty("data").GetProperty("user").ValueKind);
        Assert.True(read.GetProperty("data").GetProperty("user_erased").GetBoolean());
    }

    [Fact]
    public async Task ThePathFormRefusesAnEncodedSlashInsteadOfErasingSomeoneElse()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var id = (await host.SendForIdsAsync("""{"name":"app/a","user":{"external_id":"tenant/42"}}""")).Single();

        var (status, body) = await host.CallAsync(HttpMethod.Delete, "v1/users/tenant%2F42");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("POST /v1/users/erase", body.GetProperty("detail").GetString(), StringComparison.Ordinal);

        var (_, read) = await host.GetAsync("v1/events/" + id);
        Assert.Equal("tenant/42", read.GetProperty("data").GetProperty("user").GetProperty("external_id").GetString());
    }

    [Fact]
    public async Task TheReceiptSaysWhetherThePersonHadKeyMaterial()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        await host.SendForIdsAsync("""{"name":"app/a","user":{"external_id":"u-42"}}""");

        var (status, body) = await host.CallAsync(HttpMethod.Delete, "v1/users/u-42");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(body.GetProperty("data").GetProperty("found").GetBoolean());

        (status, body) = await host.CallAsync(HttpMethod.Delete, "v1/users/u-42");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.False(body.GetProperty("data").GetProperty("found").GetBoolean());

        (status, body) = await EraseAsync(host, """{"external_id":"never-seen"}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.False(body.GetProperty("data").GetProperty("found").GetBoolean());
    }

    [Fact]
    public async Task ANumericExternalIdIsErasedByItsNumberOrItsText()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var ids = await host.SendForIdsAsync("""[{"name":"app/a","user":{"external_id":42}},{"name":"app/b","user":{"external_id":7}}]""");

        var (status, body) = await EraseAsync(host, """{"external_id":42}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(body.GetProperty("data").GetProperty("found").GetBoolean());
        Assert.True((await host.GetAsync("v1/events/" + ids[0])).Body.GetProperty("data").GetProperty("user_erased").GetBoolean());

        (status, body) = await EraseAsync(host, """{"external_id":"7"}""");
        Assert.True(body.GetProperty("data").GetProperty("found").GetBoolean());
        Assert.True((await host.GetAsync("v1/events/" + ids[1])).Body.GetProperty("data").GetProperty("user_erased").GetBoolean());
    }

    [Fact]
    public async Task IngestAndErasureAcceptTheSameExternalIdLengths()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var longest = new string('\u00e9', MaxExternalIdLength);
        var tooLong = longest + "x";

        var id = (await host.SendForIdsAsync("{\"name\":\"app/a\",\"user\":{\"external_id\":\"" + longest + "\"}}")).Single();
        var (status, body) = await EraseAsync(host, "{\"external_id\":\"" + longest + "\"}");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(body.GetProperty("data").GetProperty("found").GetBoolean());
        Assert.True((await host.GetAsync("v1/events/" + id)).Body.GetProperty("data").GetProperty("user_erased").GetBoolean());

        var refused = await host.SendAsync("{\"name\":\"app/a\",\"user\":{\"external_id\":\"" + tooLong + "\"}}");
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("external_id", (await TestHost.JsonAsync(refused)).GetProperty("error").GetString(), StringComparison.Ordinal);
        (status, _) = await EraseAsync(host, "{\"external_id\":\"" + tooLong + "\"}");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        var numberTooLong = new string('1', MaxExternalIdLength + 1);
        Assert.Equal(HttpStatusCode.BadRequest, (await host.SendAsync("{\"name\":\"app/a\",\"user\":{\"external_id\":" + numberTooLong + "}}")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await EraseAsync(host, "{\"external_id\":" + numberTooLong + "}")).Status);
    }

    [Theory]
    [InlineData("")]
    [InlineData("[]")]
    [InlineData("{}")]
    [InlineData("""{"external_id":""}""")]
    [InlineData("""{"external_id":null}""")]
    [InlineData("""{"external_id":true}""")]
    [InlineData("""{"external_id":{"a":1}}""")]
    [InlineData("""{"external_id":"a","external_id":"b"}""")]
    [InlineData("""{"external_id":"a"} x""")]
    public async Task ABadEraseBodyIs400AndErasesNothing(string body)
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var id = (await host.SendForIdsAsync("""{"name":"app/a","user":{"external_id":"a"}}""")).Single();

        var (status, problem) = await EraseAsync(host, body);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("external_id", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.False((await host.GetAsync("v1/events/" + id)).Body.GetProperty("data").GetProperty("user_erased").GetBoolean());
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> EraseAsync(TestHost host, string body, string? key = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/users/erase") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (key is not null) request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + key);
        using var response = await host.Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }
}
