using Microsoft.Azure.Functions.Worker;

namespace EventIngest.Functions;

/// <summary>Every minute, for 50 seconds: release scheduled events as their due markers become
/// visible on the due queue (polled every 250 ms, so an event goes out within about a second of
/// its due time). Timer triggers run on one instance at a time, so one poller runs.</summary>
public sealed class ReleaseDue(Jobs jobs)
{
    [Function(nameof(ReleaseDue))]
    public Task Run([TimerTrigger("0 */1 * * * *")] TimerInfo timer, CancellationToken cancellationToken) =>
        jobs.ReleaseDueAsync(TimeSpan.FromSeconds(50), TimeSpan.FromMilliseconds(250), cancellationToken);
}
