using EventIngest.Api;
using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;

namespace EventIngest.Functions;

/// <summary><c>POST /v1/events/{internalId}/replay</c>: deliver a stored event again, marked as a replay.</summary>
public sealed class ReplayEvent(EventsApi api)
{
    [Function(nameof(ReplayEvent))]
    public Task<IResult> Run(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/events/{internalId}/replay")] HttpRequest request,
        string internalId,
        CancellationToken cancellationToken) =>
        api.ReplayAsync(request, internalId, cancellationToken);
}
