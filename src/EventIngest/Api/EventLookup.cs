using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization;
using Azure.Data.Tables;
using EventIngest.Encryption;
using EventIngest.Storage;
using EventIngest.Delivery;

namespace EventIngest.Api;

/// <summary>An event as the REST API returns it.</summary>
internal sealed record EventView(
    string InternalId,
    string? Id,
    string Name,
    JsonElement Data,
    JsonElement? User,
    bool UserErased,
    long Ts,
    string? V,
    long ReceivedAt,
    string Env,
    string State,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? Due);

/// <summary>The <c>user</c> of a stored event: its JSON, or nothing once the person was erased.</summary>
internal readonly record struct StoredUser(JsonElement? Json)
{
    public static StoredUser Erased => default;
    public bool IsErased => Json is null;

    public static StoredUser FromJson(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        return new StoredUser(JsonElement.ParseValue(ref reader));
    }
}

/// <summary>
/// Reads event records and their envelopes. A record is found by its internal id with one point
/// read: both keys derive from the id and the environment (<see cref="RecordKeys"/>).
/// </summary>
internal sealed class EventLookup(StorageAccount storage, LargeEnvelopes large, Outbox outbox, UserDataProtector protector, TimeProvider time)
{
    public async Task<EventRecord?> FindAsync(string environment, string internalId, CancellationToken ct)
    {
        await storage.EnsureCreatedAsync(ct);
        var found = await storage.Events.GetEntityIfExistsAsync<TableEntity>(
            RecordKeys.Partition(environment, internalId), RecordKeys.Row(internalId), EventRecord.ViewColumns, ct);
        return found.HasValue && EventRecord.FromEntity(found.Value!) is { State: not RecordState.Void } record ? record : null;
    }

    /// <param name="writers">Shared by the views of one page: whether each writing request is still in flight.</param>
    public async Task<EventView> ViewAsync(string environment, EventRecord record, CancellationToken ct, ConcurrentDictionary<string, Task<bool>>? writers = null)
    {
        var internalId = record.InternalId;
        using var envelope = JsonDocument.Parse(await large.ReadAsync(record, ct));
        var root = envelope.RootElement;
        var user = await ReadUserAsync(environment, internalId, root.GetProperty("user"), ct);
        var state = EventStates.Of(record.State, record.Due, time.GetUtcNow().ToUnixTimeMilliseconds());
        if (record.State == RecordState.Pending && await InFlightAsync(record, writers, ct)) state = EventState.Pending;
        return new EventView(
            internalId,
            record.Id,
            record.Name,
            root.GetProperty("data").Clone(),
            user.Json,
            user.IsErased,
            record.Ts,
            record.V,
            record.ReceivedAt,
            environment,
            EventStates.Name(state),
            record.Due);
    }

    /// <summary>A record is known to be on its queues once the outbox row of the request that wrote
    /// it is gone (the request, or the repair job, finished sending); until then it is on its way.</summary>
    private Task<bool> InFlightAsync(EventRecord record, ConcurrentDictionary<string, Task<bool>>? writers, CancellationToken ct)
    {
        if (record.Outbox is not { } partition || record.Writer is not { } nonce || outbox.IsFinished(partition, nonce)) return Task.FromResult(false);
        return writers is null ? OutboxRowExistsAsync(partition, nonce, ct) : writers.GetOrAdd(partition + "/" + nonce, _ => OutboxRowExistsAsync(partition, nonce, ct));
    }

    private async Task<bool> OutboxRowExistsAsync(string partition, string nonce, CancellationToken ct) =>
        (await storage.Outbox.GetEntityIfExistsAsync<TableEntity>(partition, nonce, ["RowKey"], ct)).HasValue;

    /// <summary>The only place the API reads <c>user</c> from a stored envelope: it opens the
    /// sealed value, or answers <see cref="StoredUser.Erased"/> once the person was erased.</summary>
    /// <exception cref="Encryption.KeyManagementUnavailableException">Keys unreachable (the gate answers 503).</exception>
    /// <exception cref="UserDataUnreadableException">The stored value was altered.</exception>
    public async ValueTask<StoredUser> ReadUserAsync(string environment, string internalId, JsonElement stored, CancellationToken ct)
    {
        // Events stored before user was sealed (local data of older versions) hold the plain object.
        if (stored.ValueKind != JsonValueKind.String) return new StoredUser(stored.Clone());
        var opened = await protector.OpenAsync(environment, internalId, stored.GetString()!, ct);
        return opened.UserJson is { } json ? StoredUser.FromJson(json) : StoredUser.Erased;
    }
}
