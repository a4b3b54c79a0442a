using System.Net;
using System.Text;
using EventIngest.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace EventIngest.Tests.Reliability;

/// <summary>Bodies built to hurt: every one is answered with a clear 4xx (never a 5xx), stores
/// nothing, and costs the server no more than the configured caps.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class HostileInputTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private const long OneGiB = 1L << 30;
    private const long Cap = 16 * 1024 * 1024;
    private readonly BodyReadCounter _counter = new();
    private TestHost _host = null!;

    public async Task InitializeAsync()
    {
        _host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(),
            services: s => s.AddSingleton<IStartupFilter>(_counter));
        await StoredState.CreateAsync(_host);
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task OneGibibyteBodyIsRefusedAfterReadingNoMoreThanTheCap(bool declareLength)
    {
        _counter.Reset();

        var (status, written) = await EndlessBody.SendAsync(_host.BaseAddress, "/e/k", OneGiB, declareLength, TimeSpan.FromSeconds(30));
        var readByServer = _counter.Bytes;

        Assert.Equal(413, status);
        // Declared too long: refused before reading. Unknown length: read up to the cap, plus at
        // most one read of Kestrel's request buffer (1 MiB).
        Assert.InRange(readByServer, 0, declareLength ? 0 : Cap + 1024 * 1024);
        // Sent before the answer came: what the server read plus what socket buffers held.
        Assert.InRange(written, 0, Cap + 16 * 1024 * 1024);
        // The bytes read bound the work and the memory the refusal cost; the process's allocations
        // and the time taken would also count the test classes running beside this one.
        await StoredState.AssertNothingStoredAsync(_host);
    }

    public static TheoryData<string, string> HostileBodies()
    {
        var deep = new string('[', 10_000) + new string(']', 10_000);
        var megabyte = new string('x', 1024 * 1024);
        return new TheoryData<string, string>
        {
            { "10,000 nested arrays", deep },
            { "10,000 nested arrays in data", "{\"name\":\"app/x\",\"data\":{\"d\":" + deep + "}}" },
            { "10,000 nested objects in data", "{\"name\":\"app/x\",\"data\":" + string.Concat(Enumerable.Repeat("{\"a\":", 10_000)) + "1" + new string('}', 10_001) },
            { "1 MB name", "{\"name\":\"" + megabyte + "\"}" },
            { "1 MB id", "{\"name\":\"app/x\",\"id\":\"" + megabyte + "\"}" },
            { "40,000-character v (over a table property, under the event cap)", "{\"name\":\"app/x\",\"v\":\"" + new string('\u00e9', 40_000) + "\"}" },
            { "1 MB v", "{\"name\":\"app/x\",\"v\":\"" + megabyte + "\"}" },
            { "1 MB data string", "{\"name\":\"app/x\",\"data\":{\"s\":\"" + megabyte + "\"}}" },
            { "1 MB user string", "{\"name\":\"app/x\",\"user\":{\"external_id\":\"" + megabyte + "\"}}" },
            { "1 MB property name", "{\"name\":\"app/x\",\"data\":{\"" + megabyte + "\":1}}" },
            { "1 MB of escapes", "{\"name\":\"app/x\",\"data\":{\"s\":\"" + string.Concat(Enumerable.Repeat("\\u0041", 200_000)) + "\"}}" },
            { "5,001 events", "[" + string.Join(',', Enumerable.Repeat("{\"name\":\"app/x\"}", 5_001)) + "]" },
            { "lone surrogate escape in name", "{\"name\":\"app/\\ud800\"}" },
            { "lone surrogate escape in id", "{\"name\":\"app/x\",\"id\":\"\\udfff\"}" },
            { "lone surrogate escape in v", "{\"name\":\"app/x\",\"v\":\"\\ud83d\"}" },
            { "lone surrogate escape in user.external_id", "{\"name\":\"app/x\",\"user\":{\"external_id\":\"\\ud800\"}}" },
            { "lone surrogate escape in a field name", "{\"name\":\"app/x\",\"\\ud800\":1}" },
            { "duplicate name, the last one reserved", "{\"name\":\"app/ok\",\"name\":\"inngest/x\"}" },
            { "duplicate data, the last one not an object", "{\"name\":\"app/x\",\"data\":{},\"data\":[1]}" },
            { "duplicate ts, the last one in seconds", "{\"name\":\"app/x\",\"ts\":1750000000000,\"ts\":1750000000}" },
            { "duplicate name, the first one reserved", "{\"name\":\"inngest/x\",\"name\":\"app/ok\"}" },
            { "duplicate name in another case", "{\"name\":\"app/x\",\"NAME\":\"app/y\"}" },
            { "duplicate name spelled with an escape", "{\"name\":\"app/x\",\"n\\u0061me\":\"app/y\"}" },
            { "duplicate user", "{\"name\":\"app/x\",\"user\":{\"external_id\":\"a\"},\"user\":{\"external_id\":\"b\"}}" },
            { "duplicate unknown key", "{\"name\":\"app/x\",\"extra\":1,\"extra\":2}" },
            { "ts of 1e400", "{\"name\":\"app/x\",\"ts\":1e400}" },
            { "ts past long.MaxValue", "{\"name\":\"app/x\",\"ts\":9223372036854775808}" },
            { "ts below long.MinValue", "{\"name\":\"app/x\",\"ts\":-9223372036854775809}" },
            { "ts of 400 digits", "{\"name\":\"app/x\",\"ts\":" + new string('9', 400) + "}" },
            { "ts of -0", "{\"name\":\"app/x\",\"ts\":-0.0}" },
            { "ts as NaN", "{\"name\":\"app/x\",\"ts\":NaN}" },
            { "ts as Infinity", "{\"name\":\"app/x\",\"ts\":Infinity}" },
            { "65 levels of nesting", "{\"name\":\"app/x\",\"data\":{\"d\":" + new string('[', 63) + new string(']', 63) + "}}" },
            { "byte order mark (Go's decoder refuses it too)", "\ufeff{\"name\":\"app/x\"}" },
            { "number as a leading-zero literal", "{\"name\":\"app/x\",\"ts\":01750000000000}" },
        };
    }

    [Theory]
    [MemberData(nameof(HostileBodies))]
    public async Task HostileBodyGetsAClear4xxAndStoresNothing(string what, string body)
    {
        var response = await _host.SendAsync(body);

        Assert.True(IsClear4xx(response.StatusCode), $"{what}: {(int)response.StatusCode}");
        var json = await TestHost.JsonAsync(response);
        Assert.Equal((int)response.StatusCode, json.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrWhiteSpace(json.GetProperty("error").GetString()), what);
        Assert.True(json.GetProperty("error").GetString()!.Length < 2_000, $"{what}: the error echoes the input");
        await StoredState.AssertNothingStoredAsync(_host);
    }

    public static TheoryData<string, byte[]> InvalidUtf8Bodies() => new()
    {
        { "bare continuation byte", Utf8("{\"name\":\"app/", [0x80], "\"}") },
        { "truncated sequence", Utf8("{\"name\":\"app/", [0xE2, 0x82], "\"}") },
        { "overlong slash", Utf8("{\"name\":\"app/", [0xC0, 0xAF], "\"}") },
        { "encoded surrogate", Utf8("{\"name\":\"app/x\",\"data\":{\"s\":\"", [0xED, 0xA0, 0x80], "\"}}") },
        { "beyond U+10FFFF", Utf8("{\"name\":\"app/x\",\"user\":{\"e\":\"", [0xF4, 0x90, 0x80, 0x80], "\"}}") },
        { "invalid byte in a property name", Utf8("{\"name\":\"app/x\",\"data\":{\"", [0xFF], "\":1}}") },
        { "UTF-16 body", Encoding.Unicode.GetBytes("{\"name\":\"app/x\"}") },
        { "NUL bytes", Utf8("{\"name\":\"app/x\"}", [0, 0, 0], "") },
    };

    [Theory]
    [MemberData(nameof(InvalidUtf8Bodies))]
    public async Task InvalidUtf8GetsA400AndStoresNothing(string what, byte[] body)
    {
        using var content = new ByteArrayContent(body);
        var response = await _host.Client.PostAsync("e/k", content);

        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{what}: {(int)response.StatusCode}");
        Assert.Equal(400, (await TestHost.JsonAsync(response)).GetProperty("status").GetInt32());
        await StoredState.AssertNothingStoredAsync(_host);
    }

    public static TheoryData<string, string> OddButValidBodies() => new()
    {
        { "lone surrogate escape in data", """{"name":"app/x","data":{"s":"\ud800"}}""" },
        { "lone surrogate escape in a user field name", """{"name":"app/x","user":{"\udc00":1,"external_id":"p"}}""" },
        { "number beyond double in data", """{"name":"app/x","data":{"n":1e400,"m":-1e400,"i":123456789012345678901234567890}}""" },
        { "unpaired surrogate escapes beside _inngest in data", """{"name":"app/x","data":{"_inngest":{"x":1},"\ud800":"\udc00","n":{"\udbff":[1]}}}""" },
        { "duplicate keys in data", """{"name":"app/x","data":{"a":1,"a":2,"_inngest":1,"_inngest":2}}""" },
        { "name of 256 emoji", "{\"name\":\"" + string.Concat(Enumerable.Repeat("\ud83d\ude00", 256)) + "\"}" },
        { "id of 512 characters", "{\"name\":\"app/x\",\"id\":\"" + new string('\u00e9', 512) + "\"}" },
        { "v of 512 characters", "{\"name\":\"app/x\",\"v\":\"" + new string('v', 512) + "\"}" },
        { "control characters escaped", """{"name":"app/\u0000\u001f\n","data":{"\u0000":"\u0000"}}""" },
        { "empty property names", """{"name":"app/x","":1,"data":{"":{"":[]}}}""" },
        { "64 levels of nesting", """{"name":"app/x","data":{"d":""" + new string('[', 62) + new string(']', 62) + "}}" },
        { "field names in other cases", """{"NAME":"app/x","Data":{"a":1},"TS":0,"V":"1","ID":"k"}""" },
        { "whitespace everywhere", " \r\n\t[ \r\n{ \"name\" :\t\"app/x\" } ]\n" },
    };

    [Theory]
    [MemberData(nameof(OddButValidBodies))]
    public async Task OddButValidBodyIsStoredAndEnqueuedOnce(string what, string body)
    {
        var response = await _host.SendAsync(body);

        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{what}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        var id = (await TestHost.JsonAsync(response)).GetProperty("ids")[0].GetString();
        var message = Assert.Single(await _host.ReceiveAllAsync());
        Assert.Equal(id, message.GetProperty("internal_id").GetString());
        Assert.Single(await _host.RowsAsync(_host.Storage.Events));
        Assert.Empty(await _host.RowsAsync(_host.Storage.Outbox));
    }

    [Fact]
    public async Task InngestKeyIsDroppedFromDataAndEverythingElseKeptVerbatim()
    {
        var response = await _host.SendAsync("""{"name":"app/x","data":{"a":"\u00e9\ud800","_inngest":{"fn":"x"},"b":[1e400,{"\udc00":null}]}}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var message = Assert.Single(await _host.ReceiveAllAsync());
        Assert.Equal("""{"a":"\u00e9\ud800","b":[1e400,{"\udc00":null}]}""", message.GetProperty("data").GetRawText());
    }

    [Fact]
    public async Task DuplicateTopLevelKeyIsRefusedNamingTheKey()
    {
        var response = await _host.SendAsync("""[{"name":"app/ok"},{"name":"inngest/hidden","name":"app/first"}]""");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await TestHost.JsonAsync(response)).GetProperty("errors")[0];
        Assert.Equal(1, error.GetProperty("index").GetInt32());
        Assert.Equal("name", error.GetProperty("field").GetString());
        Assert.Contains("more than once", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        await StoredState.AssertNothingStoredAsync(_host);
    }

    private static bool IsClear4xx(HttpStatusCode status) => (int)status is >= 400 and < 500;

    private static byte[] Utf8(string before, byte[] middle, string after) =>
        [.. Encoding.UTF8.GetBytes(before), .. middle, .. Encoding.UTF8.GetBytes(after)];
}
