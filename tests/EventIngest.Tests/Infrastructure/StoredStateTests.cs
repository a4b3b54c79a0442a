using Azure.Data.Tables;
using Xunit.Sdk;

namespace EventIngest.Tests.Infrastructure;

/// <summary>"Nothing stored" fails on storage that was never created and on anything stored anywhere the host
/// writes events: every shard of a routed queue, the due queue (an invisible marker included) and the schedule table.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class StoredStateTests(AzuriteFixture azurite)
{
    private Task<TestHost> StartRoutedAsync(string prefix) =>
        TestHost.StartAsync(azurite.ConnectionString, prefix, new Dictionary<string, string?>
        {
            ["EventIngest:Routing:DefaultShards"] = "2",
            ["EventIngest:Routing:Routes:0:Pattern"] = "app/order.*",
            ["EventIngest:Routing:Routes:0:Queue"] = prefix + "orders",
            ["EventIngest:Routing:Routes:0:Shards"] = "3",
        });

    [Fact]
    public async Task CreatedAndEmptyStorageIsNothingStored()
    {
        var prefix = azurite.NewStorageNamePrefix();
        await using var host = await StartRoutedAsync(prefix);
        await StoredState.CreateAsync(host);

        Assert.Equal([prefix + "events-0", prefix + "events-1", prefix + "orders-0", prefix + "orders-1", prefix + "orders-2", prefix + "due"], StoredState.QueuesOf(host));
        await StoredState.AssertNothingStoredAsync(host);
    }

    [Fact]
    public async Task StorageThatWasNeverCreatedIsNotNothingStored()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());

        var error = await Assert.ThrowsAnyAsync<XunitException>(() => StoredState.AssertNothingStoredAsync(host));

        // The tables may exist already (the host's release loop creates them as it starts); the queue an
        // event would go to is created by the first send only.
        Assert.Contains($"queue {host.DefaultQueue} does not exist", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("orders-2")]
    [InlineData("events-1")]
    [InlineData("due")]
    [InlineData("elsewhere")]
    public async Task AnInvisibleMessageOnAnyQueueOfTheHostIsFound(string queue)
    {
        var prefix = azurite.NewStorageNamePrefix();
        await using var host = await StartRoutedAsync(prefix);
        await StoredState.CreateAsync(host);
        var client = await host.Storage.ReadyQueueAsync(prefix + queue, default);
        await client.SendMessageAsync("stored", visibilityTimeout: TimeSpan.FromHours(1));

        var error = await Assert.ThrowsAnyAsync<XunitException>(() => StoredState.AssertNothingStoredAsync(host));
        Assert.Contains($"1 message(s) on queue {prefix + queue}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARowInTheScheduleTableIsFound()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        await StoredState.CreateAsync(host);
        await host.Storage.Schedule.AddEntityAsync(new TableEntity("dev|20900101", "row"));

        var error = await Assert.ThrowsAnyAsync<XunitException>(() => StoredState.AssertNothingStoredAsync(host));
        Assert.Contains($"row dev|20900101/row in table {host.Storage.Schedule.Name}", error.Message, StringComparison.Ordinal);
    }
}
