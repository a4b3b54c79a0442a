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
    /// <summary>A scheduled record keeps its state once released: from <c>due</c> on, its message
    /// is visible on its queue(s), so it counts as delivered.</summary>
    public static EventState Of(string? stored, long? due, long now) => stored switch
    {
        RecordState.Pending => EventState.Delivered,
        RecordState.Scheduled when due is { } d && d > now => EventState.Scheduled,
        RecordState.Scheduled => EventState.Delivered,
        RecordState.Cancelled => EventState.Cancelled,
        _ => EventState.Unknown,
    };

    public static string Name(EventState state) => state switch
    {
        EventState.Delivered => "delivered",
        EventState.Scheduled => "scheduled",
        EventState.Cancelled => "cancelled",
        _ => "unknown",
    };

    /// <summary>Why the event may not be replayed, or null when it may.</summary>
    public static string? ReplayRefusal(EventState state, long? due) => state switch
    {
        EventState.Delivered => null,
        EventState.Scheduled => $"The event is scheduled for {ApiResults.Timestamp(DateTimeOffset.FromUnixTimeMilliseconds(due ?? 0))} and has not been delivered yet",
        EventState.Cancelled => "The event was cancelled",
        _ => "The event is in a state this version cannot replay",
    };
}
