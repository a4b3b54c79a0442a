using EventIngest.Consumer;
using Microsoft.Extensions.Logging;

namespace ConsumerFunctions;

/// <summary>The event data of <c>app/order.placed</c>.</summary>
public sealed record OrderPlaced(string OrderId, decimal Total)
{
    public const string EventName = "app/order.placed";
}

/// <summary>The <c>user</c> object senders attach to orders.</summary>
public sealed record Customer(string? External_id, string? Email);

/// <summary>Stands in for a mail service.</summary>
public sealed class Receipts(ILogger<Receipts> logger)
{
    public Task SendAsync(ReceivedEvent<OrderPlaced> order, CancellationToken cancellationToken)
    {
        var customer = order.GetUser<Customer>();
        if (order.UserErased || customer?.Email is null)
        {
            // The customer asked to be forgotten (or gave no address): the order stands, the receipt is not sent.
            logger.LogInformation("Order {OrderId} ({InternalId}): no receipt, no customer address", order.Data.OrderId, order.InternalId);
            return Task.CompletedTask;
        }
        logger.LogInformation("Order {OrderId} ({InternalId}): receipt for {Total} sent", order.Data.OrderId, order.InternalId, order.Data.Total);
        return Task.CompletedTask;
    }
}
