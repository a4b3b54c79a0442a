using System.ComponentModel.DataAnnotations;

namespace EventIngest.Scheduling;

/// <summary>Holding events whose <c>ts</c> is in the future.</summary>
internal sealed class SchedulingOptions
{
    public const string Section = "EventIngest:Scheduling";

    /// <summary>Events due within this are put on their queue at once, invisible until due (queue
    /// visibility delays are capped at 7 days); later ones are parked in a table and moved to the
    /// queue by the release job once they come this close.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "6.12:00:00", ErrorMessage = "EventIngest:Scheduling:Horizon must be between 1 minute and 6.5 days (queue delays end at 7 days).")]
    public TimeSpan Horizon { get; set; } = TimeSpan.FromDays(6);
}
