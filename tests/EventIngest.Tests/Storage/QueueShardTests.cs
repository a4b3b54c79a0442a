using System.Net;
using System.Text.Json;
using EventIngest.Ingest;
using EventIngest.Tests.Api;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using EventIngest.Ids;
using EventIngest.Storage;

namespace EventIngest.Tests.Storage;

/// <summary>Routes spread over several queues: every path that sends an event (ingest, replay, the
/// repair, the release of a scheduled event) puts it on the shard its internal id hashes to.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class QueueShardTests(AzuriteFixture azurite)
{
    private const int OrderShards = 4;
    private const int DefaultShards = 2;

    private static Dictionary<string, string?> Sharded(string prefix, string operationTimeout = "00:01:00") => new()
    {
        ["EventIngest:Routing:DefaultShards"] = DefaultShards.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["EventIngest:Routing:Routes:0:Pattern"] = "app/order.*",
        ["EventIngest:Routing:Routes:0:Queue"] = prefix + "orders",
        ["EventIngest:Routing:Routes:0:Shards"] = OrderShards.ToString(System.Globalization.CultureInfo.InvariantCulture),
        // A long storage timeout: a send retried after its answer was lost would be a second message.
        ["EventIngest:Storage:OperationTimeout"] = operationTimeout,
    };

    private static string Orders(TestHost host) => host.Prefix + "orders";

    /// <summary>Every visible message on every shard of a queue, by shard index.</summary>
    private static async Task<List<(int Shard, JsonElement Message)>> ReceiveShardsAsync(TestHost host, string queue, int shards)
    {
        var all = new List<(int, JsonElement)>();
        for (var shard = 0; shard < shards; shard++)
        {
            foreach (var m in await host.ReceiveAllAsync($"{queue}-{shard}")) all.Add((shard, m));
        }
        return all;
    }

    private static void AssertOnTheirShards(IEnumerable<(int Shard, JsonElement Message)> messages, int shards)
    {
        foreach (var (shard, m) in messages)
        {
            Assert.Equal(QueueShards.ShardOf(m.GetProperty("internal_id").GetString()!, shards), shard);
        }
    }

    [Fact]
    public async Task EventsOfAShardedRouteAreSpreadOverItsQueuesByInternalId()
    {
        var prefix = azurite.NewStorageNamePrefix();
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, prefix, Sharded(prefix));
        var orders = string.Join(',', Enumerable.Range(0, 40).Select(i => $$$"""{"name":"app/order.placed","data":{"n":{{{i}}}}}"""));
        var others = string.Join(',', Enumerable.Range(0, 20).Select(i => $$$"""{"name":"app/other","data":{"n":{{{i}}}}}"""));
        var ids = await host.SendForIdsAsync($"[{orders},{others}]", headers: Seeds.Header());

        var onOrders = await ReceiveShardsAsync(host, Orders(host), OrderShards);
        var onDefault = await ReceiveShardsAsync(host, host.DefaultQueue, DefaultShards);

        Assert.Equal(ids.Take(40).Order(), onOrders.Select(m => m.Message.GetProperty("internal_id").GetString()).Order());
        Assert.Equal(ids.Skip(40).Order(), onDefault.Select(m => m.Message.GetProperty("internal_id").GetString()).Order());
        AssertOnTheirShards(onOrders, OrderShards);
        AssertOnTheirShards(onDefault, DefaultShards);
        Assert.Equal(OrderShards, onOrders.Select(m => m.Shard).Distinct().Count());
        Assert.Equal(DefaultShards, onDefault.Select(m => m.Shard).Distinct().Count());
        // No plain queue beside the shards: a consumer of it would wait forever.
        Assert.False(await host.Storage.Queue(Orders(host)).ExistsAsync());
        Assert.False(await host.Storage.Queue(host.DefaultQueue).ExistsAsync());
    }

    [Fact]
    public async Task AReplayLandsOnTheShardTheOriginalWentTo()
    {
        var prefix = azurite.NewStorageNamePrefix();
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, prefix, Sharded(prefix));
        var ids = await host.SendForIdsAsync("[" + string.Join(',', Enumerable.Range(0, 12).Select(i => $$$"""{"name":"app/order.placed","data":{"n":{{{i}}}}}""")) + "]");
        var originals = (await ReceiveShardsAsync(host, Orders(host), OrderShards))
            .ToDictionary(m => m.Message.GetProperty("internal_id").GetString()!, m => m.Shard);

        foreach (var id in ids)
        {
            var (status, body) = await host.ReplayAsync(id);
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal([$"{Orders(host)}-{originals[id]}"], body.GetProperty("data").GetProperty("queues").EnumerateArray().Select(q => q.GetString()));
        }

        var replays = await ReceiveShardsAsync(host, Orders(host), OrderShards);
        Assert.Equal(ids.Count, replays.Count);
        Assert.All(replays, m =>
        {
            Assert.True(m.Message.GetProperty("replay").GetBoolean());
            Assert.Equal(originals[m.Message.GetProperty("internal_id").GetString()!], m.Shard);
        });
    }

    [Fact]
    public async Task TheRepairSendsEachEventToTheShardOfItsId()
    {
        var prefix = azurite.NewStorageNamePrefix();
        var batch = "[" + string.Join(',', Enumerable.Range(0, 12).Select(i => $$$"""{"name":"app/order.placed","data":{"n":{{{i}}}}}""")) + "]";
        await using var died = await DiedRequest.StartAsync(azurite.ConnectionString, prefix, batch, Seeds.Header(), Sharded(prefix), brokenSettings: Sharded(prefix, "00:00:05"));
        var host = died.Host;
        Assert.Equal(12, await died.RepairAsync());

        var seed = IdSeed.Parse(Seeds.Sample)!;
        var messages = await ReceiveShardsAsync(host, Orders(host), OrderShards);
        Assert.Equal(Enumerable.Range(0, 12).Select(seed.IdFor).Order(), messages.Select(m => m.Message.GetProperty("internal_id").GetString()).Order());
        AssertOnTheirShards(messages, OrderShards);
    }

    [Fact]
    public async Task AScheduledEventIsReleasedOnTheShardOfItsId()
    {
        var prefix = azurite.NewStorageNamePrefix();
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, prefix, Sharded(prefix));
        var ts = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 3000;
        var ids = await host.SendForIdsAsync("[" + string.Join(',', Enumerable.Range(0, 8).Select(i => $$$"""{"name":"app/order.placed","ts":{{{ts}}},"data":{"n":{{{i}}}}}""")) + "]");

        var messages = new List<(int Shard, JsonElement Message)>();
        // A release may send an event twice (at least once); what matters is where each copy lands.
        await Waits.UntilAsync(async () =>
        {
            messages.AddRange(await ReceiveShardsAsync(host, Orders(host), OrderShards));
            return messages.Select(m => m.Message.GetProperty("internal_id").GetString()).Distinct().Count();
        }, distinct => distinct >= ids.Count);

        Assert.Equal(ids.Order(), messages.Select(m => m.Message.GetProperty("internal_id").GetString()).Distinct().Order());
        AssertOnTheirShards(messages, OrderShards);
    }
}
