using EventIngest.Client;

// Where to send comes from the environment, as for Inngest's SDKs: INNGEST_DEV=1 for the local host on
// http://localhost:8288/, or INNGEST_DEV=<url>, or INNGEST_BASE_URL and INNGEST_EVENT_KEY.
var client = new EventIngestClient();
Console.WriteLine($"Sending to {client.BaseUrl}");

var order = new Event<OrderPlaced>("app/order.placed", new OrderPlaced("o-1001", 42.50m))
{
    User = new { external_id = "customer-7", email = "ada@example.com" },
    Id = "order-o-1001",
};
Print("One event", await client.SendAsync(order));

Print("A batch", await client.SendAsync(
[
    Event.Create("app/cart.updated", new { cartId = "c-1", items = 3 }),
    new Event("app/reminder.due") { Timestamp = DateTimeOffset.UtcNow.AddMinutes(30) },
    order, // the same id again: not stored twice
]));

var bulk = await client.SendAsync(Enumerable.Range(0, 5001).Select(i => Event.Create("app/page.viewed", new { page = i })));
Console.WriteLine($"5,001 events: {bulk.Ids.Count} ids, {bulk.Events.Count(e => e.Outcome == EventOutcome.Accepted)} accepted");

try
{
    await client.SendAsync(Event.Create("app/broken", new[] { 1, 2, 3 }));
}
catch (EventIngestException ex)
{
    Console.WriteLine($"Refused: {ex.StatusCode} {ex.Message}");
}

static void Print(string title, SendResult result)
{
    Console.WriteLine(title + ":");
    foreach (var e in result.Events)
    {
        Console.WriteLine($"  {e.Id}  {e.Outcome}{(e.Due is { } due ? $" (due {due:u})" : "")}");
    }
}

internal sealed record OrderPlaced(string OrderId, decimal Total);
