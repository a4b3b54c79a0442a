using Azure;
using Azure.Data.Tables;

namespace EventIngest.Storage;

/// <summary>Something the request needs (storage, key management) cannot serve it now; the caller is told to
/// retry (503 + Retry-After). <see cref="StorageErrors.IsTransient"/> knows every kind by this base.</summary>
public abstract class UnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Storage cannot take the request now; the caller is told to retry (503 + Retry-After).</summary>
public sealed class StorageUnavailableException(string message, Exception? inner = null) : UnavailableException(message, inner);

public static class StorageErrors
{
    /// <summary>True for failures a retry can get past: storage or key management is down, slow,
    /// throttled or unreachable.</summary>
    public static bool IsTransient(Exception ex) => ex switch
    {
        UnavailableException => true,
        TableTransactionFailedException t => t.Status is 0 or 408 or 429 or >= 500,
        RequestFailedException r => r.Status is 0 or 408 or 429 or >= 500,
        // Azure.Core's "retry failed" AggregateException can hold a bare SocketException (e.g. ENOTCONN on a reset connection).
        HttpRequestException or TimeoutException or IOException or System.Net.Sockets.SocketException => true,
        OperationCanceledException => true,
        AggregateException a => a.InnerExceptions.All(IsTransient),
        _ => ex.InnerException is { } inner && IsTransient(inner),
    };
}
