using System.Net;
using System.Text;
using EventIngest.Encryption;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace EventIngest.Tests.Api;

[Collection(AzuriteFixture.CollectionName)]
public sealed class UsersApiTests(AzuriteFixture azurite)
{
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
}
