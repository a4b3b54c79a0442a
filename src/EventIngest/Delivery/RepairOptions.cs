using System.ComponentModel.DataAnnotations;

namespace EventIngest.Delivery;

/// <summary>The job that completes requests that died between recording and enqueueing.</summary>
internal sealed class RepairOptions
{
    public const string Section = "EventIngest:Repair";

    /// <summary>An outbox row older than this belongs to a request that died; the job completes it.
    /// Requests give up (503) after half of it, so a slow request and the job never race.</summary>
    [Range(typeof(TimeSpan), "00:00:10", "01:00:00", ErrorMessage = "EventIngest:Repair:RepairAfter must be between 10 seconds and 1 hour.")]
    public TimeSpan RepairAfter { get; set; } = TimeSpan.FromMinutes(1);
}
