using EventIngest.Scheduling;
using EventIngest.Storage;
using EventIngest.Telemetry;
using Microsoft.Extensions.Options;
using EventIngest.Delivery;

namespace EventIngest;

/// <summary>The periodic jobs, called by the Functions timer triggers and by the local host's loop.
/// Each run stops once <see cref="JobOptions.Budget"/> has passed; the next run resumes where it
/// stopped (what a run finished is gone from the rows it scans, or noted in a checkpoint).</summary>
public sealed class Jobs
{
    private readonly OutboxRepair repair;
    private readonly EventStore store;
    private readonly Scheduler scheduler;
    private readonly DepthProbe depths;
    private readonly TimeSpan _budget;

    /// <summary>Internal: the hosts resolve it from <see cref="ServiceCollectionExtensions.AddEventIngest"/>, whose
    /// registration calls this; its dependencies are not part of the public surface.</summary>
    internal Jobs(OutboxRepair repair, EventStore store, Scheduler scheduler, DepthProbe depths, IOptions<JobOptions> options)
    {
        this.repair = repair;
        this.store = store;
        this.scheduler = scheduler;
        this.depths = depths;
        _budget = options.Value.Budget;
    }

    /// <summary>Completes requests that died between recording and enqueueing.</summary>
    public Task<int> RepairOutboxAsync(CancellationToken ct) => repair.RunOnceAsync(_budget, ct);

    /// <summary>Moves parked scheduled events that have come within the horizon onto their queues.</summary>
    public Task<int> ReleaseParkedAsync(CancellationToken ct) => scheduler.ReleaseParkedAsync(_budget, ct);

    /// <summary>Releases scheduled events whose due markers have become visible, polling the due
    /// queue until <paramref name="budget"/> has passed.</summary>
    public Task<int> ReleaseDueAsync(TimeSpan budget, TimeSpan idlePause, CancellationToken ct) => scheduler.ReleaseDueAsync(budget, idlePause, ct);

    /// <summary>Measures queue depths, scheduled and parked events and overdue outbox rows for the gauges.</summary>
    public Task MeasureDepthsAsync(CancellationToken ct) => depths.MeasureAsync(ct);

    /// <summary>Removes idempotency claims older than the window.</summary>
    public Task<int> DeleteExpiredClaimsAsync(CancellationToken ct) => store.DeleteExpiredClaimsAsync(_budget, ct);
}
