using EventIngest.Ingest;
using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;

namespace EventIngest.Functions;

/// <summary><c>POST /e/{eventKey}</c>. Every method, and an empty key, is routed here so that the others get
/// the handler's 405, and an empty key its 404, in the envelope the SDKs read.</summary>
public sealed class SendEvents(EventEndpoint endpoint)
{
    [Function(nameof(SendEvents))]
    public Task<IResult> Run(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", "head", "post", "put", "patch", "delete", "options", Route = "e/{eventKey?}")] HttpRequest request,
        string? eventKey,
        CancellationToken cancellationToken) =>
        endpoint.HandleAsync(request, eventKey ?? "", cancellationToken);
}
