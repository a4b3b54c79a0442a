using System.Globalization;
using EventIngest.Ingest;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using EventIngest.Ids;

namespace EventIngest.Api;

/// <summary>
/// The REST v1 event routes, shared by the Functions app and the local host. Each runs behind
/// <see cref="ApiGate"/>, so the environment is always the signing key's own.
/// </summary>
public sealed class EventsApi
{
    private readonly ApiGate gate;
    private readonly EventLookup reader;
    private readonly EventListing listing;
    private readonly EventReplayer replayer;
    private readonly TimeProvider time;

    /// <summary>Internal: the hosts resolve it from <see cref="ServiceCollectionExtensions.AddEventIngest"/>, whose
    /// registration calls this; its dependencies are not part of the public surface.</summary>
    internal EventsApi(ApiGate gate, EventLookup reader, EventListing listing, EventReplayer replayer, TimeProvider time)
    {
        this.gate = gate;
        this.reader = reader;
        this.listing = listing;
        this.replayer = replayer;
        this.time = time;
    }

    internal const int DefaultLimit = 20;
    internal const int MaxLimit = 100;

    /// <summary><c>GET /v1/events/{internalId}</c>: one point read (plus the blob of a large event).</summary>
    public Task<IResult> GetAsync(HttpRequest request, string internalId, CancellationToken ct) =>
        gate.RunAsync(request, ApiScopes.Read, async (environment, token) =>
        {
            if (ParseInternalId(internalId) is not { } id) return NotAnId();
            var record = await reader.FindAsync(environment, id, token);
            if (record is null) return NotFound(id);
            return ApiResults.Ok(await reader.ViewAsync(environment, record, token), time.GetUtcNow());
        }, ct);

    /// <summary><c>GET /v1/events</c>: newest first, filtered, one page per call.</summary>
    public Task<IResult> ListAsync(HttpRequest request, CancellationToken ct) =>
        gate.RunAsync(request, ApiScopes.Read, async (environment, token) =>
        {
            if (ParseList(request.Query, out var filter, out var limit, out var cursor) is { } invalid) return ApiResults.BadRequest(invalid);
            RecordPage page;
            try
            {
                page = await listing.ListAsync(environment, filter, limit, cursor, token);
            }
            catch (InvalidCursorException)
            {
                return ApiResults.BadRequest(InvalidCursor);
            }
            var writers = new System.Collections.Concurrent.ConcurrentDictionary<string, Task<bool>>(StringComparer.Ordinal);
            var events = await Task.WhenAll(page.Records.Select(r => reader.ViewAsync(environment, r, token, writers)));
            return ApiResults.Page(events, page.Next?.Encode(), time.GetUtcNow());
        }, ct);

    /// <summary><c>POST /v1/events/{internalId}/replay</c>: a new delivery of a stored event.</summary>
    public Task<IResult> ReplayAsync(HttpRequest request, string internalId, CancellationToken ct) =>
        gate.RunAsync(request, ApiScopes.Write, async (environment, token) =>
        {
            if (ParseInternalId(internalId) is not { } id) return NotAnId();
            var outcome = await replayer.ReplayAsync(environment, id, token);
            var now = time.GetUtcNow();
            return outcome.Status switch
            {
                ReplayStatus.Replayed => ApiResults.Ok(new ReplayView(id, outcome.DeliveryId!, outcome.Queues!, ApiResults.Timestamp(now)), now),
                ReplayStatus.NotFound => NotFound(id),
                _ => ApiResults.Conflict(outcome.Reason!),
            };
        }, ct);

    private const string InvalidCursor = "cursor is not one this API issued for these filters; start again without it";

    private static IResult NotAnId() => ApiResults.BadRequest("internalId must be a ULID: 26 characters of Crockford base32");

    private static IResult NotFound(string id) => ApiResults.NotFound($"No event {id} in this environment");

    /// <summary>ULIDs are case-insensitive; the stored form is upper case.</summary>
    private static string? ParseInternalId(string? value) => Ulid.Normalize(value);

    /// <summary>Reads the list parameters; returns the reason they are invalid, or null.</summary>
    internal static string? ParseList(IQueryCollection query, out EventFilter filter, out int limit, out ListCursor? cursor)
    {
        filter = new EventFilter(null, null, null, null);
        limit = DefaultLimit;
        cursor = null;
        foreach (var key in new[] { "name", "id", "received_after", "received_before", "limit", "cursor" })
        {
            if (query[key].Count > 1) return $"{key} may be given only once";
        }

        var name = Optional(query["name"]);
        if (name is not null && EventParser.LongerThan(name, EventParser.MaxNameLength)) return $"name is at most {EventParser.MaxNameLength} characters";
        var id = Optional(query["id"]);
        if (id is not null && EventParser.LongerThan(id, EventParser.MaxIdLength)) return $"id is at most {EventParser.MaxIdLength} characters";

        long? after = null, before = null;
        if (Optional(query["received_after"]) is { } afterText)
        {
            if (ParseTime(afterText) is not { } a) return "received_after must be ms since the Unix epoch or an RFC 3339 date-time";
            after = a;
        }
        if (Optional(query["received_before"]) is { } beforeText)
        {
            if (ParseTime(beforeText) is not { } b) return "received_before must be ms since the Unix epoch or an RFC 3339 date-time";
            before = b;
        }
        if (after >= before) return "received_after must be earlier than received_before";

        if (Optional(query["limit"]) is { } limitText)
        {
            if (!int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit < 1)
            {
                return $"limit must be an integer from 1 to {MaxLimit}";
            }
            limit = Math.Min(limit, MaxLimit);
        }

        filter = new EventFilter(name, id, after, before);
        if (Optional(query["cursor"]) is { } cursorText && !ListCursor.TryDecode(cursorText, filter.Fingerprint, out cursor))
        {
            return InvalidCursor;
        }
        return null;
    }

    private static string? Optional(StringValues values) => values.Count == 0 || string.IsNullOrEmpty(values[0]) ? null : values[0];

    private static long? ParseTime(string text)
    {
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var millis)) return millis;
        // An unencoded '+' in a query string arrives as a space.
        if (text.Length > 6 && text[^6] == ' ') text = string.Concat(text.AsSpan(0, text.Length - 6), "+", text.AsSpan(text.Length - 5));
        // RFC 3339 needs a date, a time and an offset; DateTimeOffset would accept far looser text.
        if (text.Length < 20 || text[10] is not ('T' or 't' or ' ')) return null;
        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out var time) && HasOffset(text)
            ? time.ToUnixTimeMilliseconds()
            : null;
    }

    private static bool HasOffset(string text) =>
        text[^1] is 'Z' or 'z' || (text.Length > 6 && text[^6] is '+' or '-' && text[^3] == ':');
}
