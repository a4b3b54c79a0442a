using Azure.Data.Tables;
using EventIngest.Consumer;
using EventIngest.StorageFaults;
using EventIngest.Tests.Infrastructure;

namespace EventIngest.Client.Tests.Consumer;

[Collection(AzuriteFixture.CollectionName)]
public sealed class EventInboxTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private ConsumerHost _host = null!;

    public async Task InitializeAsync() => _host = await ConsumerHost.StartAsync(azurite);

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private async Task<ReceivedEvent> OneEventAsync()
    {
        await _host.Client().SendAsync(new Event("app/order.placed") { User = new { external_id = "u-1" } });
        return await _host.Reader.ReadAsync(Assert.Single(await _host.ReceiveMessagesAsync()).ToString());
    }

    private EventInbox InboxAt(TimeProvider time) =>
        new(_host.Services.GetTableClient(_host.Service.Prefix + "inbox"), new EventConsumerOptions(), time);

    [Fact]
    public async Task ARepeatedDeliveryIsDropped()
    {
        var e = await OneEventAsync();
        var runs = 0;

        var first = await _host.Inbox.ProcessOnceAsync("billing", e, _ => Task.FromResult(Interlocked.Increment(ref runs)));
        var second = await _host.Inbox.ProcessOnceAsync("billing", e, _ => Task.FromResult(Interlocked.Increment(ref runs)));

        Assert.True(first);
        Assert.False(second);
        Assert.Equal(1, runs);
    }

    [Theory]
    [InlineData(false, FaultKind.ResetAfterForward)]
    [InlineData(true, FaultKind.ResetAfterForward)]
    [InlineData(false, FaultKind.ServerBusy)]
    [InlineData(true, FaultKind.ServerBusy)]
    [InlineData(false, FaultKind.Latency)]
    public async Task AClaimThatLandsWhileItsAnswerIsLostStillRunsTheHandler(bool takingOverAnExpiredLease, FaultKind kind)
    {
        var e = await OneEventAsync();
        var time = new ShiftedTime();
        await using var proxy = await StorageFaultProxy.StartAsync(azurite.ConnectionString);
        var table = _host.Service.Prefix + "inbox";
        var inbox = new EventInbox(new TableServiceClient(proxy.ConnectionString).GetTableClient(table), new EventConsumerOptions(), time);
        if (takingOverAnExpiredLease)
        {
            // A delivery that claimed the event and died: its claim stays, and its lease has run out when this one comes.
            var direct = _host.Services.GetTableClient(table);
            TableEntity? held = null;
            await Assert.ThrowsAsync<InvalidOperationException>(() => inbox.ProcessOnceAsync("billing", e, async ct =>
            {
                held = Assert.Single(await direct.QueryAsync<TableEntity>(cancellationToken: ct).ToListAsync(ct));
                throw new InvalidOperationException();
            }));
            await direct.UpsertEntityAsync(held!);
            time.Offset = new EventConsumerOptions().InboxLease + TimeSpan.FromSeconds(1);
        }
        // The claim's write (an insert, or the takeover's update) lands with its answer lost, is throttled, or is slow.
        var lost = proxy.Add(new FaultRule
        {
            Service = StorageService.Table,
            Operation = takingOverAnExpiredLease ? StorageOperation.TableUpdate : StorageOperation.TableInsert,
            Kind = kind,
            Delay = TimeSpan.FromSeconds(3),
            Times = 1,
            When = r => r.PathAndQuery.Contains(table, StringComparison.Ordinal),
        });
        var runs = 0;

        var handled = await inbox.ProcessOnceAsync("billing", e, _ => Task.FromResult(Interlocked.Increment(ref runs)));

        Assert.Equal(1, lost.Applied);
        Assert.True(handled);
        Assert.Equal(1, runs);
        Assert.False(await inbox.ProcessOnceAsync("billing", e, _ => Task.FromResult(Interlocked.Increment(ref runs))));
    }

    [Fact]
    public async Task ConcurrentDeliveriesRunTheHandlerOnce()
    {
        var e = await OneEventAsync();
        var runs = 0;

        var handled = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => _host.Inbox.ProcessOnceAsync("billing", e, async ct =>
        {
            Interlocked.Increment(ref runs);
            await Task.Delay(200, ct);
        })));

        Assert.Equal(1, runs);
        Assert.Single(handled, h => h);
    }

    [Fact]
    public async Task EachConsumerHandlesTheEventOnce()
    {
        var e = await OneEventAsync();

        Assert.True(await _host.Inbox.ProcessOnceAsync("billing", e, _ => Task.CompletedTask));
        Assert.True(await _host.Inbox.ProcessOnceAsync("shipping", e, _ => Task.CompletedTask));
        Assert.False(await _host.Inbox.ProcessOnceAsync("shipping", e, _ => Task.CompletedTask));
    }

    [Fact]
    public async Task AFailedHandlerLetsTheNextDeliveryRunIt()
    {
        var e = await OneEventAsync();

        await Assert.ThrowsAsync<InvalidOperationException>(() =>
            _host.Inbox.ProcessOnceAsync("billing", e, _ => throw new InvalidOperationException("payment service down")));
        var retried = await _host.Inbox.ProcessOnceAsync("billing", e, _ => Task.CompletedTask);

        Assert.True(retried);
    }

    [Fact]
    public async Task AClaimWhoseHolderCrashedIsTakenOverAfterTheLease()
    {
        var e = await OneEventAsync();
        var time = new ShiftedTime();
        var inbox = InboxAt(time);
        var holding = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        // The first delivery holds its claim and never finishes, like a process that died mid-handler.
        var stuck = inbox.ProcessOnceAsync("billing", e, async _ =>
        {
            holding.SetResult();
            await release.Task;
        });
        await holding.Task;

        Assert.False(await inbox.ProcessOnceAsync("billing", e, _ => Task.CompletedTask));
        time.Offset = new EventConsumerOptions().InboxLease + TimeSpan.FromSeconds(1);
        Assert.True(await inbox.ProcessOnceAsync("billing", e, _ => Task.CompletedTask));

        release.SetResult();
        await stuck;
    }

    [Fact]
    public async Task PurgeRemovesRowsOlderThanTheRetention()
    {
        var e = await OneEventAsync();
        await _host.Inbox.ProcessOnceAsync("billing", e, _ => Task.CompletedTask);
        var table = _host.Services.GetTableClient(_host.Service.Prefix + "inbox");

        Assert.Equal(0, await _host.Inbox.PurgeAsync());
        var later = InboxAt(new ShiftedTime { Offset = TimeSpan.FromDays(9) });
        Assert.Equal(1, await later.PurgeAsync());

        Assert.Empty(await _host.Service.RowsAsync(table));
        Assert.True(await _host.Inbox.ProcessOnceAsync("billing", e, _ => Task.CompletedTask));
    }

    [Fact]
    public async Task ConsumerNamesMustBeSafeInATableKey()
    {
        var e = await OneEventAsync();

        await Assert.ThrowsAsync<ArgumentException>(() => _host.Inbox.ProcessOnceAsync("a|b", e, _ => Task.CompletedTask));
    }
}

internal static class ConsumerServices
{
    public static TableClient GetTableClient(this IServiceProvider services, string name) =>
        ((TableServiceClient)services.GetService(typeof(TableServiceClient))!).GetTableClient(name);
}
