using System.Net;
using EventIngest.Ingest;
using EventIngest.Tests.Infrastructure;
using EventIngest.Ids;

namespace EventIngest.Tests.Reliability;

/// <summary>
/// G2: an internal id names exactly one event. A seed header decides the internal ids, so a seed
/// sent again with other events would give those events ids that already name something else;
/// such a request is refused with 409 and changes nothing, while a true retry (the same events)
/// is still answered <c>duplicate</c>.
/// </summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class SeedReuseTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private TestHost _host = null!;

    public async Task InitializeAsync() => _host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private Task<HttpResponseMessage> SendSeededAsync(string body) =>
        _host.SendAsync(body, headers: Seeds.Header(Seeds.Other));

    [Fact]
    public async Task SeedReusedForAnotherCallerKeyedEventIsRefusedAndNeverAliases()
    {
        var first = await SendSeededAsync("""[{"name":"app/paid","id":"order-1","data":{"amount":10}}]""");
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var id = (await TestHost.JsonAsync(first)).GetProperty("ids")[0].GetString()!;

        var second = await SendSeededAsync("""[{"name":"app/refund","id":"refund-9","data":{"amount":10}}]""");

        Assert.Equal(HttpStatusCode.Conflict, second.StatusCode);
        var body = await TestHost.JsonAsync(second);
        Assert.Equal(409, body.GetProperty("status").GetInt32());
        Assert.Contains(IdSeed.HeaderName, body.GetProperty("error").GetString(), StringComparison.Ordinal);
        var message = Assert.Single(await _host.ReceiveAllAsync());
        Assert.Equal(id, message.GetProperty("internal_id").GetString());
        Assert.Equal("app/paid", message.GetProperty("name").GetString());
        Assert.Single(await _host.RowsAsync(_host.Storage.Idempotency));
        var lookup = await _host.Client.GetAsync("v1/events?id=refund-9");
        Assert.Empty((await TestHost.JsonAsync(lookup)).GetProperty("data").EnumerateArray());
        var original = await TestHost.JsonAsync(await _host.Client.GetAsync($"v1/events/{id}"));
        Assert.Equal("app/paid", original.GetProperty("data").GetProperty("name").GetString());
    }

    [Fact]
    public async Task SeedReusedForOtherEventsWithoutIdsIsRefusedWholeAndStoresNothingMore()
    {
        Assert.Equal(HttpStatusCode.OK, (await SendSeededAsync("""[{"name":"app/a","data":{"n":1}}]""")).StatusCode);

        // Event 0 differs, event 1 is new: the whole request is refused, nothing of it is kept.
        var second = await SendSeededAsync("""[{"name":"app/a","data":{"n":2}},{"name":"app/b"}]""");

        Assert.Equal(HttpStatusCode.Conflict, second.StatusCode);
        Assert.Single(await _host.ReceiveAllAsync());
        Assert.Single(await _host.RowsAsync(_host.Storage.Events));
        Assert.Empty(await _host.RowsAsync(_host.Storage.Outbox));
    }

    [Fact]
    public async Task TheSameEventsUnderTheSameSeedAreDuplicatesEvenWithoutTs()
    {
        const string body = """[{"name":"app/a","data":{"n":1}},{"name":"app/b","id":"k-1","user":{"external_id":"p-1"}}]""";
        var first = await TestHost.JsonAsync(await SendSeededAsync(body));
        await Task.Delay(20); // a missing ts becomes the time of receipt, which differs between attempts

        var retry = await TestHost.JsonAsync(await SendSeededAsync(body));

        Assert.Equal(200, retry.GetProperty("status").GetInt32());
        Assert.Equal(first.GetProperty("ids").ToString(), retry.GetProperty("ids").ToString());
        Assert.All(retry.GetProperty("events").EnumerateArray(), e => Assert.Equal("duplicate", e.GetProperty("outcome").GetString()));
        Assert.Equal(2, (await _host.ReceiveAllAsync()).Count);
    }
}
