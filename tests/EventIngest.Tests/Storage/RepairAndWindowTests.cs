using System.Net;
using EventIngest.Ingest;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace EventIngest.Tests.Storage;

[Collection(AzuriteFixture.CollectionName)]
public sealed class RepairAndWindowTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task EventsRecordedByARequestThatCouldNotEnqueueAreDeliveredByTheRepairJob()
    {
        var headers = Seeds.Header();
        const string batch = """[{"name":"app/a"},{"name":"app/b","id":"order-7"},{"name":"app/c"}]""";

        // The queues are down: the request records its events, cannot enqueue, and answers 503.
        await using var died = await DiedRequest.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(), batch, headers);
        var host = died.Host;
        Assert.Equal(3, (await host.RowsAsync(host.Storage.Events)).Count);
        Assert.Single(await host.RowsAsync(host.Storage.Outbox));

        // A client retry before the repair is told "duplicate" with the same ids: the repair owns delivery.
        var retry = await TestHost.JsonAsync(await host.SendAsync(batch, headers: headers));
        Assert.All(retry.GetProperty("events").EnumerateArray(), e => Assert.Equal("duplicate", e.GetProperty("outcome").GetString()));
        Assert.Equal(0, await host.CountMessagesAsync());

        var jobs = host.Services.GetRequiredService<Jobs>();
        Assert.Equal(0, await jobs.RepairOutboxAsync(default)); // too young to be taken over
        Assert.Equal(3, await died.RepairAsync());

        var messages = await host.ReceiveAllAsync();
        Assert.Equal(retry.GetProperty("ids").EnumerateArray().Select(e => e.GetString()).Order(), messages.Select(m => m.GetProperty("internal_id").GetString()).Order());
        Assert.Empty(await host.RowsAsync(host.Storage.Outbox));
        Assert.Single(await host.RowsAsync(host.Storage.Idempotency));
        Assert.Equal(0, await jobs.RepairOutboxAsync(default));
    }

    [Fact]
    public async Task OutsideTheWindowTheSameIdIsANewEventAndOldClaimsAreCleanedUp()
    {
        var time = new ShiftedTime();
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(),
            new Dictionary<string, string?> { ["EventIngest:Ingest:IdempotencyWindow"] = "01:00:00" },
            s => s.AddSingleton<TimeProvider>(time));

        var first = await TestHost.JsonAsync(await host.SendAsync("""{"name":"app/x","id":"k"}"""));
        time.Offset = TimeSpan.FromMinutes(59);
        var inside = await TestHost.JsonAsync(await host.SendAsync("""{"name":"app/x","id":"k"}"""));
        Assert.Equal("duplicate", inside.GetProperty("events")[0].GetProperty("outcome").GetString());

        time.Offset = TimeSpan.FromMinutes(61);
        var outside = await TestHost.JsonAsync(await host.SendAsync("""{"name":"app/x","id":"k"}"""));
        Assert.Equal("accepted", outside.GetProperty("events")[0].GetProperty("outcome").GetString());
        Assert.NotEqual(first.GetProperty("ids")[0].GetString(), outside.GetProperty("ids")[0].GetString());
        Assert.Equal(2, await host.CountMessagesAsync());

        var jobs = host.Services.GetRequiredService<Jobs>();
        Assert.Equal(0, await jobs.DeleteExpiredClaimsAsync(default));
        time.Offset = TimeSpan.FromMinutes(125);
        Assert.Equal(1, await jobs.DeleteExpiredClaimsAsync(default));
        // Claims and their expiry rows are gone; only the cleanup's own state is left.
        Assert.All(await host.RowsAsync(host.Storage.Idempotency, withBookkeeping: true), r => Assert.StartsWith("~cleanup", r.PartitionKey, StringComparison.Ordinal));
    }
}
