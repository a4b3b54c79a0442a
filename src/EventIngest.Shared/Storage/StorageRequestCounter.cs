using Azure.Core;
using Azure.Core.Pipeline;

namespace EventIngest.Storage;

/// <summary>
/// Counts every HTTP request the storage clients send, retries included, so storage cost per
/// event can be measured where it is paid: at the client pipeline.
/// </summary>
public sealed class StorageRequestCounter : HttpPipelineSynchronousPolicy
{
    private long _requests;

    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Sees every request as it is sent (the capacity benchmark attributes them to queues
    /// and table partitions); null in the service.</summary>
    public Action<HttpMessage>? Observe { get; set; }

    public override void OnSendingRequest(HttpMessage message)
    {
        Interlocked.Increment(ref _requests);
        Observe?.Invoke(message);
    }
}
