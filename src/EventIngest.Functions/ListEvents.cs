using EventIngest.Api;
using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;

namespace EventIngest.Functions;

/// <summary><c>GET /v1/events</c>: the signing key's environment, newest first.</summary>
public sealed class ListEvents(EventsApi api)
{
    [Function(nameof(ListEvents))]
    public Task<IResult> Run(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/events")] HttpRequest request,
        CancellationToken cancellationToken) =>
        api.ListAsync(request, cancellationToken);
}
