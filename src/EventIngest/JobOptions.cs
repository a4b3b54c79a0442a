using System.ComponentModel.DataAnnotations;

namespace EventIngest;

/// <summary>The timer jobs: the repair, the release of parked events, the idempotency cleanup.</summary>
internal sealed class JobOptions
{
    public const string Section = "EventIngest:Jobs";

    /// <summary>How long one run of a job may work before it stops and leaves the rest to the next
    /// run, which resumes where it stopped. Well under the Functions timeout (5 minutes), so a run
    /// is never killed part-way by the host.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:04:00", ErrorMessage = "EventIngest:Jobs:Budget must be between 1 second and 4 minutes (the Functions timeout is 5).")]
    public TimeSpan Budget { get; set; } = TimeSpan.FromMinutes(3);
}
