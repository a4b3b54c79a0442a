using EventIngest.Api;
using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;

namespace EventIngest.Functions;

/// <summary><c>DELETE /v1/events/{internalId}</c>: cancel a pending scheduled event.</summary>
public sealed class CancelEvent(ScheduledEventsApi api)
{
    [Function(nameof(CancelEvent))]
    public Task<IResult> Run([HttpTrigger(AuthorizationLevel.Anonymous, "delete", Route = "v1/events/{internalId}")] HttpRequest request, string internalId, CancellationToken cancellationToken) =>
        api.CancelAsync(request, internalId, cancellationToken);
}
