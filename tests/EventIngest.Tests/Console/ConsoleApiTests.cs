using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using EventIngest.Ingest;
using EventIngest.Tests.Infrastructure;
using static EventIngest.Tests.Infrastructure.KeyHashes;

namespace EventIngest.Tests.Console;

/// <summary>The routes only the local host serves for the console: queues, peek, deliveries.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class ConsoleApiTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task QueuesListEveryShardOfEveryRouteAndTheDueQueueWithTheirCounts()
    {
        var prefix = azurite.NewStorageNamePrefix();
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, prefix, new Dictionary<string, string?>
        {
            ["EventIngest:Routing:DefaultShards"] = "2",
            ["EventIngest:Routing:Routes:0:Pattern"] = "app/order.*",
            ["EventIngest:Routing:Routes:0:Queue"] = prefix + "orders",
        });
        await ConsoleTests.SendAsync(host, """[{"name":"app/order.placed"},{"name":"app/order.paid"}]""");

        var data = await DataAsync(host, "v1/queues");

        Assert.Equal("app/order.*", data.GetProperty("routes")[0].GetProperty("pattern").GetString());
        var queues = data.GetProperty("queues").EnumerateArray().ToDictionary(q => q.GetProperty("name").GetString()!);
        Assert.Equal([prefix + "events-0", prefix + "events-1", prefix + "orders", prefix + "due"], queues.Keys);
        Assert.Equal(2, queues[prefix + "orders"].GetProperty("approximate_messages").GetInt32());
        Assert.Equal("due", queues[prefix + "due"].GetProperty("role").GetString());
        Assert.Equal(1, queues[prefix + "events-1"].GetProperty("shard").GetInt32());
    }

    [Fact]
    public async Task PeekReturnsTheDecodedEnvelopeAndLeavesTheMessageForTheConsumer()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var id = await ConsoleTests.SendAsync(host, """{"name":"app/peek","data":{"n":7}}""");

        var first = await DataAsync(host, $"v1/queues/{host.DefaultQueue}/messages");
        var again = await DataAsync(host, $"v1/queues/{host.DefaultQueue}/messages?limit=32");

        var message = Assert.Single(first.EnumerateArray()).GetProperty("message");
        Assert.Equal(id, message.GetProperty("internal_id").GetString());
        Assert.Equal(7, message.GetProperty("data").GetProperty("n").GetInt32());
        Assert.Equal(0, first[0].GetProperty("dequeue_count").GetInt64());
        Assert.Single(again.EnumerateArray());
        Assert.Equal(id, Assert.Single(await host.ReceiveAllAsync()).GetProperty("internal_id").GetString());
    }

    [Theory]
    [InlineData("somebody-elses-queue", "", HttpStatusCode.NotFound)]
    [InlineData(null, "?limit=0", HttpStatusCode.BadRequest)]
    [InlineData(null, "?limit=33", HttpStatusCode.BadRequest)]
    public async Task PeekRefusesQueuesTheHostDoesNotRouteToAndLimitsOutOfRange(string? queue, string query, HttpStatusCode expected)
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());

        using var response = await host.Client.GetAsync($"v1/queues/{queue ?? host.DefaultQueue}/messages{query}");

        Assert.Equal(expected, response.StatusCode);
    }

    [Fact]
    public async Task DeliveriesListTheRoutedQueuesAndEveryReplayWithItsDeliveryId()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var id = await ConsoleTests.SendAsync(host, """{"name":"app/twice"}""");
        var replays = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            using var replay = await host.Client.PostAsync($"v1/events/{id}/replay", null);
            replays.Add((await TestHost.JsonAsync(replay)).GetProperty("data").GetProperty("delivery_id").GetString()!);
        }

        var data = await DataAsync(host, $"v1/events/{id}/deliveries");

        Assert.Equal("delivered", data.GetProperty("state").GetString());
        Assert.Equal(host.DefaultQueue, Assert.Single(data.GetProperty("queues").EnumerateArray()).GetString());
        Assert.True(data.GetProperty("delivered_at").GetInt64() > 0);
        Assert.Equal(replays, data.GetProperty("replays").EnumerateArray().Select(r => r.GetProperty("delivery_id").GetString()));
        Assert.All(data.GetProperty("replays").EnumerateArray(), r => Assert.Equal(host.DefaultQueue, r.GetProperty("queues")[0].GetString()));
    }

    [Fact]
    public async Task AScheduledEventHasNoDeliveryYet()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var due = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds();
        var id = await ConsoleTests.SendAsync(host, $$"""{"name":"app/later","ts":{{due}}}""");

        var data = await DataAsync(host, $"v1/events/{id}/deliveries");

        Assert.Equal("scheduled", data.GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.Null, data.GetProperty("delivered_at").ValueKind);
        Assert.Equal(due, data.GetProperty("due").GetInt64());
    }

    [Theory]
    [InlineData("v1/queues")]
    [InlineData("v1/queues/{queue}/messages")]
    [InlineData("v1/events/01J0000000000000000000000A/deliveries")]
    public async Task WithSigningKeysTheConsoleRoutesNeedOne(string path)
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(), new Dictionary<string, string?>
        {
            ["EventIngest:Auth:SigningKeys:0:Hash"] = Hash("reader"),
            ["EventIngest:Auth:SigningKeys:0:Environment"] = "dev",
        });
        path = path.Replace("{queue}", host.DefaultQueue, StringComparison.Ordinal);

        using var anonymous = await host.Client.GetAsync(path);
        var request = new HttpRequestMessage(HttpMethod.Get, path) { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", "reader") } };
        using var signed = await host.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.NotEqual(HttpStatusCode.Unauthorized, signed.StatusCode);
        Assert.NotEqual(HttpStatusCode.Forbidden, signed.StatusCode);
    }

    private static async Task<JsonElement> DataAsync(TestHost host, string path)
    {
        using var response = await host.Client.GetAsync(path);
        var json = await TestHost.JsonAsync(response);
        Assert.True(response.StatusCode == HttpStatusCode.OK, json.ToString());
        return json.GetProperty("data");
    }
}
