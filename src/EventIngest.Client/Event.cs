using System.Text.Json;

namespace EventIngest.Client;

/// <summary>
/// An event to send, without data (<c>"data": {}</c>). Use <see cref="Event{TData}"/> (or
/// <see cref="Create{TData}(string, TData)"/>) for events that carry data.
/// </summary>
/// <remarks>
/// <see cref="User"/> is personal data: EventIngest encrypts it at rest and can erase it per person.
/// Put personal data there rather than in the event's data.
/// </remarks>
public class Event
{
    /// <summary>An event named <paramref name="name"/>, such as <c>app/user.created</c>.</summary>
    /// <param name="name">The event name: non-empty, at most 256 characters, not starting with <c>inngest/</c>.</param>
    public Event(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Name = name;
    }

    /// <summary>The event name (<c>name</c>).</summary>
    public string Name { get; }

    /// <summary>
    /// The person the event is about (<c>user</c>): any object that serializes to a JSON object, such as
    /// <c>new { external_id = "u-42", email = "a@example.com" }</c>. <c>external_id</c> names the person,
    /// so their data can be erased later. Null sends no <c>user</c>.
    /// </summary>
    public object? User { get; init; }

    /// <summary>
    /// An idempotency key (<c>id</c>): a second event with the same key (in the same environment, within the
    /// server's window, 24 hours by default) is not delivered again and is answered
    /// <see cref="EventOutcome.Duplicate"/> with the first event's id. Null or empty sends none.
    /// </summary>
    public string? Id { get; init; }

    /// <summary>
    /// When the event happened (<c>ts</c>, sent as milliseconds since the Unix epoch). Null lets the server use
    /// the time it received the event. A time in the future schedules the event: it is delivered then.
    /// </summary>
    public DateTimeOffset? Timestamp { get; init; }

    /// <summary>A version label for the event's shape (<c>v</c>), such as <c>2024-01-01</c>.</summary>
    public string? Version { get; init; }

    /// <summary>An event named <paramref name="name"/> carrying <paramref name="data"/>; lets the compiler infer
    /// <typeparamref name="TData"/>, including anonymous types.</summary>
    /// <typeparam name="TData">The type of the data; it must serialize to a JSON object.</typeparam>
    /// <param name="name">The event name.</param>
    /// <param name="data">The event data.</param>
    /// <returns>The new event.</returns>
    public static Event<TData> Create<TData>(string name, TData data) => new(name, data);

    /// <summary>Writes the value of <c>data</c>.</summary>
    private protected virtual void WriteData(Utf8JsonWriter writer, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteEndObject();
    }

    /// <summary>Writes the event as the event API reads it. Absent values are left out, as the SDKs do.</summary>
    internal void WriteTo(Utf8JsonWriter writer, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteString("name"u8, Name);
        writer.WritePropertyName("data"u8);
        WriteData(writer, options);
        if (User is not null)
        {
            writer.WritePropertyName("user"u8);
            JsonSerializer.Serialize(writer, User, User.GetType(), options);
        }
        if (!string.IsNullOrEmpty(Id)) writer.WriteString("id"u8, Id);
        if (Timestamp is { } ts) writer.WriteNumber("ts"u8, ts.ToUnixTimeMilliseconds());
        if (Version is not null) writer.WriteString("v"u8, Version);
        writer.WriteEndObject();
    }
}

/// <summary>An event whose data (<c>data</c>) is a <typeparamref name="TData"/>.</summary>
/// <typeparam name="TData">The type of the data; it must serialize to a JSON object (a class, record,
/// dictionary or anonymous type). Serialized with <see cref="EventIngestClientOptions.SerializerOptions"/>.</typeparam>
public sealed class Event<TData> : Event
{
    /// <summary>An event named <paramref name="name"/> carrying <paramref name="data"/>.</summary>
    /// <param name="name">The event name: non-empty, at most 256 characters, not starting with <c>inngest/</c>.</param>
    /// <param name="data">The event data; null sends <c>{}</c>.</param>
    public Event(string name, TData data) : base(name) => Data = data;

    /// <summary>The event data.</summary>
    public TData Data { get; }

    private protected override void WriteData(Utf8JsonWriter writer, JsonSerializerOptions options)
    {
        if (Data is null) base.WriteData(writer, options);
        else JsonSerializer.Serialize(writer, Data, options);
    }
}
