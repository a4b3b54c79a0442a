using EventIngest.Api;
using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;

namespace EventIngest.Functions;

/// <summary><c>PATCH /v1/events/{internalId}</c>: move a pending scheduled event to a new <c>ts</c>.</summary>
public sealed class RescheduleEvent(ScheduledEventsApi api)
{
    [Function(nameof(RescheduleEvent))]
    public Task<IResult> Run([HttpTrigger(AuthorizationLevel.Anonymous, "patch", Route = "v1/events/{internalId}")] HttpRequest request, string internalId, CancellationToken cancellationToken) =>
        api.RescheduleAsync(request, internalId, cancellationToken);
}
