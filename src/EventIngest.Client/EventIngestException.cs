namespace EventIngest.Client;

/// <summary>
/// Sending events failed: the server refused them (<see cref="StatusCode"/> 400, 401, 413, …), or it stayed
/// unavailable or unreachable through every retry.
/// </summary>
/// <remarks>
/// One request is all or nothing: a refused request stored none of its events. A call with more events than
/// fit one request sends several; those sent before the failing one were stored and are in <see cref="Sent"/>.
/// </remarks>
public sealed class EventIngestException : Exception
{
    /// <summary>Creates an exception without details.</summary>
    public EventIngestException() : this("Sending events failed.")
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">What went wrong.</param>
    public EventIngestException(string message) : this(message, null)
    {
    }

    /// <summary>Creates an exception with a message and its cause.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause, such as a transport error.</param>
    public EventIngestException(string message, Exception? innerException) : base(message, innerException)
    {
    }

    /// <summary>The HTTP status of the last answer; null when the server could not be reached.</summary>
    public int? StatusCode { get; init; }

    /// <summary>What the server found wrong, one entry per problem; <see cref="EventError.Index"/> counts from the
    /// first event of the call, not of the request.</summary>
    public IReadOnlyList<EventError> Errors { get; init; } = [];

    /// <summary>How long the server asked to wait (<c>Retry-After</c>) in its last answer, if it did.</summary>
    public TimeSpan? RetryAfter { get; init; }

    /// <summary>How many requests were tried for the failing part, retries included.</summary>
    public int Attempts { get; init; }

    /// <summary>The events of this call that were stored before the failing request (the first
    /// <c>Sent.Events.Count</c> events), or null when none were.</summary>
    public SendResult? Sent { get; init; }
}

/// <summary>One problem the server found.</summary>
/// <param name="Index">Position of the event in the call (from 0), or null for the request as a whole.</param>
/// <param name="Field">The event field at fault (<c>name</c>, <c>data</c>, <c>ts</c>, …), if any.</param>
/// <param name="Message">What is wrong.</param>
public sealed record EventError(int? Index, string? Field, string Message);
