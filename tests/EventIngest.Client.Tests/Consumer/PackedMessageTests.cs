using System.Text.Json;
using Azure.Storage.Queues;
using EventIngest.Consumer;
using EventIngest.Tests.Infrastructure;

namespace EventIngest.Client.Tests.Consumer;

/// <summary>The consumer kit on a packed queue: a message carries many events of one request, each read as if it
/// had come alone, and the inbox keeps handling once per event when a message comes back.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class PackedMessageTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private ConsumerHost _host = null!;

    public async Task InitializeAsync() =>
        _host = await ConsumerHost.StartAsync(azurite, serviceSettings: _ => new Dictionary<string, string?> { ["EventIngest:Routing:DefaultPacked"] = "true" });

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private sealed record Order(int N);

    private Task<SendResult> SendOrdersAsync(int count) =>
        _host.Client().SendAsync(Enumerable.Range(0, count).Select(i => new Event<Order>("app/order.placed", new Order(i)) { User = new { email = $"p{i}@example.com" } }));

    private EventQueueReceiver Receiver() =>
        new(new QueueServiceClient(azurite.ConnectionString), _host.Service.DefaultQueue, 1, _host.Reader,
            new EventQueueReceiverOptions { VisibilityTimeout = TimeSpan.FromSeconds(1) });

    [Fact]
    public async Task ReadAllOpensEveryEventOfAPackedMessageInOrder()
    {
        var sent = await SendOrdersAsync(100);

        var message = Assert.Single(await _host.ReceiveMessagesAsync());
        var events = await _host.Reader.ReadAllAsync<Order>(message);

        Assert.Equal(sent.Ids, events.Select(e => e.InternalId));
        Assert.Equal(Enumerable.Range(0, 100), events.Select(e => e.Data.N));
        Assert.All(events, e => Assert.Equal($"p{e.Data.N}@example.com", e.User!.Value.GetProperty("email").GetString()));
    }

    [Fact]
    public async Task ReadAllReadsAnOrdinaryMessageAsOneEvent()
    {
        var sent = await SendOrdersAsync(1);

        var message = Assert.Single(await _host.ReceiveMessagesAsync());
        Assert.False(JsonDocument.Parse(message).RootElement.TryGetProperty("events", out _), "one event is a message of its own");

        var e = Assert.Single(await _host.Reader.ReadAllAsync<Order>(message.ToString()));
        Assert.Equal(sent.Ids[0], e.InternalId);
    }

    [Fact]
    public async Task ReadingAPackedMessageAsOneEventSaysToReadAll()
    {
        await SendOrdersAsync(3);

        var message = Assert.Single(await _host.ReceiveMessagesAsync());

        var error = await Assert.ThrowsAsync<EventFormatException>(() => _host.Reader.ReadAsync<Order>(message));
        Assert.Contains("3 events of a packed queue", error.Message, StringComparison.Ordinal);
        Assert.Contains("ReadAllAsync", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WhenOneEventFailsTheMessageComesBackAndTheInboxHandlesOnlyWhatWasLeft()
    {
        var sent = await SendOrdersAsync(10);
        var receiver = Receiver();
        var handled = new List<int>();
        var failOnce = true;
        Task Handle(ReceivedEvent<Order> e, CancellationToken ct) =>
            _host.Inbox.ProcessOnceAsync("orders", e, _ =>
            {
                if (e.Data.N == 6 && failOnce)
                {
                    failOnce = false;
                    throw new InvalidOperationException("handler failed");
                }
                lock (handled) handled.Add(e.Data.N);
                return Task.CompletedTask;
            }, ct);

        await Assert.ThrowsAsync<InvalidOperationException>(() => receiver.ReceiveAsync<Order>(Handle));
        Assert.Equal(Enumerable.Range(0, 6), handled.Order());

        // The message is back once its visibility timeout is over; the inbox drops the six already handled.
        var queue = new QueueClient(azurite.ConnectionString, _host.Service.DefaultQueue);
        await Waits.UntilAsync(async () => (await queue.PeekMessagesAsync(1)).Value, peeked => peeked.Length > 0);
        Assert.Equal(10, await receiver.ReceiveAsync<Order>(Handle));

        Assert.Equal(Enumerable.Range(0, 10), handled.Order());
        Assert.Equal(0, (await queue.GetPropertiesAsync()).Value.ApproximateMessagesCount);
        Assert.Equal(10, sent.Ids.Count);
    }
}
