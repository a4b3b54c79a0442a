using System.Net;
using EventIngest.Ingest;
using EventIngest.Tests.Infrastructure;
using EventIngest.Ids;

namespace EventIngest.Tests.Reliability;

/// <summary>Two hosts on one storage account, as two instances in Azure: racing sends of one
/// idempotency key have exactly one winner, whichever instance each send reaches.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class TwoHostConcurrencyTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task TwoHundredSendsOfOneIdAcrossTwoHostsStoreAndEnqueueOnce()
    {
        var prefix = azurite.NewStorageNamePrefix();
        await using var a = await TestHost.StartAsync(azurite.ConnectionString, prefix);
        await using var b = await TestHost.StartAsync(azurite.ConnectionString, prefix);

        var answers = await SendConcurrentlyAsync(a, b, i => ("{\"name\":\"app/order.paid\",\"id\":\"order-4711\",\"data\":{\"attempt\":" + i + "}}", null));

        var id = Assert.Single(answers.Select(x => x.Id).Distinct());
        Assert.Equal(1, answers.Count(x => x.Outcome == "accepted"));
        Assert.Equal(199, answers.Count(x => x.Outcome == "duplicate"));
        await AssertStoredOnceAsync(a, id);
        Assert.Single(await a.RowsAsync(a.Storage.Idempotency));
    }

    [Fact]
    public async Task TwoHundredRetriesOfOneSeededRequestAcrossTwoHostsStoreAndEnqueueOnce()
    {
        var prefix = azurite.NewStorageNamePrefix();
        await using var a = await TestHost.StartAsync(azurite.ConnectionString, prefix);
        await using var b = await TestHost.StartAsync(azurite.ConnectionString, prefix);

        var answers = await SendConcurrentlyAsync(a, b, _ => ("""[{"name":"app/seeded"}]""", Seeds.Sample));

        var id = Assert.Single(answers.Select(x => x.Id).Distinct());
        Assert.Equal(1, answers.Count(x => x.Outcome == "accepted"));
        await AssertStoredOnceAsync(a, id);
    }

    private static async Task<(string Id, string Outcome)[]> SendConcurrentlyAsync(TestHost a, TestHost b, Func<int, (string Body, string? Seed)> request)
    {
        using var start = new SemaphoreSlim(0);
        var sends = Enumerable.Range(0, 200).Select(async i =>
        {
            var (body, seed) = request(i);
            await start.WaitAsync();
            var host = i % 2 == 0 ? a : b;
            var response = await host.SendAsync(body, headers: seed is null ? null : new Dictionary<string, string> { [IdSeed.HeaderName] = seed });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var outcome = (await TestHost.JsonAsync(response)).GetProperty("events")[0];
            return (outcome.GetProperty("id").GetString()!, outcome.GetProperty("outcome").GetString()!);
        }).ToList();
        start.Release(200);
        return await Task.WhenAll(sends);
    }

    private static async Task AssertStoredOnceAsync(TestHost host, string id)
    {
        var message = Assert.Single(await host.ReceiveAllAsync());
        Assert.Equal(id, message.GetProperty("internal_id").GetString());
        var record = Assert.Single(await host.RowsAsync(host.Storage.Events));
        Assert.Equal(id, EventIngest.Storage.RecordKeys.InternalIdOf(record.RowKey));
        Assert.Empty(await host.RowsAsync(host.Storage.Outbox));
    }
}
