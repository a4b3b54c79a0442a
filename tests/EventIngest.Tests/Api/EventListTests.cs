using System.Net;
using System.Text.Json;
using Azure.Data.Tables;
using EventIngest.Api;
using EventIngest.Ingest;
using EventIngest.Storage;
using EventIngest.Tests.Infrastructure;
using EventIngest.Ids;

namespace EventIngest.Tests.Api;

[Collection(AzuriteFixture.CollectionName)]
public sealed class EventListTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private TestHost _host = null!;

    public async Task InitializeAsync() => _host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private static string Batch(string name, int count, int from = 0) =>
        "[" + string.Join(',', Enumerable.Range(from, count).Select(i => "{\"name\":\"" + name + "\",\"data\":{\"i\":" + i + "}}")) + "]";

    [Fact]
    public async Task EventsAreListedNewestFirstWithTheDefaultPageSize()
    {
        var sent = new List<string>();
        for (var i = 0; i < 5; i++) sent.AddRange(await _host.SendForIdsAsync(Batch("app/x", 5, i * 5)));

        var (status, body) = await _host.GetAsync("v1/events");

        Assert.Equal(HttpStatusCode.OK, status);
        var page = body.GetProperty("data").EnumerateArray().InternalIds();
        Assert.Equal(EventsApi.DefaultLimit, page.Count);
        Assert.Equal(sent.OrderDescending(StringComparer.Ordinal).Take(EventsApi.DefaultLimit), page);
        Assert.Equal(JsonValueKind.String, body.GetProperty("metadata").GetProperty("next_cursor").ValueKind);
    }

    [Fact]
    public async Task PagingWhileEventsArriveNeitherSkipsNorRepeats()
    {
        var existing = new List<string>();
        for (var i = 0; i < 12; i++) existing.AddRange(await _host.SendForIdsAsync(Batch("app/x", 5)));

        // Senders keep adding events, some with seeds (ids from the past), between and during page reads.
        using var stop = new CancellationTokenSource();
        var arrived = new List<string>();
        var senders = Enumerable.Range(0, 2).Select(s => Task.Run(async () =>
        {
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                var seed = n % 3 == 0
                    ? new Dictionary<string, string> { [IdSeed.HeaderName] = $"{DateTimeOffset.UtcNow.AddMinutes(-(s + 1)).ToUnixTimeMilliseconds()},{Convert.ToBase64String(Guid.NewGuid().ToByteArray()[..10])}" }
                    : null;
                var ids = await _host.SendForIdsAsync(Batch("app/x", 3), headers: seed);
                lock (arrived) arrived.AddRange(ids);
            }
        })).ToList();

        List<JsonElement> listed;
        int pages;
        try
        {
            (listed, pages) = await _host.ListAllAsync("limit=7", betweenPages: () => Task.Delay(20));
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(senders);
        }

        var ids = listed.InternalIds();
        Assert.True(pages >= 9, $"only {pages} pages");
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Equal(ids.OrderDescending(StringComparer.Ordinal), ids);
        Assert.Empty(existing.Except(ids));
        Assert.NotEmpty(arrived);
        Assert.Empty(ids.Except(existing).Except(arrived));
    }

    [Fact]
    public async Task NameFilterReturnsOnlyThatNameAcrossPages()
    {
        var wanted = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            wanted.AddRange(await _host.SendForIdsAsync(Batch("app/wanted", 3)));
            await _host.SendForIdsAsync(Batch("app/other", 4));
        }

        var (events, pages) = await _host.ListAllAsync("name=app%2Fwanted&limit=5");

        Assert.Equal(3, pages);
        Assert.All(events, e => Assert.Equal("app/wanted", e.GetProperty("name").GetString()));
        Assert.Equal(wanted.OrderDescending(StringComparer.Ordinal), events.InternalIds());
    }

    [Fact]
    public async Task ReceivedTimeFiltersAreExclusiveBounds()
    {
        var first = await _host.SendForIdsAsync(Batch("app/x", 2));
        await Task.Delay(30);
        var second = await _host.SendForIdsAsync(Batch("app/x", 2));
        await Task.Delay(30);
        var third = await _host.SendForIdsAsync(Batch("app/x", 2));

        async Task<long> ReceivedAt(string id) => (await _host.GetAsync($"v1/events/{id}")).Body.GetProperty("data").GetProperty("received_at").GetInt64();
        var secondAt = await ReceivedAt(second[0]);
        var iso = Uri.EscapeDataString(ApiResults.Timestamp(DateTimeOffset.FromUnixTimeMilliseconds(secondAt)));

        Assert.Equal(third.OrderDescending(StringComparer.Ordinal), (await _host.ListAllAsync($"received_after={secondAt}")).Events.InternalIds());
        Assert.Equal(first.OrderDescending(StringComparer.Ordinal), (await _host.ListAllAsync($"received_before={iso}")).Events.InternalIds());
        Assert.Equal(second.OrderDescending(StringComparer.Ordinal),
            (await _host.ListAllAsync($"received_after={secondAt - 1}&received_before={secondAt + 1}")).Events.InternalIds());
    }

    [Fact]
    public async Task IdFilterFindsTheEventHoldingTheKeyAndAppliesTheOtherFilters()
    {
        var original = Assert.Single(await _host.SendForIdsAsync("""{"name":"app/pay","id":"pay-1"}"""));
        await _host.SendForIdsAsync("""[{"name":"app/pay","id":"pay-2"},{"name":"app/pay","id":"pay-1"}]""");

        Assert.Equal([original], (await _host.ListAllAsync("id=pay-1")).Events.InternalIds());
        Assert.Equal([original], (await _host.ListAllAsync("id=pay-1&name=app%2Fpay")).Events.InternalIds());
        Assert.Empty((await _host.ListAllAsync("id=pay-1&name=app%2Fother")).Events);
        Assert.Empty((await _host.ListAllAsync("id=never-sent")).Events);
    }

    [Fact]
    public async Task AnEmptyEnvironmentIsAnEmptyLastPage()
    {
        var (status, body) = await _host.GetAsync("v1/events", environment: "nothing-here");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Empty(body.GetProperty("data").EnumerateArray());
        Assert.Equal(JsonValueKind.Null, body.GetProperty("metadata").GetProperty("next_cursor").ValueKind);
    }

    [Fact]
    public async Task AnEnvironmentWhoseNameExtendsAnotherIsNotListedWithIt()
    {
        var mine = await _host.SendForIdsAsync(Batch("app/x", 2), environment: "prod");
        await _host.SendForIdsAsync(Batch("app/x", 2), environment: "prod-eu");
        await _host.SendForIdsAsync(Batch("app/x", 2), environment: "prod.1");

        Assert.Equal(mine.OrderDescending(StringComparer.Ordinal), (await _host.ListAllAsync("", environment: "prod")).Events.InternalIds());
    }

    [Theory]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=-1", "limit")]
    [InlineData("limit=ten", "limit")]
    [InlineData("limit=1&limit=2", "once")]
    [InlineData("received_after=yesterday", "received_after")]
    [InlineData("received_before=2025-01-01", "received_before")]
    [InlineData("received_after=2000&received_before=1000", "earlier")]
    [InlineData("cursor=not-a-cursor", "cursor")]
    public async Task InvalidParametersAre400(string query, string mentioned)
    {
        var (status, body) = await _host.GetAsync("v1/events?" + query);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(mentioned, body.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task LimitsAboveTheMaximumAreTreatedAsTheMaximum()
    {
        await _host.SendForIdsAsync(Batch("app/x", 120));
        var (status, body) = await _host.GetAsync("v1/events?limit=1000");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(EventsApi.MaxLimit, body.GetProperty("data").GetArrayLength());
    }

    [Fact]
    public async Task ACursorOnlyContinuesTheFiltersThatIssuedIt()
    {
        await _host.SendForIdsAsync(Batch("app/x", 3));
        var cursor = (await _host.GetAsync("v1/events?limit=1&name=app%2Fx")).Body.GetProperty("metadata").GetProperty("next_cursor").GetString()!;

        var (status, _) = await _host.GetAsync("v1/events?limit=1&name=app%2Fy&cursor=" + Uri.EscapeDataString(cursor));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(HttpStatusCode.OK, (await _host.GetAsync("v1/events?limit=5&name=app%2Fx&cursor=" + Uri.EscapeDataString(cursor))).Status);
    }

    [Fact]
    public async Task AScanCutShortByItsBudgetResumesFromTheServiceContinuation()
    {
        var sent = await _host.SendForIdsAsync(Batch("app/x", 9));
        var filter = new EventFilter(null, null, null, null);

        // Take the first three rows the way a scan does, then resume from the service's token.
        var query = TableClient.CreateQueryFilter($"PartitionKey gt {RecordKeys.EnvironmentPrefix("dev")}") + " and " +
            TableClient.CreateQueryFilter($"PartitionKey lt {"dev}"}");
        string? token = null;
        await foreach (var page in _host.Storage.Events.QueryAsync<TableEntity>(query, 3).AsPages(null, 3))
        {
            token = page.ContinuationToken;
            break;
        }
        Assert.NotNull(token);
        var cursor = new ListCursor(null, token, filter.Fingerprint).Encode();

        var (events, _) = await _host.ListAllAsync("limit=4", cursor: cursor);

        Assert.Equal(sent.OrderDescending(StringComparer.Ordinal).Skip(3), events.InternalIds());
    }

    [Fact]
    public async Task AContinuationTakenFromAnotherEnvironmentsScanStillListsOnlyTheCallersEnvironment()
    {
        // A continuation token is only the next key to read: the table service resumes any query there. The
        // caller's environment lies between two others, so a scan resumed at a position in the first runs on
        // over the caller's rows and, were its key range not to hold it, into the last one's.
        await _host.SendForIdsAsync(Batch("app/x", 3), environment: "alpha");
        var beta = await _host.SendForIdsAsync(Batch("app/x", 3), environment: "beta");
        await _host.SendForIdsAsync(Batch("app/x", 3), environment: "gamma");
        var alphaScan = TableClient.CreateQueryFilter($"PartitionKey gt {"alpha|"}") + " and " + TableClient.CreateQueryFilter($"PartitionKey lt {"alpha}"}");
        string? token = null;
        await foreach (var page in _host.Storage.Events.QueryAsync<TableEntity>(alphaScan, 1).AsPages(null, 1))
        {
            token = page.ContinuationToken;
            break;
        }
        Assert.NotNull(token);
        var cursor = new ListCursor(null, token, new EventFilter(null, null, null, null).Fingerprint).Encode();

        var (status, body) = await _host.GetAsync("v1/events?cursor=" + Uri.EscapeDataString(cursor), environment: "beta");

        Assert.True(status == HttpStatusCode.OK, $"{(int)status} {body}");
        Assert.All(body.GetProperty("data").EnumerateArray(), e => Assert.Equal("beta", e.GetProperty("env").GetString()));
        Assert.Equal(beta.OrderDescending(StringComparer.Ordinal), body.GetProperty("data").EnumerateArray().InternalIds());
    }
}
