using EventIngest.Storage;

namespace EventIngest.Api;

/// <summary>An event's state as the REST API shows it.</summary>
internal enum EventState
{
    /// <summary>On its queue(s): its request (or the repair job) has finished sending it.</summary>
    Delivered,
    /// <summary>Accepted and on its way: its request, or the repair job if the request died, is sending it.</summary>
    Pending,
    /// <summary>Held until <c>due</c>.</summary>
    Scheduled,
    Cancelled,
    /// <summary>A state this version does not know, written by a newer one.</summary>
    Unknown,
}

/// <summary>The one mapping from a record's stored <c>State</c> to what the API shows and allows.</summary>
internal static class EventStates
{
    /// <summary>Only what is known to be on its queues says delivered: a scheduled event is
    /// <c>scheduled</c> until its release has sent it, even past its due time.</summary>
    public static EventState Of(string? stored, long? due, long now) => stored switch
    {
        RecordState.Pending => EventState.Delivered,
        RecordState.Scheduled or RecordState.Releasing => EventState.Scheduled,
        RecordState.Released => EventState.Delivered,
        RecordState.Cancelled => EventState.Cancelled,
        _ => EventState.Unknown,
    };

    public static string Name(EventState state) => state switch
    {
        EventState.Delivered => "delivered",
        EventState.Pending => "pending",
        EventState.Scheduled => "scheduled",
        EventState.Cancelled => "cancelled",
        _ => "unknown",
    };

    /// <summary>Why the event may not be replayed, or null when it may.</summary>
    public static string? ReplayRefusal(EventState state, long? due) => state switch
    {
        EventState.Delivered or EventState.Pending => null,
        EventState.Scheduled => $"The event is scheduled for {ApiResults.Timestamp(DateTimeOffset.FromUnixTimeMilliseconds(due ?? 0))} and has not been delivered yet",
        EventState.Cancelled => "The event was cancelled",
        _ => "The event is in a state this version cannot replay",
    };
}
