using EventIngest.Ingest;
using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;

namespace EventIngest.Functions;

/// <summary><c>POST /e/{eventKey}</c>. Every method is routed here so the others get 405, not 404.</summary>
public sealed class SendEvents(EventEndpoint endpoint)
{
    [Function(nameof(SendEvents))]
    public Task<IResult> Run(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", "head", "post", "put", "patch", "delete", "options", Route = "e/{eventKey}")] HttpRequest request,
        string eventKey,
        CancellationToken cancellationToken) =>
        endpoint.HandleAsync(request, eventKey, cancellationToken);
}
