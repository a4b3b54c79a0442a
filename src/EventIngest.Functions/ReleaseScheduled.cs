using Microsoft.Azure.Functions.Worker;

namespace EventIngest.Functions;

/// <summary>Every minute: move parked scheduled events that are now within the horizon onto their
/// queues (with a delay, so they still appear exactly when due).</summary>
public sealed class ReleaseScheduled(Jobs jobs)
{
    [Function(nameof(ReleaseScheduled))]
    public Task Run([TimerTrigger("0 */1 * * * *")] TimerInfo timer, CancellationToken cancellationToken) =>
        jobs.ReleaseParkedAsync(cancellationToken);
}
