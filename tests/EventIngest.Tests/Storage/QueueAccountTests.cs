using Azure.Storage.Queues;
using EventIngest.DevServer.Azurite;
using EventIngest.Ingest;
using EventIngest.Tests.Api;
using EventIngest.Tests.Infrastructure;
using EventIngest.Storage;

namespace EventIngest.Tests.Storage;

/// <summary>A route whose queues live in another storage account (a second Azurite here): every send of its
/// events — ingest, replay, the release of a scheduled event — goes there, and nothing else does.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class QueueAccountTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private const int Shards = 2;
    private AzuriteProcess _other = null!;

    public async Task InitializeAsync() => _other = await AzuriteProcess.StartAsync();

    public async Task DisposeAsync() => await _other.DisposeAsync();

    private Dictionary<string, string?> Settings(string prefix) => new()
    {
        ["EventIngest:Storage:QueueAccounts:clicks:ConnectionString"] = _other.ConnectionString,
        ["EventIngest:Routing:Routes:0:Pattern"] = "app/click.*",
        ["EventIngest:Routing:Routes:0:Queue"] = prefix + "clicks",
        ["EventIngest:Routing:Routes:0:Shards"] = Shards.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["EventIngest:Routing:Routes:0:Account"] = "clicks",
        ["EventIngest:Storage:OperationTimeout"] = "00:01:00",
    };

    private static async Task<List<string>> InternalIdsAsync(QueueServiceClient account, string queue, int shards)
    {
        var ids = new List<string>();
        foreach (var name in QueueShards.Names(queue, shards))
        {
            var client = account.GetQueueClient(name);
            if (!await client.ExistsAsync()) continue;
            while ((await client.ReceiveMessagesAsync(32, TimeSpan.FromMinutes(10))).Value is { Length: > 0 } batch)
            {
                ids.AddRange(batch.Select(m => System.Text.Json.JsonDocument.Parse(Convert.FromBase64String(m.Body.ToString())).RootElement.GetProperty("internal_id").GetString()!));
            }
        }
        return ids;
    }

    [Fact]
    public async Task ARoutesEventsAndTheirReplaysGoToItsAccountAndNoOtherQueueDoes()
    {
        var prefix = azurite.NewStorageNamePrefix();
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, prefix, Settings(prefix));
        var main = new QueueServiceClient(azurite.ConnectionString);
        var other = new QueueServiceClient(_other.ConnectionString);

        var clicks = await host.SendForIdsAsync("[" + string.Join(',', Enumerable.Range(0, 20).Select(i => $$$"""{"name":"app/click.button","data":{"n":{{{i}}}}}""")) + "]");
        var orders = await host.SendForIdsAsync("""[{"name":"app/order.placed"},{"name":"app/order.placed"}]""");

        Assert.Equal(clicks.Order(), (await InternalIdsAsync(other, prefix + "clicks", Shards)).Order());
        Assert.Equal(orders.Order(), (await host.ReceiveAllAsync()).Select(m => m.GetProperty("internal_id").GetString()).Order());
        foreach (var name in QueueShards.Names(prefix + "clicks", Shards)) Assert.False(await main.GetQueueClient(name).ExistsAsync(), $"{name} is in the main account");
        Assert.False(await other.GetQueueClient(host.DefaultQueue).ExistsAsync());

        var (status, _) = await host.ReplayAsync(clicks[3]);
        Assert.Equal(System.Net.HttpStatusCode.OK, status);
        Assert.Equal([clicks[3]], await InternalIdsAsync(other, prefix + "clicks", Shards));
    }

    [Fact]
    public async Task AScheduledEventOfTheRouteIsReleasedToItsAccount()
    {
        var prefix = azurite.NewStorageNamePrefix();
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, prefix, Settings(prefix));
        var other = new QueueServiceClient(_other.ConnectionString);
        var due = DateTimeOffset.UtcNow.AddSeconds(3).ToUnixTimeMilliseconds();

        var ids = await host.SendForIdsAsync($$"""[{"name":"app/click.later","ts":{{due}}}]""");

        var queue = QueueShards.QueueFor(prefix + "clicks", Shards, ids[0]);
        // The host's count goes through the same routing: it reads the other account.
        Assert.Equal(1, await host.WaitForMessagesAsync(1, Waits.Generous, queue));
        Assert.Equal(ids, await InternalIdsAsync(other, prefix + "clicks", Shards));
    }

    [Fact]
    public void ARouteNamingAnUndefinedAccountOrAQueueInTwoAccountsIsRefused()
    {
        var routing = new RoutingOptions
        {
            Routes =
            [
                new Route { Pattern = "a/*", Queue = "clicks", Account = "clickz" },
                new Route { Pattern = "b/*", Queue = "clicks" },
            ],
        };
        var storage = new StorageOptions { QueueAccounts = { ["clicks"] = new QueueAccountOptions { QueueServiceUri = new Uri("https://clicks.queue.core.windows.net") }, ["empty"] = new QueueAccountOptions() } };

        var errors = Route.CheckAccounts(routing, storage);

        Assert.Contains(errors, e => e.Contains("Routes:0:Account is 'clickz', which EventIngest:Storage:QueueAccounts does not define", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("QueueAccounts:empty needs a QueueServiceUri or a ConnectionString", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("the queue 'clicks' is placed in different accounts", StringComparison.Ordinal));
    }
}
