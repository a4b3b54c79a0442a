using System.Globalization;
using System.Text.Json;
using Azure;
using Azure.Storage.Queues.Models;
using EventIngest.Api;
using EventIngest.Ingest;
using EventIngest.Storage;
using Microsoft.Extensions.Options;
using EventIngest.Ids;

namespace EventIngest.DevServer.Console;

/// <summary>
/// What the dev console needs and the REST API does not offer: the configured routes and queues
/// with their message counts, a peek at a queue's next messages, and an event's deliveries.
/// Local host only, behind the same gate (and scopes) as every <c>/v1</c> route.
/// </summary>
internal sealed class ConsoleApi(ApiGate gate, StorageAccount storage, IOptions<RoutingOptions> routing, EventLookup reader, ReplayLog replays, TimeProvider time)
{
    public const int MaxPeek = 32;

    public sealed record RouteView(string Pattern, string Queue, int Shards);

    public sealed record QueueView(string Name, string Queue, int? Shard, string Role, IReadOnlyList<string> Patterns, bool Exists, int ApproximateMessages);

    public sealed record QueuesView(IReadOnlyList<RouteView> Routes, string DefaultQueue, IReadOnlyList<QueueView> Queues);

    public sealed record MessageView(string MessageId, string? InsertedOn, string? ExpiresOn, long DequeueCount, JsonElement Message);

    public sealed record DeliveriesView(string InternalId, string State, IReadOnlyList<string> Queues, long? DeliveredAt, long? Due, IReadOnlyList<ReplayEntry> Replays);

    /// <summary><c>GET /v1/queues</c>.</summary>
    public Task<IResult> QueuesAsync(HttpRequest request, CancellationToken ct) => gate.RunAsync(request, ApiScopes.Read, async (_, token) =>
    {
        var queues = await Task.WhenAll(KnownQueues().Select(async q =>
        {
            var (exists, count) = await CountAsync(q.Name, token);
            return q with { Exists = exists, ApproximateMessages = count };
        }));
        var options = routing.Value;
        var routes = options.Routes.Select(r => new RouteView(r.Pattern, r.Queue, r.Shards)).ToList();
        return ApiResults.Ok(new QueuesView(routes, options.DefaultQueue, queues), time.GetUtcNow());
    }, ct);

    /// <summary><c>GET /v1/queues/{queue}/messages</c>: Queue Storage's peek, which leaves the messages where they are.</summary>
    public Task<IResult> PeekAsync(HttpRequest request, string queue, CancellationToken ct) => gate.RunAsync(request, ApiScopes.Read, async (_, token) =>
    {
        if (!KnownQueues().Any(q => q.Name == queue)) return ApiResults.NotFound($"{queue} is not a queue this host routes to");
        var limit = 10;
        if (request.Query["limit"] is { Count: > 0 } text && (!int.TryParse(text[0], NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > MaxPeek))
        {
            return ApiResults.BadRequest($"limit must be an integer from 1 to {MaxPeek}");
        }

        MessageView[] messages;
        try
        {
            var peeked = await storage.Queue(queue).PeekMessagesAsync(limit, token);
            messages = peeked.Value.Select(View).ToArray();
        }
        catch (RequestFailedException ex) when (ex.Status == StatusCodes.Status404NotFound)
        {
            messages = [];
        }
        return ApiResults.Ok(messages, time.GetUtcNow());
    }, ct);

    /// <summary><c>GET /v1/events/{internalId}/deliveries</c>: the queues an event was routed to, when it reached them, and its replays.</summary>
    public Task<IResult> DeliveriesAsync(HttpRequest request, string internalId, CancellationToken ct) => gate.RunAsync(request, ApiScopes.Read, async (environment, token) =>
    {
        if (Ulid.Normalize(internalId) is not { } id) return ApiResults.BadRequest("internalId must be a ULID: 26 characters of Crockford base32");
        var record = await reader.FindAsync(environment, id, token);
        if (record is null) return ApiResults.NotFound($"No event {id} in this environment");

        var stored = record.State;
        var due = record.Due;
        var state = EventStates.Of(stored, due, time.GetUtcNow().ToUnixTimeMilliseconds());
        // Sent when received, or (a scheduled event) at its due time once released.
        long? deliveredAt = state == EventState.Delivered ? due ?? record.ReceivedAt : null;
        var queues = record.Queues;
        var log = await replays.ListAsync(environment, id, token);
        return ApiResults.Ok(new DeliveriesView(id, EventStates.Name(state), queues, deliveredAt, due, log), time.GetUtcNow());
    }, ct);

    /// <summary>Every queue events can land on: each shard of the default queue and of every route's
    /// queue, then the due queue where scheduled events' markers wait.</summary>
    private List<QueueView> KnownQueues()
    {
        var options = routing.Value;
        var byQueue = new List<(string Queue, int Shards, List<string> Patterns, string Role)>
        {
            (options.DefaultQueue, options.DefaultShards, [], "default"),
        };
        foreach (var route in options.Routes)
        {
            var known = byQueue.FindIndex(q => q.Queue == route.Queue);
            if (known >= 0) byQueue[known].Patterns.Add(route.Pattern);
            else byQueue.Add((route.Queue, route.Shards, [route.Pattern], "route"));
        }

        var views = new List<QueueView>();
        foreach (var (queue, shards, patterns, role) in byQueue)
        {
            var names = QueueShards.Names(queue, shards);
            for (var i = 0; i < names.Count; i++)
            {
                views.Add(new QueueView(names[i], queue, shards > 1 ? i : null, patterns.Count > 0 && role == "default" ? "default+route" : role, patterns, false, 0));
            }
        }
        views.Add(new QueueView(storage.DueQueueName, storage.DueQueueName, null, "due", [], false, 0));
        return views;
    }

    private async Task<(bool Exists, int Count)> CountAsync(string queue, CancellationToken ct)
    {
        try
        {
            return (true, (await storage.Queue(queue).GetPropertiesAsync(ct)).Value.ApproximateMessagesCount);
        }
        catch (RequestFailedException ex) when (ex.Status == StatusCodes.Status404NotFound)
        {
            return (false, 0);
        }
    }

    private static MessageView View(PeekedMessage message)
    {
        JsonElement body;
        try
        {
            body = JsonDocument.Parse(message.Body.ToMemory()).RootElement.Clone();
        }
        catch (JsonException)
        {
            body = JsonSerializer.SerializeToElement(message.Body.ToString());
        }
        return new MessageView(message.MessageId, Timestamp(message.InsertedOn), Timestamp(message.ExpiresOn), message.DequeueCount, body);
    }

    private static string? Timestamp(DateTimeOffset? time) => time is { } t ? ApiResults.Timestamp(t) : null;
}

/// <summary>Endpoint metadata of the routes only the local host serves (the console and its API).</summary>
public sealed class LocalHostOnly
{
    public static readonly LocalHostOnly Marker = new();

    private LocalHostOnly()
    {
    }
}
