using System.Net;
using System.Text.Json;
using EventIngest.Api;
using EventIngest.Encryption;
using EventIngest.Ingest;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using EventIngest.Ids;

namespace EventIngest.Tests.Api;

[Collection(AzuriteFixture.CollectionName)]
public sealed class ReplayTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private TestHost _host = null!;

    public async Task InitializeAsync() => _host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task ReplayDeliversTheStoredEventWithUserAMarkerAndItsOwnDeliveryId()
    {
        var id = Assert.Single(await _host.SendForIdsAsync("""{"name":"app/user.created","id":"k-1","data":{"plan":"pro"},"user":{"external_id":"u-42","name":"Zoë"}}"""));
        var original = Assert.Single(await _host.ReceiveAllAsync());
        Assert.False(original.TryGetProperty("replay", out _));
        Assert.False(original.TryGetProperty("delivery_id", out _));

        var (status, body) = await _host.ReplayAsync(id);

        Assert.Equal(HttpStatusCode.OK, status);
        var data = body.GetProperty("data");
        var deliveryId = data.GetProperty("delivery_id").GetString()!;
        Assert.True(Ulid.IsValid(deliveryId));
        Assert.Equal(id, data.GetProperty("internal_id").GetString());
        Assert.Equal([_host.DefaultQueue], data.GetProperty("queues").EnumerateArray().Select(q => q.GetString()));

        var replayed = Assert.Single(await _host.ReceiveAllAsync());
        Assert.True(replayed.GetProperty("replay").GetBoolean());
        Assert.Equal(deliveryId, replayed.GetProperty("delivery_id").GetString());
        Assert.Equal(id, replayed.GetProperty("internal_id").GetString());
        var user = await OpenUserAsync(_host, replayed);
        Assert.Equal("u-42", user.GetProperty("external_id").GetString());
        Assert.Equal("Zoë", user.GetProperty("name").GetString());
        foreach (var field in new[] { "format", "env", "name", "id", "data", "user", "ts", "v", "received_at" })
        {
            Assert.Equal(original.GetProperty(field).GetRawText(), replayed.GetProperty(field).GetRawText());
        }
    }

    [Fact]
    public async Task EveryReplayIsADeliveryOfItsOwn()
    {
        var id = Assert.Single(await _host.SendForIdsAsync("""{"name":"app/x"}"""));
        await _host.ReceiveAllAsync();

        var first = (await _host.ReplayAsync(id)).Body.GetProperty("data").GetProperty("delivery_id").GetString();
        var second = (await _host.ReplayAsync(id)).Body.GetProperty("data").GetProperty("delivery_id").GetString();

        Assert.NotEqual(first, second);
        var messages = await _host.ReceiveAllAsync();
        Assert.Equal(new[] { first, second }.Order(), messages.Select(m => m.GetProperty("delivery_id").GetString()).Order());
    }

    [Fact]
    public async Task ReplayGoesToEveryQueueTheEventWasRoutedTo()
    {
        var prefix = azurite.NewStorageNamePrefix();
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, prefix, new Dictionary<string, string?>
        {
            ["EventIngest:Routing:Routes:0:Pattern"] = "billing/*",
            ["EventIngest:Routing:Routes:0:Queue"] = prefix + "billing",
            ["EventIngest:Routing:Routes:1:Pattern"] = "*",
            ["EventIngest:Routing:Routes:1:Queue"] = prefix + "audit",
        });
        var id = Assert.Single(await host.SendForIdsAsync("""{"name":"billing/paid"}"""));
        await host.ReceiveAllAsync(prefix + "billing");
        await host.ReceiveAllAsync(prefix + "audit");

        var (status, _) = await host.ReplayAsync(id);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(Assert.Single(await host.ReceiveAllAsync(prefix + "billing")).GetProperty("replay").GetBoolean());
        Assert.True(Assert.Single(await host.ReceiveAllAsync(prefix + "audit")).GetProperty("replay").GetBoolean());
        Assert.Empty(await host.ReceiveAllAsync());
    }

    [Fact]
    public async Task LargeEventIsReplayedThroughAClaimCheckOfItsOwn()
    {
        var big = new string('x', 100_000);
        var id = Assert.Single(await _host.SendForIdsAsync("{\"name\":\"app/big\",\"data\":{\"blob\":\"" + big + "\"},\"user\":{\"external_id\":\"u-7\"}}"));
        var originalBlob = Assert.Single(await _host.ReceiveAllAsync()).GetProperty("claim_check").GetProperty("blob").GetString();

        var deliveryId = (await _host.ReplayAsync(id)).Body.GetProperty("data").GetProperty("delivery_id").GetString()!;

        var message = Assert.Single(await _host.ReceiveAllAsync());
        Assert.True(message.GetProperty("replay").GetBoolean());
        Assert.Equal(deliveryId, message.GetProperty("delivery_id").GetString());
        var blobName = message.GetProperty("claim_check").GetProperty("blob").GetString();
        Assert.Equal(EventReplayer.BlobNameFor("dev", id, deliveryId), blobName);
        Assert.NotEqual(originalBlob, blobName);
        var envelope = JsonDocument.Parse((await _host.Storage.LargeEvents.GetBlobClient(blobName).DownloadContentAsync()).Value.Content.ToString()).RootElement;
        Assert.True(envelope.GetProperty("replay").GetBoolean());
        Assert.Equal(deliveryId, envelope.GetProperty("delivery_id").GetString());
        Assert.Equal(big, envelope.GetProperty("data").GetProperty("blob").GetString());
        Assert.Equal("u-7", (await OpenUserAsync(_host, envelope)).GetProperty("external_id").GetString());
        Assert.Equal(envelope.GetRawText().Length, message.GetProperty("claim_check").GetProperty("bytes").GetInt32());
    }

    [Fact]
    public async Task ScheduledEventNotYetDueCannotBeReplayed()
    {
        var due = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds();
        var id = Assert.Single(await _host.SendForIdsAsync($$"""{"name":"app/later","ts":{{due}}}"""));

        var (status, body) = await _host.ReplayAsync(id);

        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Contains("scheduled", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Empty(await _host.ReceiveAllAsync());
    }

    [Fact]
    public async Task CancelledEventCannotBeReplayed()
    {
        var due = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds();
        var id = Assert.Single(await _host.SendForIdsAsync($$"""{"name":"app/later","ts":{{due}}}"""));
        Assert.Equal(HttpStatusCode.OK, (await _host.CallAsync(HttpMethod.Delete, $"v1/events/{id}")).Status);

        var (status, body) = await _host.ReplayAsync(id);

        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Equal("The event was cancelled", body.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task AScheduledEventMayBeReplayedOnceReleased()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        await host.Storage.EnsureCreatedAsync(default);
        var id = Assert.Single(await host.SendForIdsAsync($$"""{"name":"app/later","ts":{{DateTimeOffset.UtcNow.AddSeconds(8).ToUnixTimeMilliseconds()}}}"""));
        Assert.Equal(HttpStatusCode.Conflict, (await host.ReplayAsync(id)).Status);

        Assert.Equal(1, await host.WaitForMessagesAsync(1));
        Assert.Single(await host.ReceiveAllAsync());
        var (status, body) = await host.ReplayAsync(id);

        Assert.Equal(HttpStatusCode.OK, status);
        var replayed = Assert.Single(await host.ReceiveAllAsync());
        Assert.Equal(body.GetProperty("data").GetProperty("delivery_id").GetString(), replayed.GetProperty("delivery_id").GetString());
    }

    [Fact]
    public async Task UnknownEventIs404AndAnInvalidIdIs400()
    {
        Assert.Equal(HttpStatusCode.NotFound, (await _host.ReplayAsync("01JQDAE4RQF8MBCR55T5AK4KXS")).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await _host.ReplayAsync("nope")).Status);
        Assert.Equal(0, await _host.CountMessagesAsync());
    }

    /// <summary>What a consumer does with the sealed <c>user</c> of a message.</summary>
    private static async Task<JsonElement> OpenUserAsync(TestHost host, JsonElement envelope)
    {
        var opened = await host.Services.GetRequiredService<UserDataProtector>().OpenAsync(
            envelope.GetProperty("env").GetString()!, envelope.GetProperty("internal_id").GetString()!, envelope.GetProperty("user").GetString()!);
        return JsonDocument.Parse(opened.UserJson!).RootElement;
    }
}
