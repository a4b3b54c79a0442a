using EventIngest.Storage;
using EventIngest.Encryption;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Unicode;
using System.Text.Json;

namespace EventIngest.Ingest;

/// <summary>One event of a request, checked against the contract. <see cref="Data"/> and
/// <see cref="User"/> point into the request's <see cref="JsonDocument"/>, which must outlive them.</summary>
internal sealed class ParsedEvent
{
    public required int Index { get; init; }
    public required string Name { get; init; }
    /// <summary>The data object, or null for <c>{}</c>.</summary>
    public JsonElement? Data { get; init; }
    /// <summary>True when <see cref="Data"/> has a top-level <c>_inngest</c> key to drop.</summary>
    public bool DataHasInngestKey { get; init; }
    /// <summary>The user object, or null for <c>{}</c>.</summary>
    public JsonElement? User { get; init; }
    /// <summary>The caller's idempotency key; null when absent or empty.</summary>
    public string? Id { get; init; }
    /// <summary>Milliseconds since the epoch; the time of receipt when the caller sent none.</summary>
    public required long Ts { get; init; }
    /// <summary>The <c>ts</c> as the caller sent it: 0 when absent (a retry then gets another time of receipt).</summary>
    public long SentTs { get; init; }
    public string? V { get; init; }

    /// <summary>The queue envelope of the event (<see cref="EventMessage"/>).</summary>
    /// <param name="sealedUser">The event's <c>user</c>, sealed; never the plain object.</param>
    public byte[] ToMessage(string internalId, string environment, string sealedUser, long receivedAt, string? traceParent = null) =>
        EventMessage.Build(internalId, environment, Name, Id, Data, DataHasInngestKey, Ts, V, sealedUser, receivedAt, traceParent);
}

internal sealed record FieldError(int? Index, string? Field, string Message)
{
    public override string ToString() => Index is { } i ? $"event {i}: {Message}" : Message;
}

/// <summary>The outcome of parsing a request body: events, or the reasons it is refused.</summary>
internal sealed class ParseResult : IDisposable
{
    public JsonDocument? Document { get; init; }
    public IReadOnlyList<ParsedEvent> Events { get; init; } = [];
    public IReadOnlyList<FieldError> Errors { get; init; } = [];
    /// <summary>400, or 413 when an event is over the size limit.</summary>
    public int ErrorStatus { get; init; }
    public bool IsValid => Errors.Count == 0;
    public void Dispose() => Document?.Dispose();
}

/// <summary>
/// Parses and validates the whole body before anything is written (a request is all or
/// nothing). Field names match case-insensitively, as Go's decoder in Inngest's server does;
/// unlike it, a key repeated at an event's top level (in any case) is refused rather than
/// taking the last value.
/// </summary>
internal static class EventParser
{
    public const string BodyError = "Request body must contain an event object or an array of event objects";
    public const long MinTs = 315532800000;   // 1980-01-01
    public const long MaxTs = 4102444800000;  // 2100-01-01
    public const int MaxNameLength = 256;
    public const int MaxIdLength = 512;
    // v is stored as a table property, which Azure caps at 64 KiB; a version label needs far less.
    public const int MaxVersionLength = 512;
    private const int MaxReportedErrors = 100;

    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 64, AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow };

    public static ParseResult Parse(ReadOnlyMemory<byte> body, long receivedAt, int maxEventBytes)
    {
        if (IsBlank(body.Span)) return new ParseResult();

        // JsonDocument checks the UTF-8 of strings only when they are read; the envelope copies them raw.
        if (!Utf8.IsValid(body.Span)) return BodyFailure();

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, DocumentOptions);
        }
        catch (JsonException)
        {
            return BodyFailure();
        }

        var root = document.RootElement;
        var errors = new List<FieldError>();
        var tooLarge = false;
        List<ParsedEvent> events;
        if (root.ValueKind == JsonValueKind.Object)
        {
            events = new List<ParsedEvent>(1);
            Add(root, 0);
        }
        else if (root.ValueKind == JsonValueKind.Array)
        {
            var count = root.GetArrayLength();
            if (count > IngestOptions.MaxEventsPerRequest)
            {
                document.Dispose();
                return new ParseResult
                {
                    ErrorStatus = 400,
                    Errors = [new FieldError(null, null, $"Cannot have more than {IngestOptions.MaxEventsPerRequest} events in a batch")],
                };
            }
            events = new List<ParsedEvent>(count);
            var i = 0;
            foreach (var element in root.EnumerateArray()) Add(element, i++);
        }
        else
        {
            document.Dispose();
            return BodyFailure();
        }

        if (errors.Count > 0)
        {
            document.Dispose();
            return new ParseResult { Errors = errors, ErrorStatus = tooLarge ? 413 : 400 };
        }
        return new ParseResult { Document = document, Events = events };

        void Add(JsonElement element, int index)
        {
            var before = errors.Count;
            ParsedEvent? parsed;
            try
            {
                parsed = ParseEvent(element, index, receivedAt, maxEventBytes, errors, ref tooLarge);
            }
            catch (InvalidOperationException)
            {
                // A \u escape of half a surrogate pair is valid JSON but no text; System.Text.Json refuses to decode it.
                errors.Add(new FieldError(index, null, "event has a string with an unpaired surrogate escape (\\ud800-\\udfff)"));
                parsed = null;
            }
            if (parsed is not null && errors.Count == before) events.Add(parsed);
            if (errors.Count > MaxReportedErrors) errors.RemoveRange(MaxReportedErrors, errors.Count - MaxReportedErrors);
        }
    }

    private static ParseResult BodyFailure() =>
        new() { ErrorStatus = 400, Errors = [new FieldError(null, null, BodyError)] };

    private static bool IsBlank(ReadOnlySpan<byte> body)
    {
        foreach (var b in body)
        {
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')) return false;
        }
        return true;
    }

    private static ParsedEvent? ParseEvent(JsonElement element, int index, long receivedAt, int maxEventBytes, List<FieldError> errors, ref bool tooLarge)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            errors.Add(new FieldError(index, null, "event must be a JSON object"));
            return null;
        }

        var size = JsonMarshal.GetRawUtf8Value(element).Length;
        if (size > maxEventBytes)
        {
            tooLarge = true;
            errors.Add(new FieldError(index, null, $"event is {size} bytes, over the limit of {maxEventBytes} bytes"));
            return null;
        }

        JsonElement? name = null, data = null, user = null, id = null, ts = null, v = null;
        var seen = 0;
        HashSet<string>? otherKeys = null;
        foreach (var property in element.EnumerateObject())
        {
            var field = FieldOf(property);
            // A key given twice is refused: with "last one wins" a reserved name or a bad value
            // could hide behind a good one, and a reader of the body could not tell which counts.
            var repeated = field == Field.Other
                ? !(otherKeys ??= new HashSet<string>(StringComparer.Ordinal)).Add(property.Name)
                : (seen & (1 << (int)field)) != 0;
            if (repeated)
            {
                var key = field == Field.Other ? property.Name : field.ToString().ToLowerInvariant();
                errors.Add(new FieldError(index, key.Length > 64 ? null : key, $"key \"{(key.Length > 64 ? key[..64] + "..." : key)}\" appears more than once in the event"));
                return null;
            }
            seen |= 1 << (int)field;
            switch (field)
            {
                case Field.Name: name = property.Value; break;
                case Field.Data: data = property.Value; break;
                case Field.User: user = property.Value; break;
                case Field.Id: id = property.Value; break;
                case Field.Ts: ts = property.Value; break;
                case Field.V: v = property.Value; break;
            }
        }

        var start = errors.Count;
        var nameText = ReadName(name, index, errors);
        var dataObject = ReadObject(data, index, "data", errors);
        var userObject = ReadObject(user, index, "user", errors);
        if (userObject is { } u) CheckExternalId(u, index, errors);
        var idText = ReadOptionalString(id, index, "id", errors);
        if (idText is not null && LongerThan(idText, MaxIdLength))
        {
            errors.Add(new FieldError(index, "id", $"id is longer than {MaxIdLength} characters"));
        }
        var vText = ReadOptionalString(v, index, "v", errors);
        if (vText is not null && LongerThan(vText, MaxVersionLength))
        {
            errors.Add(new FieldError(index, "v", $"v is longer than {MaxVersionLength} characters"));
        }
        var tsValue = ReadTs(ts, index, receivedAt, errors);
        if (errors.Count > start) return null;

        return new ParsedEvent
        {
            Index = index,
            Name = nameText!,
            Data = dataObject,
            DataHasInngestKey = dataObject is { } d && HasInngestKey(d),
            User = userObject,
            Id = string.IsNullOrEmpty(idText) ? null : idText,
            Ts = tsValue,
            SentTs = ts is { ValueKind: JsonValueKind.Number } sent && sent.TryGetInt64(out var sentTs) ? sentTs : 0,
            V = vText,
        };
    }

    private static string? ReadName(JsonElement? value, int index, List<FieldError> errors)
    {
        if (value is not { } element || element.ValueKind == JsonValueKind.Null)
        {
            errors.Add(new FieldError(index, "name", "name is empty"));
            return null;
        }
        if (element.ValueKind != JsonValueKind.String)
        {
            errors.Add(new FieldError(index, "name", "name must be a string"));
            return null;
        }
        var text = element.GetString()!;
        if (text.Length == 0)
        {
            errors.Add(new FieldError(index, "name", "name is empty"));
            return null;
        }
        // A name has no more characters (runes) than UTF-16 units, so only a long one needs counting.
        if (LongerThan(text, MaxNameLength))
        {
            errors.Add(new FieldError(index, "name", $"name is longer than {MaxNameLength} characters"));
            return null;
        }
        if (text.StartsWith("inngest/", StringComparison.OrdinalIgnoreCase))
        {
            errors.Add(new FieldError(index, "name", $"event name is reserved for internal use: {text}"));
            return null;
        }
        return text;
    }

    private static JsonElement? ReadObject(JsonElement? value, int index, string field, List<FieldError> errors)
    {
        if (value is not { } element || element.ValueKind == JsonValueKind.Null) return null;
        if (element.ValueKind != JsonValueKind.Object)
        {
            errors.Add(new FieldError(index, field, $"{field} must be an object"));
            return null;
        }
        return element;
    }

    /// <summary>Whether <paramref name="text"/> has more than <paramref name="max"/> characters (Unicode scalar
    /// values, as Go counts runes), not UTF-16 units: the limits of name, id and v.</summary>
    internal static bool LongerThan(string text, int max)
    {
        if (text.Length <= max) return false;
        var count = 0;
        foreach (var _ in text.EnumerateRunes())
        {
            if (++count > max) return true;
        }
        return false;
    }

    /// <summary>
    /// Sealing names the person by the decoded <c>external_id</c>, and erasure must be able to name
    /// them again: it must decode (throws when it cannot) and be no longer than erasure accepts.
    /// </summary>
    private static void CheckExternalId(JsonElement user, int index, List<FieldError> errors)
    {
        foreach (var property in user.EnumerateObject())
        {
            if (!property.NameEquals("external_id") || property.Value.ValueKind is not (JsonValueKind.String or JsonValueKind.Number)) continue;
            // Without escapes the body's bytes are already checked UTF-8, which always decodes, and
            // a value of at most MaxLength bytes has at most MaxLength characters.
            var raw = JsonMarshal.GetRawUtf8Value(property.Value);
            if (raw.Length <= ExternalIds.MaxLength && raw.IndexOf((byte)'\\') < 0) continue;
            var text = property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString()! : property.Value.GetRawText();
            if (ExternalIds.IsTooLong(text)) errors.Add(new FieldError(index, "user", "user." + ExternalIds.TooLong));
        }
    }

    private static string? ReadOptionalString(JsonElement? value, int index, string field, List<FieldError> errors)
    {
        if (value is not { } element || element.ValueKind == JsonValueKind.Null) return null;
        if (element.ValueKind != JsonValueKind.String)
        {
            errors.Add(new FieldError(index, field, $"{field} must be a string"));
            return null;
        }
        return element.GetString();
    }

    private static long ReadTs(JsonElement? value, int index, long receivedAt, List<FieldError> errors)
    {
        if (value is not { } element || element.ValueKind == JsonValueKind.Null) return receivedAt;
        // An integer literal only: 1.0, 1e3 and strings are refused, as Go refuses them for int64.
        if (element.ValueKind != JsonValueKind.Number || JsonMarshal.GetRawUtf8Value(element).IndexOfAny(".eE"u8) >= 0
            || !element.TryGetInt64(out var ts))
        {
            errors.Add(new FieldError(index, "ts", "ts must be an integer number of milliseconds since the Unix epoch"));
            return 0;
        }
        if (ts == 0) return receivedAt;
        if (ts < MinTs || ts > MaxTs)
        {
            errors.Add(new FieldError(index, "ts", $"ts must be between {MinTs} (1980-01-01) and {MaxTs} (2100-01-01) in milliseconds; was it sent in seconds?"));
            return 0;
        }
        return ts;
    }

    private static bool HasInngestKey(JsonElement data)
    {
        // A key named _inngest is written out literally or with escapes; data with neither has none.
        var raw = JsonMarshal.GetRawUtf8Value(data);
        if (raw.IndexOf("_inngest"u8) < 0 && raw.IndexOf((byte)'\\') < 0) return false;
        foreach (var property in data.EnumerateObject())
        {
            if (property.NameEquals("_inngest")) return true;
        }
        return false;
    }

    private enum Field { Other, Name, Data, User, Id, Ts, V }

    private static Field FieldOf(JsonProperty property)
    {
        var raw = JsonMarshal.GetRawUtf8PropertyName(property);
        if (raw.IndexOf((byte)'\\') >= 0)
        {
            // Escaped names are rare; decode them once.
            raw = Encoding.UTF8.GetBytes(property.Name);
        }
        return raw.Length switch
        {
            1 when (raw[0] | 0x20) == 'v' => Field.V,
            2 when Ascii.EqualsIgnoreCase(raw, "id"u8) => Field.Id,
            2 when Ascii.EqualsIgnoreCase(raw, "ts"u8) => Field.Ts,
            4 when Ascii.EqualsIgnoreCase(raw, "name"u8) => Field.Name,
            4 when Ascii.EqualsIgnoreCase(raw, "data"u8) => Field.Data,
            4 when Ascii.EqualsIgnoreCase(raw, "user"u8) => Field.User,
            _ => Field.Other,
        };
    }
}
