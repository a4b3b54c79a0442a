using EventIngest.Consumer;
using Microsoft.Azure.Functions.Worker;

namespace ConsumerFunctions;

/// <summary>
/// Sends a receipt for every order, once. Events reach the queue "orders", spread over four shards, through a
/// route on the ingest app: <c>EventIngest:Routing:Routes:0:Pattern = app/order.*</c>,
/// <c>EventIngest:Routing:Routes:0:Queue = orders</c>, <c>EventIngest:Routing:Routes:0:Shards = 4</c>.
/// </summary>
/// <remarks>A QueueTrigger listens on one queue, so each shard (<c>orders-0</c> … <c>orders-3</c>) has its own
/// function; they all run <see cref="Run"/>, and the inbox knows them as one consumer. Changing the route's shard
/// count means changing the functions here too.</remarks>
public sealed class OnOrderPlaced(EventReader events, EventInbox inbox, Receipts receipts)
{
    public const string Queue = "orders";
    public const int Shards = 4;
    private const string Connection = "EventIngestStorage";

    [Function("OnOrderPlaced0")]
    public Task Shard0([QueueTrigger("orders-0", Connection = Connection)] string message, CancellationToken cancellationToken) => Run(message, cancellationToken);

    [Function("OnOrderPlaced1")]
    public Task Shard1([QueueTrigger("orders-1", Connection = Connection)] string message, CancellationToken cancellationToken) => Run(message, cancellationToken);

    [Function("OnOrderPlaced2")]
    public Task Shard2([QueueTrigger("orders-2", Connection = Connection)] string message, CancellationToken cancellationToken) => Run(message, cancellationToken);

    [Function("OnOrderPlaced3")]
    public Task Shard3([QueueTrigger("orders-3", Connection = Connection)] string message, CancellationToken cancellationToken) => Run(message, cancellationToken);

    public async Task Run(string message, CancellationToken cancellationToken)
    {
        // One event, or several when the route is packed; the inbox handles each once, so when a later event of a
        // packed message fails and the message comes back, the ones before it are not sent twice.
        foreach (var e in await events.ReadAllAsync<OrderPlaced>(message, cancellationToken))
        {
            if (e.Name != OrderPlaced.EventName) continue;
            await inbox.ProcessOnceAsync(nameof(OnOrderPlaced), e, ct => receipts.SendAsync(e, ct), cancellationToken);
        }
    }
}
