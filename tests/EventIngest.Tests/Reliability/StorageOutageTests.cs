using System.Collections.Concurrent;
using System.Net;
using EventIngest.Ingest;
using EventIngest.StorageFaults;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using EventIngest.Ids;

namespace EventIngest.Tests.Reliability;

/// <summary>
/// Storage drops away in the middle of load and comes back. While it is gone every answer is a
/// prompt 503 with Retry-After (never a 500, never a hang); clients retry the same requests; and
/// afterwards every acknowledged event is on its queue.
/// </summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class StorageOutageTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task OutageMidLoadAnswers503PromptlyAndLosesNothingAcknowledged()
    {
        await using var proxy = await StorageFaultProxy.StartAsync(azurite.ConnectionString);
        var time = new ShiftedTime();
        await using var host = await TestHost.StartAsync(proxy.ConnectionString, azurite.NewStorageNamePrefix(),
            new Dictionary<string, string?> { ["EventIngest:Storage:OperationTimeout"] = "00:00:02" },
            s => s.AddSingleton<TimeProvider>(time));

        var statuses = new ConcurrentBag<(int Status, bool RetryAfter)>();
        var refusedDuringOutage = 0;
        var acknowledged = new ConcurrentBag<string>();
        var outageOver = new TaskCompletionSource();
        var expected = 0;
        // Storage goes away once load flows, and stays away until requests have been answered 503
        // while it is still away: the answer does not wait for storage to come back.
        var outage = Task.Run(async () =>
        {
            await Waits.UntilAsync(() => Task.FromResult(statuses.Count), n => n >= 16);
            proxy.IsCut = true;
            await Waits.UntilAsync(() => Task.FromResult(Volatile.Read(ref refusedDuringOutage)), n => n >= 8);
            proxy.IsCut = false;
            outageOver.SetResult();
        });
        var senders = Enumerable.Range(0, 8).Select(sender => Task.Run(async () =>
        {
            // At least 20 requests each, and on until the outage is over, however fast they go.
            for (var request = 0; request < 20 || !outageOver.Task.IsCompleted; request++)
            {
                var size = 1 + ((sender + request) % 5);
                Interlocked.Add(ref expected, size);
                var body = "[" + string.Join(',', Enumerable.Range(0, size).Select(i =>
                    i == 0 ? $$"""{"name":"app/outage","id":"s{{sender}}-r{{request}}"}""" : """{"name":"app/outage"}""")) + "]";
                var seed = new Dictionary<string, string> { [IdSeed.HeaderName] = $"{1_750_000_000_000 + (sender * 1000) + request},{Convert.ToBase64String(new byte[] { (byte)sender, (byte)request, 0, 0, 0, 0, 0, 0, 0, 0 })}" };
                while (true)
                {
                    var response = await host.SendAsync(body, headers: seed);
                    if (response.StatusCode == HttpStatusCode.ServiceUnavailable && proxy.IsCut) Interlocked.Increment(ref refusedDuringOutage);
                    statuses.Add(((int)response.StatusCode, response.Headers.RetryAfter?.Delta > TimeSpan.Zero));
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        foreach (var id in (await TestHost.JsonAsync(response)).GetProperty("ids").EnumerateArray()) acknowledged.Add(id.GetString()!);
                        break;
                    }
                    await Task.Delay(200);
                }
            }
        })).ToList();
        await Task.WhenAll(senders.Append(outage));

        Assert.All(statuses, s => Assert.True(s.Status is 200 or 503, $"answered {s.Status}"));
        Assert.Contains(statuses, s => s.Status == 503);
        Assert.All(statuses.Where(s => s.Status == 503), s => Assert.True(s.RetryAfter, "503 without Retry-After"));
        Assert.True(refusedDuringOutage >= 8, $"{refusedDuringOutage} requests answered 503 while storage was away");

        // Requests that died part-way left outbox rows; the repair completes them once they are old enough.
        time.Offset = TimeSpan.FromMinutes(3);
        await host.Services.GetRequiredService<Jobs>().RepairOutboxAsync(default);
        Assert.Empty(await host.RowsAsync(host.Storage.Outbox));
        var delivered = (await host.ReceiveAllAsync()).Select(m => m.GetProperty("internal_id").GetString()!).ToHashSet();
        var missing = acknowledged.Distinct().Where(id => !delivered.Contains(id)).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} acknowledged events missing, e.g. {missing.FirstOrDefault()}");
        Assert.Equal(expected, acknowledged.Distinct().Count());
    }
}
