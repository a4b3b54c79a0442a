using System.Text.Json;
using EventIngest.Ingest;
using EventIngest.Storage;
using EventIngest.Tests.Api;
using EventIngest.Tests.Infrastructure;

namespace EventIngest.Tests.Storage;

/// <summary>Packed routes: the events of one request that go to the same queue share as few messages as fit,
/// each element exactly the message the event would have had alone; other queues keep one message per event.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class PackedQueueTests(AzuriteFixture azurite)
{
    private static Dictionary<string, string?> Packed(string prefix, int shards = 1) => new()
    {
        ["EventIngest:Routing:Routes:0:Pattern"] = "app/view.*",
        ["EventIngest:Routing:Routes:0:Queue"] = prefix + "views",
        ["EventIngest:Routing:Routes:0:Shards"] = shards.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["EventIngest:Routing:Routes:0:Packed"] = "true",
        // A long storage timeout: a send retried after its answer was lost would be a second message.
        ["EventIngest:Storage:OperationTimeout"] = "00:01:00",
    };

    private static string Events(int count, string name = "app/view.page", int padding = 0) =>
        "[" + string.Join(',', Enumerable.Range(0, count).Select(i => $$$"""{"name":"{{{name}}}","data":{"n":{{{i}}},"pad":"{{{new string('x', padding)}}}"},"user":{"email":"p{{{i}}}@example.com"}}""")) + "]";

    private static IEnumerable<JsonElement> Elements(JsonElement message) =>
        message.TryGetProperty("events", out var events) ? events.EnumerateArray() : [message];

    [Fact]
    public async Task ABatchOfAHundredOnAPackedRouteIsOneMessageInRequestOrder()
    {
        var prefix = azurite.NewStorageNamePrefix();
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, prefix, Packed(prefix));
        var ids = await host.SendForIdsAsync(Events(100));

        var messages = await host.ReceiveAllAsync(prefix + "views");

        var message = Assert.Single(messages);
        Assert.Equal(1, message.GetProperty("format").GetInt32());
        var elements = message.GetProperty("events").EnumerateArray().ToList();
        Assert.Equal(ids, elements.Select(e => e.GetProperty("internal_id").GetString()));
        Assert.All(elements, e => Assert.Equal(1, e.GetProperty("format").GetInt32()));
        Assert.Equal(Enumerable.Range(0, 100), elements.Select(e => e.GetProperty("data").GetProperty("n").GetInt32()));
    }

    [Fact]
    public async Task PacksStayUnderTheMessageLimitAndLargeEventsRideAsClaimChecks()
    {
        var prefix = azurite.NewStorageNamePrefix();
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, prefix, Packed(prefix));
        // 60 events of about 2 KB: more than one message can hold. The 30th is over the inline limit on its own.
        var body = Events(60, padding: 2_000).Replace("\"n\":30,\"pad\":\"" + new string('x', 2_000), "\"n\":30,\"pad\":\"" + new string('y', 60_000), StringComparison.Ordinal);
        var ids = await host.SendForIdsAsync(body);

        var client = host.Storage.Queue(prefix + "views");
        var raw = new List<string>();
        while ((await client.ReceiveMessagesAsync(32, TimeSpan.FromMinutes(10))).Value is { Length: > 0 } batch) raw.AddRange(batch.Select(m => m.Body.ToString()));

        Assert.InRange(raw.Count, 3, 6);
        Assert.All(raw, m => Assert.InRange(System.Text.Encoding.UTF8.GetByteCount(m), 1, EventMessage.InlineLimit));
        var elements = raw.SelectMany(m => Elements(JsonDocument.Parse(m).RootElement)).ToList();
        Assert.Equal(ids.Order(), elements.Select(e => e.GetProperty("internal_id").GetString()).Order());
        var large = Assert.Single(elements, e => e.TryGetProperty("claim_check", out _));
        Assert.Equal(ids[30], large.GetProperty("internal_id").GetString());
    }

    [Fact]
    public async Task AShardedPackedRoutePacksEachShardsOwnEvents()
    {
        const int shards = 4;
        var prefix = azurite.NewStorageNamePrefix();
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, prefix, Packed(prefix, shards));
        var ids = await host.SendForIdsAsync(Events(100));

        var seen = new List<string>();
        for (var shard = 0; shard < shards; shard++)
        {
            var message = Assert.Single(await host.ReceiveAllAsync($"{prefix}views-{shard}"));
            var onShard = message.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("internal_id").GetString()!).ToList();
            Assert.All(onShard, id => Assert.Equal(shard, QueueShards.ShardOf(id, shards)));
            // In request order within the shard.
            Assert.Equal(ids.Where(onShard.Contains), onShard);
            seen.AddRange(onShard);
        }
        Assert.Equal(ids.Order(), seen.Order());
    }

    [Fact]
    public async Task OtherQueuesKeepOneMessagePerEvent()
    {
        var prefix = azurite.NewStorageNamePrefix();
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, prefix, Packed(prefix));
        var ids = await host.SendForIdsAsync(Events(10, "app/order.placed"));

        var messages = await host.ReceiveAllAsync();

        Assert.Equal(ids.Order(), messages.Select(m => m.GetProperty("internal_id").GetString()).Order());
        Assert.All(messages, m => Assert.False(m.TryGetProperty("events", out _)));
    }

    [Fact]
    public async Task AReplayOfAPackedEventIsAMessageOfItsOwn()
    {
        var prefix = azurite.NewStorageNamePrefix();
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, prefix, Packed(prefix));
        var ids = await host.SendForIdsAsync(Events(5));
        Assert.Single(await host.ReceiveAllAsync(prefix + "views"));

        var replay = await host.Client.PostAsync($"v1/events/{ids[3]}/replay", null);
        replay.EnsureSuccessStatusCode();

        var message = Assert.Single(await host.ReceiveAllAsync(prefix + "views"));
        Assert.Equal(ids[3], message.GetProperty("internal_id").GetString());
        Assert.True(message.GetProperty("replay").GetBoolean());
    }

    [Fact]
    public void AQueuePackedByOneRouteAndNotByAnotherIsRefused()
    {
        var options = new RoutingOptions
        {
            Routes =
            [
                new Route { Pattern = "a/*", Queue = "views", Packed = true },
                new Route { Pattern = "b/*", Queue = "views" },
            ],
        };
        var error = Assert.Single(RoutingOptions.Check(options));
        Assert.Contains("'views' is packed by one setting and not by another", error, StringComparison.Ordinal);
    }
}
