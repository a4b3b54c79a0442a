using System.Text;
using System.Text.Json;
using EventIngest.Api;
using EventIngest.Storage;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace EventIngest.Tests.Api;

public sealed class ApiUnitTests
{
    private static IQueryCollection Query(string query) =>
        new QueryCollection(Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(query));

    [Fact]
    public void ACursorRoundTripsAndRefusesOtherFiltersAndTampering()
    {
        var fingerprint = ListCursor.QueryOf("app/x", null, 1, null);
        var cursor = new ListCursor(RecordKeys.Row("01JQDAE4RQF8MBCR55T5AK4KXS"), null, fingerprint);
        var text = cursor.Encode();

        Assert.True(ListCursor.TryDecode(text, fingerprint, out var back));
        Assert.Equal(cursor, back);
        Assert.False(ListCursor.TryDecode(text, ListCursor.QueryOf("app/y", null, 1, null), out _));
        Assert.False(ListCursor.TryDecode(text + "A", fingerprint, out _));
        Assert.False(ListCursor.TryDecode("!!", fingerprint, out _));
        var forged = Convert.ToBase64String(Encoding.UTF8.GetBytes($$"""{"v":1,"a":"not-a-row","c":null,"q":"{{fingerprint}}"}""")).TrimEnd('=');
        Assert.False(ListCursor.TryDecode(forged, fingerprint, out _));
    }

    [Fact]
    public void FiltersThatDifferOnlyInWhereTheyAreSplitHaveDifferentFingerprints()
    {
        Assert.NotEqual(ListCursor.QueryOf("a\nb", null, null, null), ListCursor.QueryOf("a", "b", null, null));
        Assert.NotEqual(ListCursor.QueryOf(null, null, 1, null), ListCursor.QueryOf(null, null, null, 1));
    }

    [Theory]
    [InlineData("", null, null, null, null, 20)]
    [InlineData("name=app/x&id=k&limit=7", "app/x", "k", null, null, 7)]
    [InlineData("limit=101", null, null, null, null, 100)]
    [InlineData("received_after=1743130137367", null, null, 1743130137367L, null, 20)]
    [InlineData("received_before=2025-03-28T02:48:57.367Z", null, null, null, 1743130137367L, 20)]
    [InlineData("received_before=2025-03-28T04:48:57.367%2B02:00", null, null, null, 1743130137367L, 20)]
    [InlineData("received_before=2025-03-28T04:48:57.367+02:00", null, null, null, 1743130137367L, 20)]
    [InlineData("name=&id=", null, null, null, null, 20)]
    public void ListParametersAreRead(string query, string? name, string? id, long? after, long? before, int limit)
    {
        Assert.Null(EventsApi.ParseList(Query(query), out var filter, out var parsedLimit, out var cursor));
        Assert.Equal(new EventFilter(name, id, after, before), filter);
        Assert.Equal(limit, parsedLimit);
        Assert.Null(cursor);
    }

    private const string NotATime = " must be ms since the Unix epoch or an RFC 3339 date-time";

    [Theory]
    [InlineData("received_after=2025-03-28", "received_after" + NotATime)]
    [InlineData("received_after=2025-03-28T02:48:57", "received_after" + NotATime)]
    [InlineData("received_after=March 28", "received_after" + NotATime)]
    [InlineData("received_after=1.5", "received_after" + NotATime)]
    [InlineData("received_before=2025-03-28", "received_before" + NotATime)]
    [InlineData("received_after=2000&received_before=1000", "received_after must be earlier than received_before")]
    [InlineData("limit=1e2", "limit must be an integer from 1 to 100")]
    [InlineData("limit=0", "limit must be an integer from 1 to 100")]
    [InlineData("name=a&name=b", "name may be given only once")]
    [InlineData("cursor=not-a-cursor", "cursor is not one this API issued for these filters; start again without it")]
    public void InvalidListParametersAreRefused(string query, string error) =>
        Assert.Equal(error, EventsApi.ParseList(Query(query), out _, out _, out _));

    [Fact]
    public void LongNamesAndIdsAreRefused()
    {
        Assert.Equal("name is at most 256 characters",
            EventsApi.ParseList(new QueryCollection(new Dictionary<string, StringValues> { ["name"] = new string('n', 257) }), out _, out _, out _));
        Assert.Equal("id is at most 512 characters",
            EventsApi.ParseList(new QueryCollection(new Dictionary<string, StringValues> { ["id"] = new string('i', 513) }), out _, out _, out _));
        Assert.Null(EventsApi.ParseList(new QueryCollection(new Dictionary<string, StringValues> { ["name"] = new string('n', 256), ["id"] = new string('i', 512) }), out _, out _, out _));
        // Characters, as at ingest: whatever an event may carry, the list may filter by.
        var emoji = "\U0001F600";
        Assert.Null(EventsApi.ParseList(new QueryCollection(new Dictionary<string, StringValues>
        {
            ["name"] = string.Concat(Enumerable.Repeat(emoji, 256)),
            ["id"] = string.Concat(Enumerable.Repeat(emoji, 512)),
        }), out _, out _, out _));
    }

    [Theory]
    [InlineData("pending", null, nameof(EventState.Delivered))]
    [InlineData("scheduled", 1_000_001L, nameof(EventState.Scheduled))]
    [InlineData("scheduled", 1_000_000L, nameof(EventState.Scheduled))]
    [InlineData("releasing", 1_000_000L, nameof(EventState.Scheduled))]
    [InlineData("released", 1_000_000L, nameof(EventState.Delivered))]
    [InlineData("cancelled", 1_000_001L, nameof(EventState.Cancelled))]
    [InlineData("archived", null, nameof(EventState.Unknown))]
    [InlineData(null, null, nameof(EventState.Unknown))]
    // The expected state by name: EventState is internal, and a public test method cannot take it.
    public void StoredStatesMapToApiStates(string? stored, long? due, string expected) =>
        Assert.Equal(Enum.Parse<EventState>(expected), EventStates.Of(stored, due, now: 1_000_000));

    [Fact]
    public void OnlyDeliveredEventsMayBeReplayed()
    {
        Assert.Null(EventStates.ReplayRefusal(EventState.Delivered, null));
        Assert.Contains("scheduled", EventStates.ReplayRefusal(EventState.Scheduled, 1_000_001), StringComparison.Ordinal);
        Assert.NotNull(EventStates.ReplayRefusal(EventState.Cancelled, null));
        Assert.NotNull(EventStates.ReplayRefusal(EventState.Unknown, null));
    }

    [Fact]
    public void TheReplayMarkerIsAddedAndTheRestIsCopiedByteForByte()
    {
        var original = """{"format":1,"internal_id":"01JQDAE4RQF8MBCR55T5AK4KXS","user":{"name":"Zo\u00eb <x>","n":1.50},"data":{"s":"é"}}"""u8.ToArray();

        var marked = EventReplayer.MarkAsReplay(original, "01JQDAE4RQF8MBCR55T5AK4KXT");

        Assert.Equal(
            """{"format":1,"internal_id":"01JQDAE4RQF8MBCR55T5AK4KXS","user":{"name":"Zo\u00eb <x>","n":1.50},"data":{"s":"é"},"replay":true,"delivery_id":"01JQDAE4RQF8MBCR55T5AK4KXT"}""",
            Encoding.UTF8.GetString(marked));
        var again = EventReplayer.MarkAsReplay(marked, "01JQDAE4RQF8MBCR55T5AK4KXV");
        Assert.Equal(1, Encoding.UTF8.GetString(again).Split("\"replay\"").Length - 1);
        Assert.EndsWith("\"delivery_id\":\"01JQDAE4RQF8MBCR55T5AK4KXV\"}", Encoding.UTF8.GetString(again), StringComparison.Ordinal);
    }

    [Fact]
    public void AnErasedUserIsNullAndFlagged()
    {
        var view = new EventView("01JQDAE4RQF8MBCR55T5AK4KXS", null, "app/x", JsonDocument.Parse("{}").RootElement, StoredUser.Erased.Json,
            StoredUser.Erased.IsErased, 1, null, 2, "dev", "delivered", null);

        var json = JsonSerializer.SerializeToElement(view, ApiResults.JsonOptions);

        Assert.Equal(JsonValueKind.Null, json.GetProperty("user").ValueKind);
        Assert.True(json.GetProperty("user_erased").GetBoolean());
        Assert.False(json.TryGetProperty("due", out _));
        Assert.Equal("01JQDAE4RQF8MBCR55T5AK4KXS", json.GetProperty("internal_id").GetString());
        Assert.Equal(2, json.GetProperty("received_at").GetInt64());
    }

    [Fact]
    public void AReadableUserIsItsJson()
    {
        var user = StoredUser.FromJson("""{"external_id":"u-1"}"""u8);
        Assert.False(user.IsErased);
        Assert.Equal("u-1", user.Json!.Value.GetProperty("external_id").GetString());
    }
}
