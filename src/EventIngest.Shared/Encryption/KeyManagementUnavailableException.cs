using EventIngest.Storage;

namespace EventIngest.Encryption;

/// <summary>
/// Key material could not be obtained right now: Key Vault or the key table is unreachable,
/// throttled, failing or too slow. Transient by nature; the event route answers 503 with
/// <c>Retry-After</c> and stores nothing.
/// </summary>
public sealed class KeyManagementUnavailableException : UnavailableException
{
    public KeyManagementUnavailableException(string message, TimeSpan? retryAfter = null, Exception? innerException = null)
        : base(message, innerException)
    {
        RetryAfter = retryAfter;
    }

    /// <summary>How long the service asked us to wait (from a 429/503 <c>Retry-After</c>), if it said.</summary>
    public TimeSpan? RetryAfter { get; }
}
