using EventIngest.Api;
using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;

namespace EventIngest.Functions;

/// <summary><c>GET /v1/events/{internalId}</c>: one event of the signing key's environment.</summary>
public sealed class GetEvent(EventsApi api)
{
    [Function(nameof(GetEvent))]
    public Task<IResult> Run(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/events/{internalId}")] HttpRequest request,
        string internalId,
        CancellationToken cancellationToken) =>
        api.GetAsync(request, internalId, cancellationToken);
}
