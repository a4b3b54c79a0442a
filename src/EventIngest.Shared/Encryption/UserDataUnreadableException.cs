namespace EventIngest.Encryption;

/// <summary>
/// A sealed <c>user</c> value cannot be opened because it is not what this service sealed for
/// that event: altered, truncated, not a sealed value at all, or sealed for another event or
/// environment. Never thrown for erased data (see <see cref="UserOpenResult.IsErased"/>).
/// </summary>
public sealed class UserDataUnreadableException : Exception
{
    public UserDataUnreadableException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
