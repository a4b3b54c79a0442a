using EventIngest.Consumer;
using Microsoft.Azure.Functions.Worker;

namespace ConsumerFunctions;

/// <summary>Table Storage has no expiry: the inbox forgets handled events after its retention (7 days) here.</summary>
public sealed class PurgeInbox(EventInbox inbox)
{
    [Function(nameof(PurgeInbox))]
    public Task Run([TimerTrigger("0 30 3 * * *")] TimerInfo timer, CancellationToken cancellationToken) =>
        inbox.PurgeAsync(cancellationToken);
}
