using System.Text.Json;

namespace EventIngest.Consumer;

/// <summary>An event as delivered on a queue, with its <c>user</c> opened; see docs/message-format.md.</summary>
public class ReceivedEvent
{
    private protected ReceivedEvent()
    {
    }

    /// <summary>The id EventIngest assigned (<c>internal_id</c>), the one the sender got back. Every delivery of the
    /// event carries it.</summary>
    public required string InternalId { get; init; }

    /// <summary>The environment the event was sent to (<c>env</c>).</summary>
    public required string Environment { get; init; }

    /// <summary>The event name.</summary>
    public required string Name { get; init; }

    /// <summary>The sender's idempotency key (<c>id</c>), if any.</summary>
    public string? Id { get; init; }

    /// <summary>The <c>user</c> object as sent; null when the person was erased (<see cref="UserErased"/>) or when
    /// the reader does not open user data (<see cref="EventConsumerOptions.OpenUser"/>). Personal data: never log it.</summary>
    public JsonElement? User { get; init; }

    /// <summary>True when the person asked to be forgotten: their <c>user</c> data no longer opens. Handle the event
    /// without it.</summary>
    public bool UserErased { get; init; }

    /// <summary>When the event happened (<c>ts</c>); for a scheduled event, when it was due.</summary>
    public DateTimeOffset Timestamp { get; init; }

    /// <summary>The sender's version label (<c>v</c>), if any.</summary>
    public string? Version { get; init; }

    /// <summary>When EventIngest received the event (<c>received_at</c>).</summary>
    public DateTimeOffset ReceivedAt { get; init; }

    /// <summary>True for a deliberate redelivery (a replay), which carries its own <see cref="DeliveryId"/>.</summary>
    public bool IsReplay { get; init; }

    /// <summary>The id of this delivery when it differs from the event's (replays); null otherwise.</summary>
    public string? DeliveryId { get; init; }

    /// <summary>The W3C trace context of the request that sent the event (<c>traceparent</c>), if it carried one:
    /// the parent of the consumer's span (<see cref="ConsumerActivities"/>).</summary>
    public string? TraceParent { get; init; }

    /// <summary>The <c>user</c> object as a <typeparamref name="TUser"/>; default when there is none (erased or
    /// not opened).</summary>
    /// <typeparam name="TUser">The type to read the user object as.</typeparam>
    /// <param name="options">Serializer settings; null uses <see cref="JsonSerializerDefaults.Web"/>.</param>
    /// <returns>The user object, or default.</returns>
    public TUser? GetUser<TUser>(JsonSerializerOptions? options = null) =>
        User is { } user ? user.Deserialize<TUser>(options ?? EventConsumerOptions.DefaultSerializerOptions) : default;
}

/// <summary>An event as delivered on a queue, with its data read as a <typeparamref name="TData"/>.</summary>
/// <typeparam name="TData">The type of the event's data (<see cref="JsonElement"/> for any).</typeparam>
public sealed class ReceivedEvent<TData> : ReceivedEvent
{
    /// <summary>The event data (<c>data</c>; <c>{}</c> when the sender gave none).</summary>
    public required TData Data { get; init; }
}
