using Microsoft.Azure.Functions.Worker;

namespace EventIngest.Functions;

/// <summary>Every minute: finish requests that died between recording events and enqueueing them.</summary>
public sealed class RepairOutbox(Jobs jobs)
{
    [Function(nameof(RepairOutbox))]
    public Task Run([TimerTrigger("0 */1 * * * *")] TimerInfo timer, CancellationToken cancellationToken) =>
        jobs.RepairOutboxAsync(cancellationToken);
}
