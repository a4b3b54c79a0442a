using EventIngest.Api;
using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;

namespace EventIngest.Functions;

/// <summary><c>POST /v1/users/erase</c> with <c>{"external_id": ...}</c>: erase a person whose id a path cannot carry.</summary>
public sealed class EraseUserFromBody(UsersApi api)
{
    [Function(nameof(EraseUserFromBody))]
    public Task<IResult> Run([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/users/erase")] HttpRequest request, CancellationToken cancellationToken) =>
        api.EraseFromBodyAsync(request, cancellationToken);
}
