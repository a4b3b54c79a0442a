using EventIngest.Api;
using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;

namespace EventIngest.Functions;

/// <summary><c>DELETE /v1/users/{externalId}</c>: make a person's <c>user</c> data permanently unreadable.</summary>
public sealed class EraseUser(UsersApi api)
{
    [Function(nameof(EraseUser))]
    public Task<IResult> Run([HttpTrigger(AuthorizationLevel.Anonymous, "delete", Route = "v1/users/{externalId}")] HttpRequest request, string externalId, CancellationToken cancellationToken) =>
        api.EraseAsync(request, externalId, cancellationToken);
}
