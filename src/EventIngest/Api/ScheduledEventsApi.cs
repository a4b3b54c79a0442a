using System.Globalization;
using System.Text;
using System.Text.Json;
using EventIngest.Ingest;
using EventIngest.Scheduling;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using EventIngest.Ids;

namespace EventIngest.Api;

/// <summary>
/// Managing scheduled events before they are released: <c>GET /v1/scheduled</c>,
/// <c>PATCH /v1/events/{internalId}</c> (<c>{"ts": …}</c>) and <c>DELETE /v1/events/{internalId}</c>.
/// </summary>
public sealed class ScheduledEventsApi
{
    private readonly ApiGate gate;
    private readonly Scheduler scheduler;
    private readonly TimeProvider time;

    /// <summary>Internal: the hosts resolve it from <see cref="ServiceCollectionExtensions.AddEventIngest"/>, whose
    /// registration calls this; its dependencies are not part of the public surface.</summary>
    internal ScheduledEventsApi(ApiGate gate, Scheduler scheduler, IOptions<IngestOptions> options, TimeProvider time)
    {
        this.gate = gate;
        this.scheduler = scheduler;
        this.time = time;
        _skew = options.Value.ClockSkew;
    }

    internal const int DefaultLimit = 20;
    internal const int MaxLimit = 100;
    private readonly TimeSpan _skew;

    internal sealed record ScheduledEvent(string InternalId, string Name, string? Id, long Due, string Where);

    internal sealed record ScheduleState(string InternalId, string State, long? Due);

    public Task<IResult> ListAsync(HttpRequest request, CancellationToken ct) => gate.RunAsync(request, ApiScopes.Read, async (environment, token) =>
    {
        var query = request.Query;
        if (!TryLimit(query["limit"], out var limit)) return ApiResults.BadRequest($"limit must be an integer from 1 to {MaxLimit}");
        long? dueBefore = null;
        if (!string.IsNullOrEmpty(query["due_before"]))
        {
            if (!TryTime(query["due_before"]!, out var before)) return ApiResults.BadRequest("due_before must be milliseconds since the Unix epoch or an RFC 3339 time");
            dueBefore = before;
        }
        string? after = null;
        if (!string.IsNullOrEmpty(query["cursor"]) && !TryCursor(query["cursor"]!, environment, out after)) return ApiResults.BadRequest("cursor is not one this API returned");

        var (rows, next) = await scheduler.ListPendingAsync(environment, dueBefore, limit, after, token);
        var items = rows.Select(r => new ScheduledEvent(ScheduleIndex.InternalIdOf(r), r.GetString("Name"), r.GetString("Id"), r.GetInt64("Due")!.Value, r.GetString("State"))).ToList();
        return ApiResults.Page(items, next is null ? null : Base64Url(next), time.GetUtcNow());
    }, ct);

    public Task<IResult> RescheduleAsync(HttpRequest request, string internalId, CancellationToken ct) => gate.RunAsync(request, ApiScopes.Write, async (environment, token) =>
    {
        if (Ulid.Normalize(internalId) is not { } id) return ApiResults.BadRequest("internalId must be a ULID: 26 characters of Crockford base32");
        var ts = await ReadTsAsync(request, token);
        if (ts is null) return ApiResults.BadRequest($"Body must be {{\"ts\": <milliseconds since the Unix epoch, {EventParser.MinTs}..{EventParser.MaxTs}>}}");

        // A time in the past (or within the clock skew) releases the event at once, as at ingest.
        var change = await scheduler.RescheduleAsync(environment, id, ts.Value, token);
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        return Answer(change, id, new ScheduleState(id, ts.Value > now + (long)_skew.TotalMilliseconds ? "scheduled" : "released", ts.Value));
    }, ct);

    public Task<IResult> CancelAsync(HttpRequest request, string internalId, CancellationToken ct) => gate.RunAsync(request, ApiScopes.Write, async (environment, token) =>
    {
        if (Ulid.Normalize(internalId) is not { } id) return ApiResults.BadRequest("internalId must be a ULID: 26 characters of Crockford base32");
        var change = await scheduler.CancelAsync(environment, id, token);
        return Answer(change, id, new ScheduleState(id, "cancelled", null));
    }, ct);

    private IResult Answer(ScheduleChange change, string internalId, ScheduleState done) => change switch
    {
        ScheduleChange.Done => ApiResults.Ok(done, time.GetUtcNow()),
        ScheduleChange.NotFound => ApiResults.NotFound($"No event {internalId} in this environment"),
        ScheduleChange.Released => ApiResults.Conflict($"Event {internalId} has already been released to its queue; it can no longer be changed"),
        ScheduleChange.Cancelled => ApiResults.Conflict($"Event {internalId} was cancelled"),
        ScheduleChange.NotScheduled => ApiResults.Conflict($"Event {internalId} was not scheduled; it was delivered when it was sent"),
        _ => ApiResults.Conflict($"Event {internalId} is being changed by another request; retry"),
    };

    private static async Task<long?> ReadTsAsync(HttpRequest request, CancellationToken ct)
    {
        using var body = await ApiBody.ReadJsonAsync(request, ct);
        if (body is not { RootElement.ValueKind: JsonValueKind.Object }) return null;
        foreach (var property in body.RootElement.EnumerateObject())
        {
            if (!property.Name.Equals("ts", StringComparison.OrdinalIgnoreCase)) continue;
            var raw = property.Value.GetRawText();
            if (property.Value.ValueKind != JsonValueKind.Number || raw.AsSpan().IndexOfAny(".eE") >= 0 || !property.Value.TryGetInt64(out var ts)) return null;
            return ts is >= EventParser.MinTs and <= EventParser.MaxTs ? ts : null;
        }
        return null;
    }

    private static bool TryLimit(string? text, out int limit)
    {
        limit = DefaultLimit;
        return string.IsNullOrEmpty(text) || (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out limit) && limit is >= 1 and <= MaxLimit);
    }

    private static bool TryTime(string text, out long millis)
    {
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out millis)) return true;
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
        {
            millis = parsed.ToUnixTimeMilliseconds();
            return true;
        }
        return false;
    }

    /// <summary>The cursor is the last index key of the page; it must belong to the caller's environment.</summary>
    private static bool TryCursor(string cursor, string environment, out string? after)
    {
        after = null;
        try
        {
            var padded = cursor.Replace('-', '+').Replace('_', '/');
            padded += new string('=', (4 - padded.Length % 4) % 4);
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(padded));
            if (!text.StartsWith(environment + "|", StringComparison.Ordinal) || !text.Contains('#', StringComparison.Ordinal)) return false;
            after = text;
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private static string Base64Url(string text) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(text)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
