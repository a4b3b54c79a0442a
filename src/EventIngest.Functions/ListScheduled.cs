using EventIngest.Api;
using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;

namespace EventIngest.Functions;

/// <summary><c>GET /v1/scheduled</c>: pending scheduled events in due order.</summary>
public sealed class ListScheduled(ScheduledEventsApi api)
{
    [Function(nameof(ListScheduled))]
    public Task<IResult> Run([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/scheduled")] HttpRequest request, CancellationToken cancellationToken) =>
        api.ListAsync(request, cancellationToken);
}
