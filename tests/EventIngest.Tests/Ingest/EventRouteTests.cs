using System.Net;
using System.Text.Json;
using EventIngest.Ingest;
using EventIngest.Tests.Infrastructure;
using EventIngest.Ids;

namespace EventIngest.Tests.Ingest;

[Collection(AzuriteFixture.CollectionName)]
public sealed class EventRouteTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private TestHost _host = null!;

    public async Task InitializeAsync() => _host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task SingleEventIsAcceptedRecordedAndEnqueued()
    {
        var response = await _host.SendAsync("""{"name":"app/x","data":{"n":1},"user":{"email":"a@example.com"},"v":"1"}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await TestHost.JsonAsync(response);
        Assert.Equal(200, body.GetProperty("status").GetInt32());
        var id = Assert.Single(body.GetProperty("ids").EnumerateArray()).GetString()!;
        Assert.True(Ulid.IsValid(id));
        var outcome = Assert.Single(body.GetProperty("events").EnumerateArray());
        Assert.Equal(id, outcome.GetProperty("id").GetString());
        Assert.Equal("accepted", outcome.GetProperty("outcome").GetString());

        var message = Assert.Single(await _host.ReceiveAllAsync());
        Assert.Equal(id, message.GetProperty("internal_id").GetString());
        Assert.Equal("app/x", message.GetProperty("name").GetString());
        Assert.Equal(1, message.GetProperty("data").GetProperty("n").GetInt32());
        Assert.Equal("dev", message.GetProperty("env").GetString());

        var record = Assert.Single(await _host.RowsAsync(_host.Storage.Events));
        Assert.Equal(id, EventIngest.Storage.RecordKeys.InternalIdOf(record.RowKey));
        Assert.Empty(await _host.RowsAsync(_host.Storage.Outbox));
    }

    [Fact]
    public async Task SeededBatchGetsDeterministicIdsAndARetryIsAllDuplicates()
    {
        var headers = Seeds.Header();
        var batch = """[{"name":"app/a"},{"name":"app/b"},{"name":"app/c"}]""";

        var first = await TestHost.JsonAsync(await _host.SendAsync(batch, headers: headers));
        Assert.Equal(["01JQDAE4RQF8MBCR55T5AK4KXS", "01JQDAE4RQF8MBCR55T5AK4KXT", "01JQDAE4RQF8MBCR55T5AK4KXV"],
            first.GetProperty("ids").EnumerateArray().Select(e => e.GetString()));
        Assert.All(first.GetProperty("events").EnumerateArray(), e => Assert.Equal("accepted", e.GetProperty("outcome").GetString()));

        var retry = await TestHost.JsonAsync(await _host.SendAsync(batch, headers: headers));
        Assert.Equal(first.GetProperty("ids").ToString(), retry.GetProperty("ids").ToString());
        Assert.All(retry.GetProperty("events").EnumerateArray(), e => Assert.Equal("duplicate", e.GetProperty("outcome").GetString()));

        Assert.Equal(3, (await _host.ReceiveAllAsync()).Count);
    }

    [Fact]
    public async Task ASecondSendWithTheSameIdIsADuplicateOfTheFirst()
    {
        var first = await TestHost.JsonAsync(await _host.SendAsync("""{"name":"app/x","id":"order-1"}"""));
        var second = await TestHost.JsonAsync(await _host.SendAsync("""{"name":"app/x","id":"order-1","data":{"changed":true}}"""));
        var original = first.GetProperty("ids")[0].GetString();
        Assert.Equal(original, second.GetProperty("ids")[0].GetString());
        Assert.Equal("duplicate", second.GetProperty("events")[0].GetProperty("outcome").GetString());
        Assert.Equal(original, second.GetProperty("events")[0].GetProperty("id").GetString());
        Assert.Single(await _host.ReceiveAllAsync());
        Assert.Single(await _host.RowsAsync(_host.Storage.Events));
    }

    [Fact]
    public async Task TheSameIdTwiceInOneRequestIsStoredOnce()
    {
        var body = await TestHost.JsonAsync(await _host.SendAsync("""[{"name":"app/x","id":"k"},{"name":"app/y"},{"name":"app/x","id":"k"}]"""));
        var ids = body.GetProperty("ids").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Equal(ids[0], ids[2]);
        Assert.NotEqual(ids[0], ids[1]);
        Assert.Equal(["accepted", "accepted", "duplicate"], body.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("outcome").GetString()));
        Assert.Equal(2, (await _host.ReceiveAllAsync()).Count);
    }

    [Fact]
    public async Task ConcurrentSendsWithOneIdEnqueueOnceAndAllGetTheSameId()
    {
        var tasks = Enumerable.Range(0, 25).Select(async i =>
        {
            var response = await _host.SendAsync("{\"name\":\"app/x\",\"id\":\"same\",\"data\":{\"i\":" + i + "}}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return (await TestHost.JsonAsync(response)).GetProperty("ids")[0].GetString();
        });
        var ids = await Task.WhenAll(tasks);
        Assert.Single(ids.Distinct());
        Assert.Single(await _host.ReceiveAllAsync());
        Assert.Single(await _host.RowsAsync(_host.Storage.Events));
    }

    [Fact]
    public async Task IdempotencyIsScopedToTheEnvironment()
    {
        var a = await TestHost.JsonAsync(await _host.SendAsync("""{"name":"app/x","id":"k"}""", headers: new Dictionary<string, string> { ["x-inngest-env"] = "a" }));
        var b = await TestHost.JsonAsync(await _host.SendAsync("""{"name":"app/x","id":"k"}""", headers: new Dictionary<string, string> { ["x-inngest-env"] = "b" }));
        Assert.NotEqual(a.GetProperty("ids")[0].GetString(), b.GetProperty("ids")[0].GetString());
        Assert.Equal("accepted", b.GetProperty("events")[0].GetProperty("outcome").GetString());
        var messages = await _host.ReceiveAllAsync();
        Assert.Equal(["a", "b"], messages.Select(m => m.GetProperty("env").GetString()).Order());
    }

    [Fact]
    public async Task FutureEventIsScheduledNotEnqueued()
    {
        var due = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds();
        var body = await TestHost.JsonAsync(await _host.SendAsync($$"""[{"name":"app/later","ts":{{due}}},{"name":"app/now","ts":{{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 300}}}]"""));
        var events = body.GetProperty("events");
        Assert.Equal("scheduled", events[0].GetProperty("outcome").GetString());
        Assert.Equal(due, events[0].GetProperty("due").GetInt64());
        Assert.Equal("accepted", events[1].GetProperty("outcome").GetString());
        var message = Assert.Single(await _host.ReceiveAllAsync());
        Assert.Equal("app/now", message.GetProperty("name").GetString());
    }

    [Fact]
    public async Task LargeEventTravelsAsAClaimCheck()
    {
        var big = new string('x', 100_000);
        var body = await TestHost.JsonAsync(await _host.SendAsync("{\"name\":\"app/big\",\"data\":{\"blob\":\"" + big + "\"}}"));
        var id = body.GetProperty("ids")[0].GetString();
        var message = Assert.Single(await _host.ReceiveAllAsync());
        var check = message.GetProperty("claim_check");
        Assert.Equal(id, message.GetProperty("internal_id").GetString());
        var blob = _host.Storage.LargeEvents.GetBlobClient(check.GetProperty("blob").GetString());
        var envelope = JsonDocument.Parse((await blob.DownloadContentAsync()).Value.Content.ToString()).RootElement;
        Assert.Equal(big, envelope.GetProperty("data").GetProperty("blob").GetString());
        Assert.Equal(id, envelope.GetProperty("internal_id").GetString());
    }

    [Fact]
    public async Task InvalidEventInABatchStoresNothing()
    {
        await StoredState.CreateAsync(_host);
        var response = await _host.SendAsync("""[{"name":"app/ok"},{"name":"app/ok","id":"k"},{"name":""}]""");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var body = await TestHost.JsonAsync(response);
        Assert.Equal(400, body.GetProperty("status").GetInt32());
        Assert.Equal("event 2: name is empty", body.GetProperty("error").GetString());
        Assert.Equal(2, body.GetProperty("errors")[0].GetProperty("index").GetInt32());
        Assert.Equal("name", body.GetProperty("errors")[0].GetProperty("field").GetString());
        Assert.Empty(body.GetProperty("ids").EnumerateArray());
        await StoredState.AssertNothingStoredAsync(_host);
    }

    [Fact]
    public async Task EmptyBodyIsZeroEvents()
    {
        var body = await TestHost.JsonAsync(await _host.SendAsync(""));
        Assert.Equal(200, body.GetProperty("status").GetInt32());
        Assert.Empty(body.GetProperty("ids").EnumerateArray());
    }

    [Fact]
    public async Task FormBodiesAreRefused()
    {
        await StoredState.CreateAsync(_host);
        var response = await _host.Client.PostAsync("e/k", new FormUrlEncodedContent([new("name", "app/x")]));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        await StoredState.AssertNothingStoredAsync(_host);
    }

    [Fact]
    public async Task JsonIsAcceptedWhateverTheContentTypeSays()
    {
        var response = await _host.Client.PostAsync("e/k", new StringContent("""{"name":"app/x"}""", System.Text.Encoding.UTF8, "text/plain"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task OtherMethodsAre405AndAnEmptyKeyIs404()
    {
        foreach (var method in new[] { "GET", "PUT", "PATCH", "DELETE", "OPTIONS" })
        {
            var response = await _host.Client.SendAsync(new HttpRequestMessage(new HttpMethod(method), "e/k") { Content = new StringContent("{}") });
            Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
            Assert.Equal(["POST"], response.Content.Headers.Allow);
            Assert.Equal(405, (await TestHost.JsonAsync(response)).GetProperty("status").GetInt32());
        }
        var head = await _host.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "e/k"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, head.StatusCode);
        Assert.Equal(["POST"], head.Content.Headers.Allow);
        foreach (var path in new[] { "e/", "e" })
        {
            var empty = await _host.Client.PostAsync(path, new StringContent("""{"name":"app/x"}"""));
            Assert.Equal(HttpStatusCode.NotFound, empty.StatusCode);
            Assert.Equal(404, (await TestHost.JsonAsync(empty)).GetProperty("status").GetInt32());
        }
    }

    [Fact]
    public async Task DoubledLeadingSlashWorks()
    {
        var response = await _host.Client.PostAsync(new Uri(_host.BaseAddress.GetLeftPart(UriPartial.Authority) + "//e/k"), new StringContent("""{"name":"app/x"}"""));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task BodyOverTheRequestCapIs413()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(),
            new Dictionary<string, string?> { ["EventIngest:Ingest:MaxRequestBytes"] = "2048" });
        var response = await host.SendAsync("[" + string.Join(',', Enumerable.Repeat("""{"name":"app/x"}""", 200)) + "]");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal(413, (await TestHost.JsonAsync(response)).GetProperty("status").GetInt32());
    }
}

/// <summary>Every malformed-body rule of the contract, through HTTP: a 4xx in the envelope and nothing written.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class MalformedBodyTests(AzuriteFixture azurite)
{
    [Theory]
    [MemberData(nameof(EventParserTests.InvalidBodies), MemberType = typeof(EventParserTests))]
    public async Task MalformedBodyIsRefusedAndNothingIsWritten(string body, int status, int? index, string? field, string message)
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        await StoredState.CreateAsync(host);
        var response = await host.SendAsync(body, headers: Seeds.Header());
        Assert.Equal(status, (int)response.StatusCode);
        var json = await TestHost.JsonAsync(response);
        Assert.Equal(status, json.GetProperty("status").GetInt32());
        Assert.Empty(json.GetProperty("ids").EnumerateArray());
        Assert.Contains(message, json.GetProperty("error").GetString(), StringComparison.Ordinal);
        var error = json.GetProperty("errors")[0];
        Assert.Equal(index, error.TryGetProperty("index", out var i) ? i.GetInt32() : null);
        Assert.Equal(field, error.TryGetProperty("field", out var f) ? f.GetString() : null);

        await StoredState.AssertNothingStoredAsync(host);
    }
}
