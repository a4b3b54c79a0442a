using System.Collections.Concurrent;
using System.Diagnostics;
using Azure;
using Azure.Core;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using EventIngest.StorageFaults;

namespace EventIngest.Tests.Infrastructure;

/// <summary>
/// The fault proxy against the real Azurite, driven by the Azure SDK clients as the service uses them: every fault
/// kind does what it says (and only to the requests its rule names), and plain forwarding keeps SharedKey requests
/// valid for all three services.
/// </summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class StorageFaultProxyTests(AzuriteFixture azurite)
{
    // What should take no time at all, with room for a loaded machine; well under the 30 s a held
    // request's client waits.
    private static readonly TimeSpan Quick = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task ForwardsAllThreeServicesAndClassifiesEachOperation()
    {
        await using var proxy = await StorageFaultProxy.StartAsync(azurite.ConnectionString);
        var seen = new ConcurrentQueue<ProxiedRequest>();
        proxy.RequestSeen += seen.Enqueue;
        var name = azurite.NewStorageNamePrefix();

        var table = TableThrough(proxy, name);
        await table.CreateAsync();
        await table.AddEntityAsync(new TableEntity("p", "r1") { ["V"] = "one" });
        await table.UpdateEntityAsync(new TableEntity("p", "r1") { ["V"] = "uno" }, ETag.All, TableUpdateMode.Merge);
        Assert.Equal("uno", (await table.GetEntityAsync<TableEntity>("p", "r1")).Value.GetString("V"));
        await table.SubmitTransactionAsync([new(TableTransactionActionType.Add, new TableEntity("p", "r2")), new(TableTransactionActionType.UpsertReplace, new TableEntity("p", "r3"))]);
        Assert.Equal(["r1", "r2", "r3"], (await ToListAsync(table.QueryAsync<TableEntity>(e => e.PartitionKey == "p"))).Select(e => e.RowKey));
        await table.DeleteEntityAsync("p", "r3");

        var queue = QueueThrough(proxy, name);
        await queue.CreateAsync();
        await queue.SendMessageAsync("hello");
        Assert.Equal("hello", (await queue.PeekMessageAsync()).Value.MessageText);
        var received = (await queue.ReceiveMessageAsync()).Value;
        Assert.Equal("hello", received.MessageText);
        var updated = (await queue.UpdateMessageAsync(received.MessageId, received.PopReceipt, "hello again", TimeSpan.Zero)).Value;
        await queue.DeleteMessageAsync(received.MessageId, updated.PopReceipt);

        var container = ContainerThrough(proxy, name);
        await container.CreateAsync();
        var payload = new byte[300_000];
        Random.Shared.NextBytes(payload);
        var blob = container.GetBlobClient("a/b.bin");
        await blob.UploadAsync(new BinaryData(payload));
        Assert.Equal(payload, (await blob.DownloadContentAsync()).Value.Content.ToArray());
        Assert.Equal(payload.Length, (await blob.GetPropertiesAsync()).Value.ContentLength);
        await blob.DeleteAsync();

        var operations = seen.Select(r => r.Operation).ToList();
        Assert.Equal(
            [
                StorageOperation.TableOther, StorageOperation.TableInsert, StorageOperation.TableUpdate, StorageOperation.TableRead,
                StorageOperation.TableBatch, StorageOperation.TableRead, StorageOperation.TableDelete,
                StorageOperation.QueueOther, StorageOperation.QueueSend, StorageOperation.QueuePeek, StorageOperation.QueueReceive,
                StorageOperation.QueueUpdateMessage, StorageOperation.QueueDeleteMessage,
                StorageOperation.BlobOther, StorageOperation.BlobWrite, StorageOperation.BlobRead, StorageOperation.BlobRead, StorageOperation.BlobOther,
            ],
            operations);
        Assert.Equal(operations.Count, proxy.Forwarded);
        Assert.All(proxy.Injected.Values, count => Assert.Equal(0, count));
        Assert.Contains("/devstoreaccount1", proxy.ConnectionString, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LatencyDelaysTheRequestByAtLeastDelayAndThenForwards()
    {
        await using var proxy = await StorageFaultProxy.StartAsync(azurite.ConnectionString);
        var table = await NewTableAsync(proxy);
        await table.AddEntityAsync(new TableEntity("p", "r"));
        var rule = proxy.Add(new FaultRule { Operation = StorageOperation.TableRead, Kind = FaultKind.Latency, Delay = TimeSpan.FromMilliseconds(400) });

        var watch = Stopwatch.StartNew();
        await table.GetEntityAsync<TableEntity>("p", "r");
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(390), $"took {watch.Elapsed}");
        Assert.Equal(1, rule.Applied);
        Assert.Equal(1, proxy.Injected[FaultKind.Latency]);
    }

    [Fact]
    public async Task ServerBusyAnswers503InEachServicesFormatAndNothingLands()
    {
        await using var proxy = await StorageFaultProxy.StartAsync(azurite.ConnectionString);
        var table = await NewTableAsync(proxy);
        var queue = await NewQueueAsync(proxy);
        proxy.Add(new FaultRule { Operation = StorageOperation.TableInsert, Kind = FaultKind.ServerBusy });
        proxy.Add(new FaultRule { Operation = StorageOperation.QueueSend, Kind = FaultKind.ServerBusy });
        var forwarded = proxy.Forwarded;

        var tableError = await Assert.ThrowsAsync<RequestFailedException>(() => table.AddEntityAsync(new TableEntity("p", "r")));
        Assert.Equal(503, tableError.Status);
        Assert.Equal("ServerBusy", tableError.ErrorCode);
        var queueError = await Assert.ThrowsAsync<RequestFailedException>(() => queue.SendMessageAsync("m"));
        Assert.Equal(503, queueError.Status);
        Assert.Equal("ServerBusy", queueError.ErrorCode);

        Assert.Equal(forwarded, proxy.Forwarded);
        Assert.Equal(2, proxy.Injected[FaultKind.ServerBusy]);
        Assert.Empty(await ToListAsync(Direct(table).QueryAsync<TableEntity>()));
        Assert.Empty((await Direct(queue).PeekMessagesAsync(32)).Value);
        // The connection stays usable after an injected answer.
        proxy.Clear();
        await table.AddEntityAsync(new TableEntity("p", "r"));
    }

    [Fact]
    public async Task InternalErrorAnswers500AndNothingLands()
    {
        await using var proxy = await StorageFaultProxy.StartAsync(azurite.ConnectionString);
        var container = ContainerThrough(proxy, azurite.NewStorageNamePrefix());
        await container.CreateAsync();
        proxy.Add(new FaultRule { Service = StorageService.Blob, Operation = StorageOperation.BlobWrite, Kind = FaultKind.InternalError });

        var error = await Assert.ThrowsAsync<RequestFailedException>(() => container.GetBlobClient("b").UploadAsync(new BinaryData("x"u8.ToArray())));
        Assert.Equal(500, error.Status);
        Assert.Equal("InternalError", error.ErrorCode);
        Assert.False((await Direct(container).GetBlobClient("b").ExistsAsync()).Value);
        Assert.Equal(1, proxy.Injected[FaultKind.InternalError]);
    }

    [Fact]
    public async Task ResetBeforeForwardDropsTheConnectionAndTheWriteNeverLands()
    {
        await using var proxy = await StorageFaultProxy.StartAsync(azurite.ConnectionString);
        var table = await NewTableAsync(proxy);
        proxy.Add(new FaultRule { Operation = StorageOperation.TableInsert, Kind = FaultKind.ResetBeforeForward });

        var error = await Assert.ThrowsAsync<RequestFailedException>(() => table.AddEntityAsync(new TableEntity("p", "r")));
        Assert.Equal(0, error.Status); // a transport failure, no answer
        Assert.Empty(await ToListAsync(Direct(table).QueryAsync<TableEntity>()));

        // With one reset and the SDK's retries the insert succeeds exactly once.
        proxy.Clear();
        proxy.Add(new FaultRule { Operation = StorageOperation.TableInsert, Kind = FaultKind.ResetBeforeForward, Times = 1 });
        await TableThrough(proxy, table.Name, retries: 2).AddEntityAsync(new TableEntity("p", "r"));
        Assert.Single(await ToListAsync(Direct(table).QueryAsync<TableEntity>()));
        Assert.Equal(2, proxy.Injected[FaultKind.ResetBeforeForward]);
    }

    [Fact]
    public async Task ResetAfterForwardOnTableInsertLandsAndTheRetryGets409()
    {
        await using var proxy = await StorageFaultProxy.StartAsync(azurite.ConnectionString);
        var name = (await NewTableAsync(proxy)).Name;
        var rule = proxy.Add(new FaultRule { Operation = StorageOperation.TableInsert, Kind = FaultKind.ResetAfterForward, Times = 1 });

        var table = TableThrough(proxy, name, retries: 2);
        var error = await Assert.ThrowsAsync<RequestFailedException>(() => table.AddEntityAsync(new TableEntity("p", "r") { ["V"] = 1 }));
        Assert.Equal(409, error.Status);
        Assert.Equal("EntityAlreadyExists", error.ErrorCode);
        Assert.Equal(1, (await Direct(table).GetEntityAsync<TableEntity>("p", "r")).Value.GetInt32("V"));
        Assert.Equal(1, rule.Applied);
    }

    [Fact]
    public async Task ResetAfterForwardOnTableBatchLandsAndTheRetryFailsTheTransaction()
    {
        await using var proxy = await StorageFaultProxy.StartAsync(azurite.ConnectionString);
        var name = (await NewTableAsync(proxy)).Name;
        proxy.Add(new FaultRule { Operation = StorageOperation.TableBatch, Kind = FaultKind.ResetAfterForward, Times = 1 });

        var table = TableThrough(proxy, name, retries: 2);
        var error = await Assert.ThrowsAnyAsync<RequestFailedException>(() => table.SubmitTransactionAsync(
            [new(TableTransactionActionType.Add, new TableEntity("p", "r1")), new(TableTransactionActionType.Add, new TableEntity("p", "r2"))]));
        Assert.Equal(409, error.Status);
        Assert.Equal("EntityAlreadyExists", error.ErrorCode);
        Assert.Equal(2, (await ToListAsync(Direct(table).QueryAsync<TableEntity>())).Count);
        Assert.Equal(1, proxy.Injected[FaultKind.ResetAfterForward]);
    }

    [Fact]
    public async Task ResetAfterForwardOnQueueSendLeavesTwoMessages()
    {
        await using var proxy = await StorageFaultProxy.StartAsync(azurite.ConnectionString);
        var name = (await NewQueueAsync(proxy)).Name;
        proxy.Add(new FaultRule { Operation = StorageOperation.QueueSend, Kind = FaultKind.ResetAfterForward, Times = 1 });

        var queue = QueueThrough(proxy, name, retries: 2);
        await queue.SendMessageAsync("once");
        var messages = (await Direct(queue).PeekMessagesAsync(32)).Value;
        Assert.Equal(["once", "once"], messages.Select(m => m.MessageText));
    }

    [Fact]
    public async Task TimeoutHoldsTheRequestUntilTheClientGivesUpAndNothingLands()
    {
        await using var proxy = await StorageFaultProxy.StartAsync(azurite.ConnectionString);
        var name = (await NewTableAsync(proxy)).Name;
        proxy.Add(new FaultRule { Operation = StorageOperation.TableInsert, Kind = FaultKind.Timeout });
        var forwarded = proxy.Forwarded;

        var table = TableThrough(proxy, name, retries: 0, timeout: TimeSpan.FromSeconds(1));
        var watch = Stopwatch.StartNew();
        var error = await Assert.ThrowsAnyAsync<Exception>(() => table.AddEntityAsync(new TableEntity("p", "r")));
        Assert.True(error is OperationCanceledException or RequestFailedException, error.ToString());
        // Held until the client gave up (the proxy never answers it: that it came back at all is the client's timeout).
        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(0.9), $"answered after {watch.Elapsed}");
        Assert.Equal(forwarded, proxy.Forwarded);
        Assert.Equal(1, proxy.Injected[FaultKind.Timeout]);
        Assert.Empty(await ToListAsync(Direct(table).QueryAsync<TableEntity>()));
    }

    [Fact]
    public async Task DisposeEndsHeldRequests()
    {
        var proxy = await StorageFaultProxy.StartAsync(azurite.ConnectionString);
        var name = (await NewTableAsync(proxy)).Name;
        proxy.Add(new FaultRule { Operation = StorageOperation.TableRead, Kind = FaultKind.Timeout });
        var arrived = new TaskCompletionSource();
        proxy.RequestSeen += r => { if (r.Operation == StorageOperation.TableRead) arrived.TrySetResult(); };

        var held = TableThrough(proxy, name, timeout: TimeSpan.FromSeconds(30)).GetEntityIfExistsAsync<TableEntity>("p", "r");
        await arrived.Task.WaitAsync(Quick);
        var watch = Stopwatch.StartNew();
        await proxy.DisposeAsync().AsTask().WaitAsync(Quick);
        await Assert.ThrowsAnyAsync<Exception>(async () => await held.WaitAsync(Quick));
        Assert.True(watch.Elapsed < Quick, $"took {watch.Elapsed}");
    }

    [Fact]
    public async Task IsCutResetsLiveConnectionsAndNewOnesUntilRestored()
    {
        await using var proxy = await StorageFaultProxy.StartAsync(azurite.ConnectionString);
        var table = await NewTableAsync(proxy);
        await table.AddEntityAsync(new TableEntity("p", "r")); // a kept-alive connection now exists

        // A request in flight (held by a latency) is reset at once when storage goes away, and never lands later.
        proxy.Add(new FaultRule { Operation = StorageOperation.TableInsert, Kind = FaultKind.Latency, Delay = TimeSpan.FromSeconds(1) });
        var arrived = new TaskCompletionSource();
        proxy.RequestSeen += r => { if (r.Operation == StorageOperation.TableInsert) arrived.TrySetResult(); };
        var inFlight = table.AddEntityAsync(new TableEntity("p", "late"));
        await arrived.Task.WaitAsync(Quick);
        var watch = Stopwatch.StartNew();
        proxy.IsCut = true;
        // Forwarded after its latency it would have succeeded: failing, it was reset.
        AssertNoAnswer(await Assert.ThrowsAnyAsync<Exception>(() => inFlight.WaitAsync(Quick)));
        proxy.Clear();

        var forwarded = proxy.Forwarded;
        AssertNoAnswer(await Assert.ThrowsAnyAsync<Exception>(() => table.AddEntityAsync(new TableEntity("p", "r2"))));
        Assert.Equal(forwarded, proxy.Forwarded);

        proxy.IsCut = false;
        await table.AddEntityAsync(new TableEntity("p", "r2"));
        var left = TimeSpan.FromSeconds(1.5) - watch.Elapsed;
        if (left > TimeSpan.Zero) await Task.Delay(left); // past the latency the cut request had left
        Assert.Equal(["r", "r2"], (await ToListAsync(Direct(table).QueryAsync<TableEntity>())).Select(e => e.RowKey));
    }

    [Fact]
    public async Task RulesMatchOnlyTheirServiceOperationAndFilter()
    {
        await using var proxy = await StorageFaultProxy.StartAsync(azurite.ConnectionString);
        var table = await NewTableAsync(proxy);
        var queue = await NewQueueAsync(proxy);
        var onSend = proxy.Add(new FaultRule { Operation = StorageOperation.QueueSend, Kind = FaultKind.ServerBusy });
        var onBlob = proxy.Add(new FaultRule { Service = StorageService.Blob, Kind = FaultKind.InternalError });
        var onOtherTable = proxy.Add(new FaultRule
        {
            Operation = StorageOperation.TableInsert,
            When = r => r.PathAndQuery.Contains("/nosuchtable", StringComparison.Ordinal),
            Kind = FaultKind.ServerBusy,
        });

        await table.AddEntityAsync(new TableEntity("p", "r"));
        await queue.PeekMessagesAsync();
        Assert.Equal(503, (await Assert.ThrowsAsync<RequestFailedException>(() => queue.SendMessageAsync("m"))).Status);
        Assert.Equal((1, 0, 0), (onSend.Applied, onBlob.Applied, onOtherTable.Applied));

        // The first rule that matches and fires applies; a later one for the same request does not.
        proxy.Remove(onSend);
        var first = proxy.Add(new FaultRule { Operation = StorageOperation.TableRead, Kind = FaultKind.InternalError });
        var second = proxy.Add(new FaultRule { Service = StorageService.Table, Kind = FaultKind.ServerBusy });
        Assert.Equal(500, (await Assert.ThrowsAsync<RequestFailedException>(() => table.GetEntityAsync<TableEntity>("p", "r"))).Status);
        Assert.Equal((1, 0), (first.Applied, second.Applied));
        await queue.SendMessageAsync("m");
    }

    [Fact]
    public async Task ProbabilityWithAFixedSeedIsReproducible()
    {
        async Task<string> PatternAsync(int seed)
        {
            await using var proxy = await StorageFaultProxy.StartAsync(azurite.ConnectionString, seed);
            var queue = await NewQueueAsync(proxy);
            proxy.Add(new FaultRule { Operation = StorageOperation.QueuePeek, Kind = FaultKind.ServerBusy, Probability = 0.5 });
            var pattern = new char[24];
            for (var i = 0; i < pattern.Length; i++)
            {
                try
                {
                    await queue.PeekMessagesAsync();
                    pattern[i] = '.';
                }
                catch (RequestFailedException e) when (e.Status == 503)
                {
                    pattern[i] = 'x';
                }
            }
            Assert.Equal(pattern.Count(c => c == 'x'), proxy.Injected[FaultKind.ServerBusy]);
            return new string(pattern);
        }

        var first = await PatternAsync(7);
        Assert.Equal(first, await PatternAsync(7));
        Assert.Contains('x', first);
        Assert.Contains('.', first);
        Assert.NotEqual(first, await PatternAsync(8));
    }

    [Fact]
    public async Task TimesLimitsHowOftenARuleApplies()
    {
        await using var proxy = await StorageFaultProxy.StartAsync(azurite.ConnectionString);
        var table = await NewTableAsync(proxy);
        await table.AddEntityAsync(new TableEntity("p", "r"));
        var rule = proxy.Add(new FaultRule { Operation = StorageOperation.TableRead, Kind = FaultKind.ServerBusy, Times = 2 });

        var outcomes = new List<int>();
        for (var i = 0; i < 4; i++)
        {
            try
            {
                await table.GetEntityAsync<TableEntity>("p", "r");
                outcomes.Add(200);
            }
            catch (RequestFailedException e)
            {
                outcomes.Add(e.Status);
            }
        }
        Assert.Equal([503, 503, 200, 200], outcomes);
        Assert.Equal(2, rule.Applied);
    }

    /// <summary>
    /// A dropped connection: usually RequestFailedException with status 0, but a connection reset right after it was
    /// accepted can surface as a bare SocketException (ENOTCONN from HttpClient reading the socket's remote end point),
    /// which Azure.Core does not wrap. The service's StorageErrors.IsTransient accepts both.
    /// </summary>
    private static void AssertNoAnswer(Exception error) =>
        Assert.True(error is RequestFailedException { Status: 0 } or System.Net.Sockets.SocketException or AggregateException, error.ToString());

    private static TableClient TableThrough(StorageFaultProxy proxy, string name, int retries = 0, TimeSpan? timeout = null)
    {
        var options = new TableClientOptions();
        Configure(options.Retry, retries, timeout);
        return new TableClient(proxy.ConnectionString, name, options);
    }

    private static QueueClient QueueThrough(StorageFaultProxy proxy, string name, int retries = 0)
    {
        var options = new QueueClientOptions();
        Configure(options.Retry, retries, null);
        return new QueueClient(proxy.ConnectionString, name, options);
    }

    private static BlobContainerClient ContainerThrough(StorageFaultProxy proxy, string name)
    {
        var options = new BlobClientOptions();
        Configure(options.Retry, 0, null);
        return new BlobContainerClient(proxy.ConnectionString, name, options);
    }

    private static void Configure(RetryOptions retry, int retries, TimeSpan? timeout)
    {
        retry.MaxRetries = retries;
        retry.Mode = RetryMode.Fixed;
        retry.Delay = TimeSpan.FromMilliseconds(20);
        retry.NetworkTimeout = timeout ?? Quick;
    }

    private async Task<TableClient> NewTableAsync(StorageFaultProxy proxy)
    {
        var table = TableThrough(proxy, azurite.NewStorageNamePrefix());
        await table.CreateAsync();
        return table;
    }

    private async Task<QueueClient> NewQueueAsync(StorageFaultProxy proxy)
    {
        var queue = QueueThrough(proxy, azurite.NewStorageNamePrefix());
        await queue.CreateAsync();
        return queue;
    }

    private TableClient Direct(TableClient table) => new(azurite.ConnectionString, table.Name);

    private QueueClient Direct(QueueClient queue) => new(azurite.ConnectionString, queue.Name);

    private BlobContainerClient Direct(BlobContainerClient container) => new(azurite.ConnectionString, container.Name);

    private static async Task<List<T>> ToListAsync<T>(AsyncPageable<T> items)
        where T : notnull
    {
        var list = new List<T>();
        await foreach (var item in items) list.Add(item);
        return list;
    }
}

