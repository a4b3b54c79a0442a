extern alias sample;
using System.Text.Json;
using EventIngest.Ingest;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using EventIngest.Storage;
using OnOrderPlaced = sample::ConsumerFunctions.OnOrderPlaced;
using OrderPlaced = sample::ConsumerFunctions.OrderPlaced;
using Receipts = sample::ConsumerFunctions.Receipts;

namespace EventIngest.Client.Tests.Consumer;

/// <summary>The sample consumer app: what the Functions host will load, and its function on real messages.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class SampleFunctionsTests(AzuriteFixture azurite)
{
    [Fact]
    public void MetadataDeclaresAQueueTriggerPerShardAndTheTimerTrigger()
    {
        using var metadata = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "functions.metadata")));
        var functions = metadata.RootElement.EnumerateArray().ToDictionary(f => f.GetProperty("name").GetString()!, f => f.GetProperty("bindings")[0]);
        var triggers = functions.Where(f => f.Key.StartsWith(nameof(OnOrderPlaced), StringComparison.Ordinal)).Select(f => f.Value).ToList();

        Assert.Equal(QueueShards.Names(OnOrderPlaced.Queue, OnOrderPlaced.Shards).Order(), triggers.Select(t => t.GetProperty("queueName").GetString()).Order());
        Assert.Equal(["orders-0", "orders-1", "orders-2", "orders-3"], QueueShards.Names(OnOrderPlaced.Queue, OnOrderPlaced.Shards));
        Assert.All(triggers, t =>
        {
            Assert.Equal("queueTrigger", t.GetProperty("type").GetString());
            Assert.Equal("EventIngestStorage", t.GetProperty("connection").GetString());
        });
        Assert.Equal("timerTrigger", functions["PurgeInbox"].GetProperty("type").GetString());
    }

    [Fact]
    public async Task OnOrderPlacedHandlesARealMessageOnceEvenWhenDeliveredTwice()
    {
        await using var host = await ConsumerHost.StartAsync(azurite);
        await host.Client().SendAsync(new Event<OrderPlaced>(OrderPlaced.EventName, new OrderPlaced("o-7", 10m))
        {
            User = new { external_id = "c-7", email = "c7@example.com" },
        });
        var message = Assert.Single(await host.ReceiveMessagesAsync()).ToString();
        using var logs = new CapturedLogs();
        using var loggers = new LoggerFactory([logs]);
        var function = new OnOrderPlaced(host.Reader, host.Inbox, new Receipts(loggers.CreateLogger<Receipts>()));

        await function.Run(message, CancellationToken.None);
        await function.Run(message, CancellationToken.None);

        // The receipt went out once: the second delivery found the event done.
        var receipt = Assert.Single(logs.Entries, e => e.Category == typeof(Receipts).FullName);
        Assert.Contains("Order o-7 (", receipt.Text, StringComparison.Ordinal);
        Assert.Contains("): receipt for 10 sent", receipt.Text, StringComparison.Ordinal);
        var row = Assert.Single(await host.Service.RowsAsync(host.Services.GetTableClient(host.Service.Prefix + "inbox")));
        Assert.Equal("done", row.GetString("State"));
        Assert.Equal(OrderPlaced.EventName, row.GetString("Name"));
    }
}
