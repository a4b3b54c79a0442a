using EventIngest.Scheduling;
using EventIngest.Storage;

namespace EventIngest;

/// <summary>The periodic jobs, called by the Functions timer triggers and by the local host's loop.</summary>
public sealed class Jobs(OutboxRepair repair, EventStore store, Scheduler scheduler)
{
    /// <summary>Completes requests that died between recording and enqueueing.</summary>
    public Task<int> RepairOutboxAsync(CancellationToken ct) => repair.RunOnceAsync(ct);

    /// <summary>Moves parked scheduled events that have come within the horizon onto their queues.</summary>
    public Task<int> ReleaseParkedAsync(CancellationToken ct) => scheduler.ReleaseParkedAsync(ct);

    /// <summary>Releases scheduled events whose due markers have become visible, polling the due
    /// queue until <paramref name="budget"/> has passed.</summary>
    public Task<int> ReleaseDueAsync(TimeSpan budget, TimeSpan idlePause, CancellationToken ct) => scheduler.ReleaseDueAsync(budget, idlePause, ct);

    /// <summary>Removes idempotency claims older than the window.</summary>
    public Task<int> DeleteExpiredClaimsAsync(CancellationToken ct) => store.DeleteExpiredClaimsAsync(ct);
}
