using EventIngest.Storage;

namespace EventIngest.Api;

/// <summary>An event's state as the REST API shows it.</summary>
public enum EventState
{
    /// <summary>On its queue(s), or about to be: the repair job finishes a request that died midway.</summary>
    Delivered,
    /// <summary>Held until <c>due</c>.</summary>
    Scheduled,
    Cancelled,
    /// <summary>A state this version does not know, written by a newer one.</summary>
    Unknown,
}

/// <summary>The one mapping from a record's stored <c>State</c> to what the API shows and allows.</summary>
public static class EventStates
{
    public static EventState Of(string? stored) => stored switch
    {
        RecordState.Pending => EventState.Delivered,
        // A scheduled event once the release job has put it on its queues.
        "released" or "delivered" => EventState.Delivered,
        RecordState.Scheduled => EventState.Scheduled,
        "cancelled" => EventState.Cancelled,
        _ => EventState.Unknown,
    };

    public static string Name(EventState state) => state switch
    {
        EventState.Delivered => "delivered",
        EventState.Scheduled => "scheduled",
        EventState.Cancelled => "cancelled",
        _ => "unknown",
    };

    /// <summary>Why the event may not be replayed now, or null when it may. A scheduled event that
    /// is already due may be: its release is at most a job interval away.</summary>
    public static string? ReplayRefusal(EventState state, long? due, long now) => state switch
    {
        EventState.Delivered => null,
        EventState.Scheduled when due is { } d && d > now => $"The event is scheduled for {ApiResults.Timestamp(DateTimeOffset.FromUnixTimeMilliseconds(d))} and has not been delivered yet",
        EventState.Scheduled => null,
        EventState.Cancelled => "The event was cancelled",
        _ => "The event is in a state this version cannot replay",
    };
}
