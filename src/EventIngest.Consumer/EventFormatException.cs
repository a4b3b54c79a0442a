namespace EventIngest.Consumer;

/// <summary>A queue message is not an EventIngest event envelope this reader understands (not JSON, an unknown
/// <c>format</c>, a required field missing, or a claim check whose blob holds another event). Retrying does not
/// help; let the message go to the poison queue.</summary>
public sealed class EventFormatException : Exception
{
    /// <summary>Creates an exception without details.</summary>
    public EventFormatException() : this("The queue message is not an EventIngest event.")
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">What is wrong with the message.</param>
    public EventFormatException(string message) : base(message)
    {
    }

    /// <summary>Creates an exception with a message and its cause.</summary>
    /// <param name="message">What is wrong with the message.</param>
    /// <param name="innerException">The cause, such as a JSON error.</param>
    public EventFormatException(string message, Exception? innerException) : base(message, innerException)
    {
    }
}
