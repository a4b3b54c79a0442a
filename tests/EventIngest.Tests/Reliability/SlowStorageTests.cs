using System.Net;
using EventIngest.Ingest;
using EventIngest.StorageFaults;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace EventIngest.Tests.Reliability;

/// <summary>
/// G1 under slow storage: a request whose record writes are still on their way when the repair
/// job takes it over must not leave records behind that nobody sends, and a retry must not answer
/// <c>duplicate</c> for events that never reach their queue.
/// </summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class SlowStorageTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task RecordWritesLandingAfterTheRepairTookTheRequestOverAreNeverLost()
    {
        await using var proxy = await StorageFaultProxy.StartAsync(azurite.ConnectionString);
        var time = new ShiftedTime();
        var prefix = azurite.NewStorageNamePrefix();
        await using var host = await TestHost.StartAsync(proxy.ConnectionString, prefix,
            new Dictionary<string, string?> { ["EventIngest:Repair:RepairAfter"] = "00:00:10", ["EventIngest:Storage:OperationTimeout"] = "00:00:30" },
            s => s.AddSingleton<TimeProvider>(time));
        await host.Storage.EnsureCreatedAsync(default);
        var jobs = host.Services.GetRequiredService<Jobs>();

        // The request's three record transactions are held 7 s (past its 5 s deadline) before they reach storage, then land.
        var slow = proxy.Add(new FaultRule { Service = StorageService.Table, Operation = StorageOperation.TableBatch, Kind = FaultKind.Latency, Delay = TimeSpan.FromSeconds(7), Times = 3 });
        var body = "[" + string.Join(',', Enumerable.Range(0, 300).Select(i => "{\"name\":\"app/slow\",\"data\":{\"i\":" + i + "}}")) + "]";
        var headers = Seeds.Header(Seeds.Other);
        var held = new TaskCompletionSource();
        proxy.RequestSeen += r => { if (r.Operation == StorageOperation.TableBatch) held.TrySetResult(); };
        var first = host.SendAsync(body, headers: headers);

        // While the writes are held, the repair job takes the request over (it is past RepairAfter by its clock).
        await held.Task.WaitAsync(Waits.Generous); // the outbox row is in place; the record writes are held
        time.Offset = TimeSpan.FromSeconds(20);
        await jobs.RepairOutboxAsync(default);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await first).StatusCode);

        proxy.Remove(slow);
        var retry = await host.SendAsync(body, headers: headers);
        Assert.Equal(HttpStatusCode.OK, retry.StatusCode);
        var ids = (await TestHost.JsonAsync(retry)).GetProperty("ids").EnumerateArray().Select(i => i.GetString()!).ToHashSet();

        // Within RepairAfter plus one repair pass, every acknowledged id is on the queue.
        time.Offset = TimeSpan.FromSeconds(60);
        await jobs.RepairOutboxAsync(default);
        var delivered = (await host.ReceiveAllAsync()).Select(m => m.GetProperty("internal_id").GetString()!).ToHashSet();
        Assert.Empty(ids.Except(delivered));
        Assert.Equal(300, ids.Count);
        Assert.Empty(await host.RowsAsync(host.Storage.Outbox));
    }
}
