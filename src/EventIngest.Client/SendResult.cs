namespace EventIngest.Client;

/// <summary>What the event API answered for the events of one <c>SendAsync</c> call, in the order they were given.</summary>
public sealed class SendResult
{
    /// <summary>Creates a result from the per-event results.</summary>
    /// <param name="events">One result per event sent, in order.</param>
    public SendResult(IReadOnlyList<EventResult> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        Events = events;
        Ids = events.Select(e => e.Id).ToArray();
    }

    /// <summary>The internal id of every event, in order: the id consumers see as <c>internal_id</c>. For a
    /// duplicate it is the original event's id. Never the caller's <see cref="Event.Id"/>.</summary>
    public IReadOnlyList<string> Ids { get; }

    /// <summary>The result of every event, in order.</summary>
    public IReadOnlyList<EventResult> Events { get; }
}

/// <summary>The result of one event.</summary>
/// <param name="Id">The event's internal id (for a duplicate, the original event's).</param>
/// <param name="Outcome">What happened to the event.</param>
/// <param name="Due">For a scheduled event, when it will be delivered.</param>
public sealed record EventResult(string Id, EventOutcome Outcome, DateTimeOffset? Due = null);

/// <summary>What happened to an event that the server accepted.</summary>
public enum EventOutcome
{
    /// <summary>The server did not say: an event API without per-event outcomes (such as Inngest's), or an
    /// outcome this client version does not know.</summary>
    Unknown = 0,

    /// <summary>Stored and put on its queues now.</summary>
    Accepted,

    /// <summary>Stored; delivered at <see cref="EventResult.Due"/> (its <c>ts</c> is in the future).</summary>
    Scheduled,

    /// <summary>Not stored again: an event with the same idempotency key was sent before (a retry of the same
    /// request, or the same <see cref="Event.Id"/>). <see cref="EventResult.Id"/> is the original event's id.</summary>
    Duplicate,
}
