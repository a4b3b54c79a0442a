using EventIngest.Api;
using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;

namespace EventIngest.Functions;

/// <summary><c>GET /openapi.yaml</c>: the API description, the same document the local host serves.</summary>
public sealed class GetOpenApi
{
    [Function(nameof(GetOpenApi))]
    public IResult Run([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "openapi.yaml")] HttpRequest request) =>
        OpenApiDocument.Serve();
}
