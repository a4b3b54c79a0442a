using System.Buffers;
using System.Buffers.Text;
using System.Text;
using System.Text.Json;
using Azure.Storage.Blobs;
using EventIngest.Encryption;

namespace EventIngest.Consumer;

/// <summary>
/// Turns an EventIngest queue message into a <see cref="ReceivedEvent{TData}"/>: follows a claim check to the
/// blob holding a large event, opens the sealed <c>user</c> through <see cref="UserDataProtector"/>, and reads
/// the data as the type asked for. Thread-safe.
/// </summary>
public class EventReader
{
    private const int KnownFormat = 1;

    private readonly BlobServiceClient _blobs = null!;
    private readonly UserDataProtector? _users;
    private readonly EventConsumerOptions _options = new();

    /// <summary>For mocking.</summary>
    protected EventReader()
    {
    }

    /// <summary>A reader for messages of the EventIngest deployment whose storage account <paramref name="blobs"/> is.</summary>
    /// <param name="blobs">The service's storage account, where large events are kept (claim checks).</param>
    /// <param name="users">Opens <c>user</c>; null when <see cref="EventConsumerOptions.OpenUser"/> is false.</param>
    /// <param name="options">Reading options; null for the defaults.</param>
    public EventReader(BlobServiceClient blobs, UserDataProtector? users, EventConsumerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(blobs);
        _blobs = blobs;
        _options = options ?? new EventConsumerOptions();
        if (_options.OpenUser && users is null)
        {
            throw new ArgumentException("Opening user data needs a UserDataProtector; pass one or set EventConsumerOptions.OpenUser to false.", nameof(users));
        }
        _users = _options.OpenUser ? users : null;
    }

    /// <summary>Reads a message whose data can be any JSON object.</summary>
    /// <param name="message">The message text, as a QueueTrigger binds it to a <see cref="string"/>.</param>
    /// <param name="cancellationToken">Cancels the blob download and key lookups.</param>
    /// <returns>The event.</returns>
    public Task<ReceivedEvent<JsonElement>> ReadAsync(string message, CancellationToken cancellationToken = default) =>
        ReadAsync<JsonElement>(message, cancellationToken);

    /// <summary>Reads a message, its data as a <typeparamref name="TData"/>.</summary>
    /// <typeparam name="TData">The type of the event's data.</typeparam>
    /// <param name="message">The message text, as a QueueTrigger binds it to a <see cref="string"/>. Text still in
    /// base64 (a queue read without decoding) is decoded too.</param>
    /// <param name="cancellationToken">Cancels the blob download and key lookups.</param>
    /// <returns>The event.</returns>
    /// <exception cref="EventFormatException">The message is not an event envelope this reader knows.</exception>
    /// <exception cref="JsonException">The data does not fit <typeparamref name="TData"/>.</exception>
    /// <exception cref="UserDataUnreadableException">The sealed <c>user</c> was altered or belongs to another event.</exception>
    /// <exception cref="KeyManagementUnavailableException">The keys to open <c>user</c> cannot be reached now; retry later.</exception>
    public virtual Task<ReceivedEvent<TData>> ReadAsync<TData>(string message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        return ReadAsync<TData>(Encoding.UTF8.GetBytes(message), cancellationToken);
    }

    /// <summary>Reads a message, its data as a <typeparamref name="TData"/>.</summary>
    /// <typeparam name="TData">The type of the event's data.</typeparam>
    /// <param name="message">The message body, as a QueueTrigger binds it to <see cref="BinaryData"/> (or
    /// <c>QueueMessage.Body</c>).</param>
    /// <param name="cancellationToken">Cancels the blob download and key lookups.</param>
    /// <returns>The event.</returns>
    /// <exception cref="EventFormatException">The message is not an event envelope this reader knows.</exception>
    /// <exception cref="JsonException">The data does not fit <typeparamref name="TData"/>.</exception>
    /// <exception cref="UserDataUnreadableException">The sealed <c>user</c> was altered or belongs to another event.</exception>
    /// <exception cref="KeyManagementUnavailableException">The keys to open <c>user</c> cannot be reached now; retry later.</exception>
    public virtual Task<ReceivedEvent<TData>> ReadAsync<TData>(BinaryData message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        return ReadAsync<TData>(message.ToMemory(), cancellationToken);
    }

    /// <summary>Reads every event a message carries, data as <see cref="JsonElement"/>: see <see cref="ReadAllAsync{TData}(BinaryData, CancellationToken)"/>.</summary>
    /// <param name="message">The message text, as a QueueTrigger binds it to a <see cref="string"/>.</param>
    /// <param name="cancellationToken">Cancels the blob downloads and key lookups.</param>
    /// <returns>The events, in the order they were sent in.</returns>
    public Task<IReadOnlyList<ReceivedEvent<JsonElement>>> ReadAllAsync(string message, CancellationToken cancellationToken = default) =>
        ReadAllAsync<JsonElement>(message, cancellationToken);

    /// <summary>Reads every event a message carries: one for an ordinary message, several for a message of a packed
    /// queue (a route with <c>Packed</c> set; docs/message-format.md). Reads both kinds, so a consumer of a queue
    /// that is or may become packed uses this instead of <see cref="ReadAsync{TData}(string, CancellationToken)"/>.</summary>
    /// <typeparam name="TData">The type of the events' data.</typeparam>
    /// <param name="message">The message text, as a QueueTrigger binds it to a <see cref="string"/>.</param>
    /// <param name="cancellationToken">Cancels the blob downloads and key lookups.</param>
    /// <returns>The events, in the order they were sent in.</returns>
    /// <exception cref="EventFormatException">The message is not an event envelope this reader knows.</exception>
    public virtual Task<IReadOnlyList<ReceivedEvent<TData>>> ReadAllAsync<TData>(string message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        return ReadAllAsync<TData>(Encoding.UTF8.GetBytes(message), cancellationToken);
    }

    /// <summary>Reads every event a message carries; see <see cref="ReadAllAsync{TData}(string, CancellationToken)"/>.</summary>
    /// <typeparam name="TData">The type of the events' data.</typeparam>
    /// <param name="message">The message body, as a QueueTrigger binds it to <see cref="BinaryData"/> (or
    /// <c>QueueMessage.Body</c>).</param>
    /// <param name="cancellationToken">Cancels the blob downloads and key lookups.</param>
    /// <returns>The events, in the order they were sent in.</returns>
    /// <exception cref="EventFormatException">The message is not an event envelope this reader knows.</exception>
    public virtual Task<IReadOnlyList<ReceivedEvent<TData>>> ReadAllAsync<TData>(BinaryData message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        return ReadAllAsync<TData>(message.ToMemory(), cancellationToken);
    }

    private async Task<IReadOnlyList<ReceivedEvent<TData>>> ReadAllAsync<TData>(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        using var document = Parse(Unwrap(message), "The queue message");
        var root = document.RootElement;
        CheckFormat(root);
        if (!root.TryGetProperty("events", out var packed)) return [await ReadOneAsync<TData>(root, cancellationToken)];
        if (packed.ValueKind != JsonValueKind.Array || packed.GetArrayLength() == 0)
        {
            throw new EventFormatException("The packed message's 'events' is not a list of events.");
        }
        foreach (var element in packed.EnumerateArray())
        {
            if (element.ValueKind != JsonValueKind.Object) throw new EventFormatException("An element of the packed message's 'events' is not a JSON object.");
            CheckFormat(element);
        }
        return await Task.WhenAll(packed.EnumerateArray().Select(element => ReadOneAsync<TData>(element, cancellationToken)));
    }

    private async Task<ReceivedEvent<TData>> ReadAsync<TData>(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        using var document = Parse(Unwrap(message), "The queue message");
        var root = document.RootElement;
        CheckFormat(root);
        if (root.TryGetProperty("events", out var packed))
        {
            throw new EventFormatException($"The message carries {(packed.ValueKind == JsonValueKind.Array ? packed.GetArrayLength() : 0)} events of a packed queue; read it with ReadAllAsync.");
        }
        return await ReadOneAsync<TData>(root, cancellationToken);
    }

    /// <summary>One event: an envelope, or a claim check pointing at the blob that holds it.</summary>
    private async Task<ReceivedEvent<TData>> ReadOneAsync<TData>(JsonElement root, CancellationToken cancellationToken)
    {
        if (root.TryGetProperty("claim_check", out var check))
        {
            // Too large for a queue message: the envelope itself is a blob in the service's account.
            var internalId = RequiredString(root, "internal_id");
            var container = RequiredString(check, "container");
            var blob = RequiredString(check, "blob");
            var content = await _blobs.GetBlobContainerClient(container).GetBlobClient(blob).DownloadContentAsync(cancellationToken);
            using var full = Parse(content.Value.Content.ToMemory(), $"The claim-checked blob {container}/{blob}");
            CheckFormat(full.RootElement);
            if (RequiredString(full.RootElement, "internal_id") != internalId)
            {
                throw new EventFormatException($"The claim-checked blob {container}/{blob} holds another event than {internalId}.");
            }
            return await ReadEnvelopeAsync<TData>(full.RootElement, cancellationToken);
        }
        return await ReadEnvelopeAsync<TData>(root, cancellationToken);
    }

    private async Task<ReceivedEvent<TData>> ReadEnvelopeAsync<TData>(JsonElement e, CancellationToken cancellationToken)
    {
        var environment = RequiredString(e, "env");
        var internalId = RequiredString(e, "internal_id");
        var name = RequiredString(e, "name");
        var sealedUser = RequiredString(e, "user");
        var timestamp = Millis(e, "ts");
        var receivedAt = Millis(e, "received_at");

        JsonElement? user = null;
        var erased = false;
        if (_users is not null)
        {
            var opened = await _users.OpenAsync(environment, internalId, sealedUser, cancellationToken);
            erased = opened.IsErased;
            if (opened.UserJson is { } json)
            {
                using var userDocument = JsonDocument.Parse(json);
                user = userDocument.RootElement.Clone();
            }
        }

        var data = e.TryGetProperty("data", out var d) && d.ValueKind == JsonValueKind.Object ? d : EmptyObject;
        return new ReceivedEvent<TData>
        {
            InternalId = internalId,
            Environment = environment,
            Name = name,
            Id = OptionalString(e, "id"),
            Data = data.Deserialize<TData>(_options.SerializerOptions)!,
            User = user,
            UserErased = erased,
            Timestamp = timestamp,
            Version = OptionalString(e, "v"),
            ReceivedAt = receivedAt,
            IsReplay = e.TryGetProperty("replay", out var replay) && replay.ValueKind == JsonValueKind.True,
            DeliveryId = OptionalString(e, "delivery_id"),
            TraceParent = OptionalString(e, "traceparent"),
        };
    }

    /// <summary>The JSON bytes of a message: as given, or decoded when it is still base64 (a JSON object starts
    /// with '{', which base64 never contains).</summary>
    private static ReadOnlyMemory<byte> Unwrap(ReadOnlyMemory<byte> message)
    {
        var span = message.Span.TrimStart(" \t\r\n"u8);
        if (span.IsEmpty || span[0] == (byte)'{') return message;
        var decoded = new byte[Base64.GetMaxDecodedFromUtf8Length(span.Length)];
        var status = Base64.DecodeFromUtf8(span.TrimEnd(" \t\r\n"u8), decoded, out _, out var written);
        return status == OperationStatus.Done ? decoded.AsMemory(0, written) : message;
    }

    private static JsonDocument Parse(ReadOnlyMemory<byte> json, string what)
    {
        try
        {
            var document = JsonDocument.Parse(json);
            if (document.RootElement.ValueKind == JsonValueKind.Object) return document;
            document.Dispose();
            throw new EventFormatException($"{what} is not a JSON object.");
        }
        catch (JsonException ex)
        {
            throw new EventFormatException($"{what} is not JSON.", ex);
        }
    }

    private static void CheckFormat(JsonElement e)
    {
        if (!e.TryGetProperty("format", out var format) || !format.TryGetInt32(out var version))
        {
            throw new EventFormatException("The message has no format number; it is not an EventIngest event envelope.");
        }
        if (version != KnownFormat)
        {
            throw new EventFormatException($"The message has envelope format {version}; this reader knows format {KnownFormat}. Update EventIngest.Consumer.");
        }
    }

    private static string RequiredString(JsonElement e, string name) =>
        e.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()!
            : throw new EventFormatException($"The event envelope has no '{name}'.");

    private static string? OptionalString(JsonElement e, string name) =>
        e.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static DateTimeOffset Millis(JsonElement e, string name) =>
        e.TryGetProperty(name, out var value) && value.TryGetInt64(out var millis)
            ? DateTimeOffset.FromUnixTimeMilliseconds(millis)
            : throw new EventFormatException($"The event envelope has no '{name}'.");

    private static readonly JsonElement EmptyObject = JsonDocument.Parse("{}").RootElement;
}
