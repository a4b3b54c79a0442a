using EventIngest.Consumer;
using Microsoft.Azure.Functions.Worker;

namespace ConsumerFunctions;

/// <summary>
/// Sends a receipt for every order, once. Events reach the queue "orders" through a route on the ingest app:
/// <c>EventIngest:Routing:Routes:0:Pattern = app/order.*</c>, <c>EventIngest:Routing:Routes:0:Queue = orders</c>.
/// </summary>
public sealed class OnOrderPlaced(EventReader events, EventInbox inbox, Receipts receipts)
{
    [Function(nameof(OnOrderPlaced))]
    public async Task Run([QueueTrigger("orders", Connection = "EventIngestStorage")] string message, CancellationToken cancellationToken)
    {
        var e = await events.ReadAsync<OrderPlaced>(message, cancellationToken);
        if (e.Name != OrderPlaced.EventName) return;
        await inbox.ProcessOnceAsync(nameof(OnOrderPlaced), e, ct => receipts.SendAsync(e, ct), cancellationToken);
    }
}
