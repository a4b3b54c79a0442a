using Azure.Storage.Queues;
using EventIngest.Consumer;
using EventIngest.Ingest;
using EventIngest.Tests.Infrastructure;
using EventIngest.Storage;

namespace EventIngest.Client.Tests.Consumer;

/// <summary>The consumer kit polling every shard of a sharded queue, on the service's real messages.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class EventQueueReceiverTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private const int Shards = 4;
    private ConsumerHost _host = null!;

    public async Task InitializeAsync() =>
        _host = await ConsumerHost.StartAsync(azurite, serviceSettings: _ => new Dictionary<string, string?> { ["EventIngest:Routing:DefaultShards"] = "4" });

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private sealed record Order(int N);

    private EventQueueReceiver Receiver(int maxDequeueCount = 5) =>
        new(new QueueServiceClient(azurite.ConnectionString), _host.Service.DefaultQueue, Shards, _host.Reader,
            new EventQueueReceiverOptions { VisibilityTimeout = TimeSpan.FromSeconds(1), MaxDequeueCount = maxDequeueCount });

    private async Task<int> CountAsync(string queue)
    {
        var client = new QueueClient(azurite.ConnectionString, queue);
        return await client.ExistsAsync() ? (await client.GetPropertiesAsync()).Value.ApproximateMessagesCount : 0;
    }

    [Fact]
    public void TheReceiverNamesEveryShard() =>
        Assert.Equal(Enumerable.Range(0, Shards).Select(i => $"{_host.Service.DefaultQueue}-{i}"), Receiver().QueueNames);

    [Fact]
    public async Task TheReceiverReadsEveryShardOfTheQueue()
    {
        var sent = await _host.Client().SendAsync(Enumerable.Range(0, 24).Select(i => new Event<Order>("app/order.placed", new Order(i))));
        var receiver = Receiver();

        var seen = new List<(string Id, int N)>();
        for (var pass = 0; pass < 10 && seen.Count < 24; pass++)
        {
            await receiver.ReceiveAsync<Order>((e, _) =>
            {
                lock (seen) seen.Add((e.InternalId, e.Data.N));
                return Task.CompletedTask;
            });
        }

        Assert.Equal(sent.Ids.Order(), seen.Select(s => s.Id).Order());
        Assert.Equal(Enumerable.Range(0, 24), seen.Select(s => s.N).Order());
        foreach (var queue in receiver.QueueNames) Assert.Equal(0, await CountAsync(queue));
        Assert.Equal(0, await receiver.ReceiveAsync<Order>((_, _) => throw new InvalidOperationException("nothing is left")));
    }

    [Fact]
    public async Task AFailedMessageComesBackAndGoesToThePoisonQueueAfterMaxDequeueCount()
    {
        var sent = await _host.Client().SendAsync(new Event<Order>("app/order.placed", new Order(1)));
        var queue = $"{_host.Service.DefaultQueue}-{QueueShards.ShardOf(sent.Ids[0], Shards)}";
        var receiver = Receiver(maxDequeueCount: 2);
        var attempts = 0;
        Task Fail(ReceivedEvent<Order> e, CancellationToken ct)
        {
            Interlocked.Increment(ref attempts);
            throw new InvalidOperationException("handler failed");
        }

        await Assert.ThrowsAsync<InvalidOperationException>(() => receiver.ReceiveAsync<Order>(Fail));
        Assert.Equal(1, await CountAsync(queue)); // still there, invisible for the visibility timeout
        // Visible again once its visibility timeout is over (a peek sees visible messages only).
        var client = new QueueClient(azurite.ConnectionString, queue);
        Assert.NotEmpty(await Waits.UntilAsync(async () => (await client.PeekMessagesAsync(1)).Value, peeked => peeked.Length > 0));
        await Assert.ThrowsAsync<InvalidOperationException>(() => receiver.ReceiveAsync<Order>(Fail));

        Assert.Equal(2, attempts);
        Assert.Equal(0, await CountAsync(queue));
        Assert.Equal(1, await CountAsync(queue + "-poison"));
    }
}
