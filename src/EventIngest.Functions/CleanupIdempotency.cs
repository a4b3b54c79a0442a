using Microsoft.Azure.Functions.Worker;

namespace EventIngest.Functions;

/// <summary>Every 15 minutes: delete idempotency claims older than the window (Table Storage has no TTL).</summary>
public sealed class CleanupIdempotency(Jobs jobs)
{
    [Function(nameof(CleanupIdempotency))]
    public Task Run([TimerTrigger("0 */15 * * * *")] TimerInfo timer, CancellationToken cancellationToken) =>
        jobs.DeleteExpiredClaimsAsync(cancellationToken);
}
