using Microsoft.Azure.Functions.Worker;

namespace EventIngest.Functions;

/// <summary>Every minute: finish requests that died between recording events and enqueueing them,
/// then measure what waits in storage (queue depths, scheduled events, rows still overdue).</summary>
public sealed class RepairOutbox(Jobs jobs)
{
    [Function(nameof(RepairOutbox))]
    public async Task Run([TimerTrigger("0 */1 * * * *")] TimerInfo timer, CancellationToken cancellationToken)
    {
        await jobs.RepairOutboxAsync(cancellationToken);
        await jobs.MeasureDepthsAsync(cancellationToken);
    }
}
