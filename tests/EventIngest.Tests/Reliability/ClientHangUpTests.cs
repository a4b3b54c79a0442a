using EventIngest.Ingest;
using EventIngest.StorageFaults;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EventIngest.Tests.Reliability;

/// <summary>
/// A client that hangs up mid-batch: once the request has opened its outbox row it finishes its
/// sends, so the SDK's retry is answered <c>duplicate</c> truthfully and the repair job has
/// nothing to send again; and the hang-up is not logged as a storage outage.
/// </summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class ClientHangUpTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task AClientHangingUpMidBatchLeavesNoHalfSentRequestAndNoDuplicates()
    {
        await using var proxy = await StorageFaultProxy.StartAsync(azurite.ConnectionString);
        var logs = new CapturedLogs();
        var time = new ShiftedTime();
        await using var host = await TestHost.StartAsync(proxy.ConnectionString, azurite.NewStorageNamePrefix(), services: s =>
        {
            s.AddSingleton<ILoggerProvider>(logs);
            s.AddSingleton<TimeProvider>(time);
        });
        await host.Storage.EnsureCreatedAsync(default);
        // Sends take a while, so the client is gone long before the last one.
        proxy.Add(new FaultRule { Service = StorageService.Queue, Operation = StorageOperation.QueueSend, Kind = FaultKind.Latency, Delay = TimeSpan.FromMilliseconds(30) });
        var firstSend = new TaskCompletionSource();
        proxy.RequestSeen += r => { if (r.Operation == StorageOperation.QueueSend) firstSend.TrySetResult(); };

        const int count = 3000;
        var body = "[" + string.Join(',', Enumerable.Range(0, count).Select(i => "{\"name\":\"app/hangup\",\"data\":{\"i\":" + i + "}}")) + "]";
        var headers = Seeds.Header(Seeds.Other);
        using (var hangUp = new CancellationTokenSource())
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "e/key") { Content = new StringContent(body) };
            foreach (var (k, v) in headers) request.Headers.Add(k, v);
            var sending = host.Client.SendAsync(request, hangUp.Token);
            await firstSend.Task.WaitAsync(TimeSpan.FromSeconds(30));
            await Task.Delay(300);
            await hangUp.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sending);
        }

        // The SDK retries the same request; it waits for the first attempt's sends if they are still going.
        var retry = await TestHost.JsonAsync(await host.SendAsync(body, headers: headers));
        Assert.Equal(200, retry.GetProperty("status").GetInt32());
        Assert.All(retry.GetProperty("events").EnumerateArray(), e => Assert.Equal("duplicate", e.GetProperty("outcome").GetString()));

        Assert.Equal(count, await host.WaitForMessagesAsync(count, TimeSpan.FromSeconds(60)));
        Assert.Empty(await Waits.UntilAsync(() => host.RowsAsync(host.Storage.Outbox), rows => rows.Count == 0));
        time.Offset = TimeSpan.FromMinutes(3);
        Assert.Equal(0, await host.Services.GetRequiredService<Jobs>().RepairOutboxAsync(default));
        var messages = await host.ReceiveAllAsync();
        Assert.Equal(count, messages.Count);
        Assert.Equal(count, messages.Select(m => m.GetProperty("internal_id").GetString()).Distinct().Count());
        Assert.DoesNotContain(logs.Entries, e => e.Text.Contains("Storage unavailable", StringComparison.Ordinal));
    }
}
