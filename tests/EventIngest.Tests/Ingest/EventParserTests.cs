using System.Text;
using System.Text.Json;
using EventIngest.Ingest;
using EventIngest.Storage;

namespace EventIngest.Tests.Ingest;

public class EventParserTests
{
    private const long Now = 1_750_000_000_000;

    private static ParseResult Parse(string body, int maxEventBytes = 512 * 1024) =>
        EventParser.Parse(Encoding.UTF8.GetBytes(body), Now, maxEventBytes);

    [Theory]
    [InlineData("")]
    [InlineData("   \n")]
    [InlineData("[]")]
    public void EmptyBodyOrEmptyArrayIsZeroEvents(string body)
    {
        using var result = Parse(body);
        Assert.True(result.IsValid);
        Assert.Empty(result.Events);
    }

    public static TheoryData<string, int, int?, string?, string> InvalidBodies() => new()
    {
        // body, status, index, field, message fragment
        { "null", 400, null, null, EventParser.BodyError },
        { "\"x\"", 400, null, null, EventParser.BodyError },
        { "42", 400, null, null, EventParser.BodyError },
        { "true", 400, null, null, EventParser.BodyError },
        { "{\"name\":\"a\"} x", 400, null, null, EventParser.BodyError },
        { "{\"name\":\"a\"}{}", 400, null, null, EventParser.BodyError },
        { "{\"name\":", 400, null, null, EventParser.BodyError },
        { "[{\"name\":\"a\"},]", 400, null, null, EventParser.BodyError },
        { "[1]", 400, 0, null, "must be a JSON object" },
        { "{}", 400, 0, "name", "name is empty" },
        { "{\"name\":\"\"}", 400, 0, "name", "name is empty" },
        { "{\"name\":null}", 400, 0, "name", "name is empty" },
        { "{\"name\":5}", 400, 0, "name", "name must be a string" },
        { "{\"name\":\"" + new string('a', 257) + "\"}", 400, 0, "name", "longer than 256" },
        { "{\"name\":\"inngest/function.finished\"}", 400, 0, "name", "reserved" },
        { "{\"name\":\"INNGEST/x\"}", 400, 0, "name", "reserved" },
        { "{\"name\":\"a\",\"data\":[]}", 400, 0, "data", "data must be an object" },
        { "{\"name\":\"a\",\"data\":\"s\"}", 400, 0, "data", "data must be an object" },
        { "{\"name\":\"a\",\"data\":1}", 400, 0, "data", "data must be an object" },
        { "{\"name\":\"a\",\"user\":[]}", 400, 0, "user", "user must be an object" },
        { "{\"name\":\"a\",\"user\":true}", 400, 0, "user", "user must be an object" },
        { "{\"name\":\"a\",\"id\":5}", 400, 0, "id", "id must be a string" },
        { "{\"name\":\"a\",\"id\":{}}", 400, 0, "id", "id must be a string" },
        { "{\"name\":\"a\",\"id\":\"" + new string('i', 513) + "\"}", 400, 0, "id", "longer than 512" },
        { "{\"name\":\"a\",\"v\":1}", 400, 0, "v", "v must be a string" },
        { "{\"name\":\"a\",\"ts\":\"1750000000000\"}", 400, 0, "ts", "integer" },
        { "{\"name\":\"a\",\"ts\":1750000000000.5}", 400, 0, "ts", "integer" },
        { "{\"name\":\"a\",\"ts\":1750000000000.0}", 400, 0, "ts", "integer" },
        { "{\"name\":\"a\",\"ts\":1.75e12}", 400, 0, "ts", "integer" },
        { "{\"name\":\"a\",\"ts\":1750000000}", 400, 0, "ts", "seconds" },
        { "{\"name\":\"a\",\"ts\":-1}", 400, 0, "ts", "between" },
        { "{\"name\":\"a\",\"ts\":4102444800001}", 400, 0, "ts", "between" },
        { "{\"name\":\"a\",\"ts\":315532799999}", 400, 0, "ts", "between" },
        { "{\"name\":\"a\",\"ts\":99999999999999999999999}", 400, 0, "ts", "integer" },
        { "[{\"name\":\"ok\"},{\"name\":\"ok\"},{\"name\":\"ok\"},{\"name\":\"\"}]", 400, 3, "name", "name is empty" },
    };

    [Theory]
    [MemberData(nameof(InvalidBodies))]
    public void InvalidBodiesAreRefusedWithTheFieldAndIndex(string body, int status, int? index, string? field, string message)
    {
        using var result = Parse(body);
        Assert.False(result.IsValid);
        Assert.Equal(status, result.ErrorStatus);
        var error = result.Errors[0];
        Assert.Equal(index, error.Index);
        Assert.Equal(field, error.Field);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.Empty(result.Events);
    }

    [Fact]
    public void ErrorTextNamesTheEventIndex()
    {
        using var result = Parse("[{\"name\":\"a\"},{\"name\":\"a\"},{\"name\":\"a\"},{\"name\":\"\"}]");
        Assert.Equal("event 3: name is empty", result.Errors[0].ToString());
    }

    [Fact]
    public void EveryInvalidEventIsReported()
    {
        using var result = Parse("[{\"name\":\"\"},{\"name\":\"ok\"},{\"name\":\"a\",\"ts\":\"x\"}]");
        Assert.Equal([0, 2], result.Errors.Select(e => e.Index!.Value));
    }

    [Theory]
    [InlineData(315532800000)]  // 1980-01-01
    [InlineData(4102444800000)] // 2100-01-01
    public void TsBoundsAreInclusive(long ts)
    {
        using var result = Parse("{\"name\":\"a\",\"ts\":" + ts + "}");

        Assert.True(result.IsValid);
        Assert.Equal(ts, Assert.Single(result.Events).Ts);
    }

    [Fact]
    public void MoreThan5000EventsIsRefused()
    {
        var body = "[" + string.Join(',', Enumerable.Repeat("{\"name\":\"a\"}", 5001)) + "]";
        using var result = Parse(body);
        Assert.Equal(400, result.ErrorStatus);
        Assert.Equal("Cannot have more than 5000 events in a batch", result.Errors[0].Message);
    }

    [Fact]
    public void Exactly5000EventsIsAccepted()
    {
        var body = "[" + string.Join(',', Enumerable.Repeat("{\"name\":\"a\"}", 5000)) + "]";
        using var result = Parse(body);
        Assert.True(result.IsValid);
        Assert.Equal(5000, result.Events.Count);
    }

    [Fact]
    public void AnEventOverTheSizeLimitIs413()
    {
        var big = "{\"name\":\"a\",\"data\":{\"s\":\"" + new string('x', 2000) + "\"}}";
        using var result = Parse("[{\"name\":\"a\"}," + big + "]", maxEventBytes: 1024);
        Assert.Equal(413, result.ErrorStatus);
        Assert.Equal(1, result.Errors[0].Index);
    }

    [Fact]
    public void DeepNestingIsRefusedNotCrashed()
    {
        var body = "{\"name\":\"a\",\"data\":{\"x\":" + new string('[', 10_000) + new string(']', 10_000) + "}}";
        using var result = Parse(body);
        Assert.Equal(400, result.ErrorStatus);
    }

    [Fact]
    public void InvalidUtf8IsRefused()
    {
        var bytes = Encoding.UTF8.GetBytes("{\"name\":\"a\",\"data\":{\"s\":\"__\"}}");
        bytes[25] = 0xC3; bytes[26] = 0x28;
        using var result = EventParser.Parse(bytes, Now, 1024);
        Assert.Equal(400, result.ErrorStatus);
    }

    [Fact]
    public void DefaultsFillAbsentOrNullFields()
    {
        using var result = Parse("{\"name\":\"app/x\",\"data\":null,\"user\":null,\"id\":\"\",\"ts\":0,\"v\":null}");
        var e = Assert.Single(result.Events);
        Assert.Equal("app/x", e.Name);
        Assert.Null(e.Data);
        Assert.Null(e.User);
        Assert.Null(e.Id);
        Assert.Equal(Now, e.Ts);
        Assert.Null(e.V);
    }

    [Fact]
    public void FieldNamesMatchCaseInsensitively()
    {
        using var result = Parse("{\"Name\":\"app/x\",\"ID\":\"k1\",\"Ts\":1750000000001,\"V\":\"2\",\"unknown\":1}");
        var e = Assert.Single(result.Events);
        Assert.Equal("app/x", e.Name);
        Assert.Equal("k1", e.Id);
        Assert.Equal(1750000000001, e.Ts);
        Assert.Equal("2", e.V);
    }

    [Theory]
    [InlineData("{\"NAME\":\"inngest/x\",\"Name\":\"app/x\"}", "name")]
    [InlineData("{\"name\":\"app/x\",\"ts\":1750000000001,\"TS\":1750000000002}", "ts")]
    [InlineData("{\"name\":\"app/x\",\"other\":1,\"other\":1}", "other")]
    public void AKeyRepeatedAtTheTopLevelIsRefused(string body, string key)
    {
        using var result = Parse(body);
        var error = Assert.Single(result.Errors);
        Assert.Equal(key, error.Field);
        Assert.Equal(400, result.ErrorStatus);
    }

    [Fact]
    public void InngestKeyIsRemovedFromDataInTheMessage()
    {
        using var result = Parse("{\"name\":\"app/x\",\"data\":{\"a\":1,\"_inngest\":{\"x\":1},\"b\":{\"_inngest\":2}}}");
        var e = Assert.Single(result.Events);
        var message = e.ToMessage("01JQDAE4RQF8MBCR55T5AK4KXS", "production", "sealed", Now);
        using var doc = JsonDocument.Parse(message);
        var data = doc.RootElement.GetProperty("data");
        Assert.False(data.TryGetProperty("_inngest", out _));
        Assert.Equal(1, data.GetProperty("a").GetInt32());
        Assert.Equal(2, data.GetProperty("b").GetProperty("_inngest").GetInt32());
    }

    [Fact]
    public void InngestKeyWrittenWithAnEscapeIsRemovedFromDataInTheMessage()
    {
        using var result = Parse("{\"name\":\"app/x\",\"data\":{\"a\":1,\"\\u005finngest\":{\"x\":1}}}");
        var e = Assert.Single(result.Events);
        Assert.True(e.DataHasInngestKey);
        var message = e.ToMessage("01JQDAE4RQF8MBCR55T5AK4KXS", "production", "sealed", Now);
        using var doc = JsonDocument.Parse(message);
        Assert.Equal("{\"a\":1}", doc.RootElement.GetProperty("data").GetRawText());
    }

    [Theory]
    [InlineData("name", 256)]
    [InlineData("id", 512)]
    [InlineData("v", 512)]
    public void LengthsCountCharactersNotUtf16Units(string field, int limit)
    {
        var emoji = "\U0001F600";
        string Body(int count) => field == "name"
            ? "{\"name\":\"" + string.Concat(Enumerable.Repeat(emoji, count)) + "\"}"
            : "{\"name\":\"app/x\",\"" + field + "\":\"" + string.Concat(Enumerable.Repeat(emoji, count)) + "\"}";
        using var longest = Parse(Body(limit));
        using var tooLong = Parse(Body(limit + 1));

        Assert.True(longest.IsValid, string.Join("; ", longest.Errors.Select(e => e.Message)));
        var error = Assert.Single(tooLong.Errors);
        Assert.Equal(field, error.Field);
        Assert.Contains($"longer than {limit}", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"user-1\"", true)]
    [InlineData("\"user-\\u0031\"", true)]
    [InlineData("\"user-\\ud800\"", false)]
    public void ExternalIdMustDecode(string externalId, bool valid)
    {
        using var result = Parse("{\"name\":\"app/x\",\"user\":{\"external_id\":" + externalId + "}}");

        Assert.Equal(valid, result.IsValid);
    }

    [Fact]
    public void MessageCarriesTheEnvelopeFields()
    {
        using var result = Parse("{\"name\":\"app/x\",\"id\":\"k\",\"ts\":1750000000001,\"v\":\"1\"}");
        var message = result.Events[0].ToMessage("01JQDAE4RQF8MBCR55T5AK4KXS", "production", "sealed", Now);
        using var doc = JsonDocument.Parse(message);
        var root = doc.RootElement;
        Assert.Equal(1, root.GetProperty("format").GetInt32());
        Assert.Equal("01JQDAE4RQF8MBCR55T5AK4KXS", root.GetProperty("internal_id").GetString());
        Assert.Equal("k", root.GetProperty("id").GetString());
        Assert.Equal("app/x", root.GetProperty("name").GetString());
        Assert.Equal(JsonValueKind.Object, root.GetProperty("data").ValueKind);
        Assert.Equal(1750000000001, root.GetProperty("ts").GetInt64());
        Assert.Equal("1", root.GetProperty("v").GetString());
        Assert.Equal("production", root.GetProperty("env").GetString());
        Assert.Equal(Now, root.GetProperty("received_at").GetInt64());
    }
}
