using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace EventIngest.Ingest;

/// <summary>
/// The event route's response envelope. <c>"status"</c> is always in the body: the JS SDK
/// decides success from it, not from the HTTP status.
/// </summary>
internal sealed class IngestResponse : IResult
{
    private readonly int _status;
    private readonly IReadOnlyList<EventReceipt> _outcomes;
    private readonly IReadOnlyList<FieldError> _errors;
    private readonly int? _retryAfterSeconds;

    private IngestResponse(int status, IReadOnlyList<EventReceipt> outcomes, IReadOnlyList<FieldError> errors, int? retryAfterSeconds)
    {
        _status = status;
        _outcomes = outcomes;
        _errors = errors;
        _retryAfterSeconds = retryAfterSeconds;
    }

    public static IngestResponse Success(IReadOnlyList<EventReceipt> outcomes) => new(200, outcomes, [], null);

    public static IngestResponse Error(int status, string message, int? retryAfterSeconds = null) =>
        new(status, [], [new FieldError(null, null, message)], retryAfterSeconds);

    public static IngestResponse Error(int status, IReadOnlyList<FieldError> errors) => new(status, [], errors, null);

    public int StatusCode => _status;

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        response.StatusCode = _status;
        response.ContentType = "application/json";
        if (_retryAfterSeconds is { } seconds) response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        await using var writer = new Utf8JsonWriter(response.BodyWriter);
        Write(writer);
        await writer.FlushAsync();
        await response.BodyWriter.FlushAsync();
    }

    public void Write(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteStartArray("ids"u8);
        foreach (var o in _outcomes) w.WriteStringValue(o.Id);
        w.WriteEndArray();
        w.WriteNumber("status"u8, _status);
        if (_errors.Count > 0)
        {
            w.WriteString("error"u8, _errors[0].ToString());
            w.WriteStartArray("errors"u8);
            foreach (var e in _errors)
            {
                w.WriteStartObject();
                if (e.Index is { } index) w.WriteNumber("index"u8, index);
                if (e.Field is { } field) w.WriteString("field"u8, field);
                w.WriteString("message"u8, e.Message);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        else
        {
            w.WriteStartArray("events"u8);
            foreach (var o in _outcomes)
            {
                w.WriteStartObject();
                w.WriteString("id"u8, o.Id);
                w.WriteString("outcome"u8, o.Outcome switch
                {
                    Outcome.Accepted => "accepted",
                    Outcome.Scheduled => "scheduled",
                    _ => "duplicate",
                });
                if (o.Due is { } due) w.WriteNumber("due"u8, due);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }
}
