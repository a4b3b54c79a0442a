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

    public override void OnSendingRequest(HttpMessage message) => Interlocked.Increment(ref _requests);
}
