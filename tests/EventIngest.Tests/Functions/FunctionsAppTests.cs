extern alias functions;
using System.Text;
using System.Text.Json;
using EventIngest.Api;
using EventIngest.DevServer.Console;
using EventIngest.Ingest;
using EventIngest.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using EventIngest.Ids;
using SendEvents = functions::EventIngest.Functions.SendEvents;
using GetEvent = functions::EventIngest.Functions.GetEvent;
using ListEvents = functions::EventIngest.Functions.ListEvents;
using ReplayEvent = functions::EventIngest.Functions.ReplayEvent;
using GetOpenApi = functions::EventIngest.Functions.GetOpenApi;
using RepairOutbox = functions::EventIngest.Functions.RepairOutbox;

namespace EventIngest.Tests.Functions;

[Collection(AzuriteFixture.CollectionName)]
public sealed class FunctionsAppTests(AzuriteFixture azurite)
{
    private static JsonElement Metadata()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "functions.metadata");
        return JsonDocument.Parse(File.ReadAllText(path)).RootElement;
    }

    private static JsonElement Function(string name) =>
        Metadata().EnumerateArray().Single(f => f.GetProperty("name").GetString() == name);

    [Fact]
    public void MetadataDeclaresEveryFunctionWithItsTrigger()
    {
        Assert.Equal(["CancelEvent", "CleanupIdempotency", "EraseUser", "EraseUserFromBody", "GetEvent", "GetOpenApi", "ListEvents", "ListScheduled", "ReleaseDue", "ReleaseScheduled", "RepairOutbox", "ReplayEvent", "RescheduleEvent", "SendEvents"],
            Metadata().EnumerateArray().Select(f => f.GetProperty("name").GetString()).Order());

        var http = Function("SendEvents").GetProperty("bindings")[0];
        Assert.Equal("httpTrigger", http.GetProperty("type").GetString());
        Assert.Equal("e/{eventKey?}", http.GetProperty("route").GetString());
        Assert.Equal("Anonymous", http.GetProperty("authLevel").GetString());
        // Every method, so that the others get the event route's 405 rather than the host's 404.
        Assert.Equal(["delete", "get", "head", "options", "patch", "post", "put"], http.GetProperty("methods").EnumerateArray().Select(m => m.GetString()).Order());

        foreach (var (name, route, method) in new[]
        {
            ("ListEvents", "v1/events", "get"),
            ("GetEvent", "v1/events/{internalId}", "get"),
            ("ReplayEvent", "v1/events/{internalId}/replay", "post"),
            ("ListScheduled", "v1/scheduled", "get"),
            ("RescheduleEvent", "v1/events/{internalId}", "patch"),
            ("CancelEvent", "v1/events/{internalId}", "delete"),
            ("EraseUser", "v1/users/{externalId}", "delete"),
            ("EraseUserFromBody", "v1/users/erase", "post"),
            ("GetOpenApi", "openapi.yaml", "get"),
        })
        {
            var trigger = Function(name).GetProperty("bindings")[0];
            Assert.Equal("httpTrigger", trigger.GetProperty("type").GetString());
            Assert.Equal(route, trigger.GetProperty("route").GetString());
            Assert.Equal("Anonymous", trigger.GetProperty("authLevel").GetString());
            Assert.Equal([method], trigger.GetProperty("methods").EnumerateArray().Select(m => m.GetString()));
        }

        var repair = Function("RepairOutbox").GetProperty("bindings")[0];
        Assert.Equal("timerTrigger", repair.GetProperty("type").GetString());
        Assert.Equal("0 */1 * * * *", repair.GetProperty("schedule").GetString());

        var release = Function("ReleaseScheduled").GetProperty("bindings")[0];
        Assert.Equal("timerTrigger", release.GetProperty("type").GetString());
        Assert.Equal("0 */1 * * * *", release.GetProperty("schedule").GetString());

        var due = Function("ReleaseDue").GetProperty("bindings")[0];
        Assert.Equal("timerTrigger", due.GetProperty("type").GetString());
        Assert.Equal("0 */1 * * * *", due.GetProperty("schedule").GetString());

        var cleanup = Function("CleanupIdempotency").GetProperty("bindings")[0];
        Assert.Equal("timerTrigger", cleanup.GetProperty("type").GetString());
        Assert.Equal("0 */15 * * * *", cleanup.GetProperty("schedule").GetString());
    }

    [Fact]
    public void HostJsonRoutesWithoutPrefixAndReadsBase64Messages()
    {
        var host = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "host.json"))).RootElement;
        Assert.Equal("", host.GetProperty("extensions").GetProperty("http").GetProperty("routePrefix").GetString());
        Assert.Equal("base64", host.GetProperty("extensions").GetProperty("queues").GetProperty("messageEncoding").GetString());
        // The host exports through OpenTelemetry; Application Insights SDK settings (sampling) would not
        // apply there, and sampling is the OTEL_TRACES_SAMPLER app settings' job (docs/operations.md).
        Assert.Equal("OpenTelemetry", host.GetProperty("telemetryMode").GetString());
        Assert.False(host.GetProperty("logging").TryGetProperty("applicationInsights", out _), "host.json has an applicationInsights section");
    }

    /// <summary>The worker activates a trigger class with ActivatorUtilities, which sees public constructors only:
    /// every class with a function must be public, with a public constructor that AddEventIngest's services fill.</summary>
    [Fact]
    public async Task EveryFunctionClassIsActivatedFromTheSharedServices()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var classes = typeof(SendEvents).Assembly.GetTypes()
            .Where(t => t.GetMethods().Any(m => m.GetCustomAttributes(typeof(Microsoft.Azure.Functions.Worker.FunctionAttribute), false).Length > 0))
            .ToList();
        Assert.Equal(14, classes.Count);
        Assert.All(classes, t =>
        {
            Assert.True(t.IsPublic, $"{t.Name} is not public");
            Assert.NotNull(ActivatorUtilities.CreateInstance(host.Services, t));
        });
    }

    [Fact]
    public async Task SendEventsFunctionRunsTheSharedHandler()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var function = new SendEvents(host.Services.GetRequiredService<EventEndpoint>());

        var context = new DefaultHttpContext { RequestServices = host.Services };
        context.Request.Method = "POST";
        context.Request.Body = new MemoryStream(Encoding.UTF8.GetBytes("""[{"name":"app/fn"}]"""));
        context.Response.Body = new MemoryStream();

        var result = await function.Run(context.Request, "key", CancellationToken.None);
        await result.ExecuteAsync(context);

        Assert.Equal(200, context.Response.StatusCode);
        context.Response.Body.Position = 0;
        var body = JsonDocument.Parse(context.Response.Body).RootElement;
        Assert.Equal(200, body.GetProperty("status").GetInt32());
        var message = Assert.Single(await host.ReceiveAllAsync());
        Assert.Equal(body.GetProperty("ids")[0].GetString(), message.GetProperty("internal_id").GetString());
    }

    [Fact]
    public async Task EveryRouteOfTheLocalHostIsAnHttpTriggerWithTheSameRouteAndMethod()
    {
        var triggers = Metadata().EnumerateArray()
            .Select(f => f.GetProperty("bindings")[0])
            .Where(b => b.GetProperty("type").GetString() == "httpTrigger")
            .SelectMany(b => b.GetProperty("methods").EnumerateArray().SelectMany(m => Forms(b.GetProperty("route").GetString()!).Select(r => $"{m.GetString()!.ToUpperInvariant()} /{r}")))
            .ToHashSet();
        // A route ending in an optional parameter is the local host's two routes, with it and without.
        static string[] Forms(string route) => route.EndsWith("?}", StringComparison.Ordinal) ? [route.Replace("?}", "}", StringComparison.Ordinal), route[..route.LastIndexOf('/')]] : [route];

        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var routes = host.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<LocalHostOnly>() is null) // the dev console and its API
            .SelectMany(e => e.Metadata.GetMetadata<IHttpMethodMetadata>()!.HttpMethods.Select(m => $"{m} {e.RoutePattern.RawText}"))
            .ToList();

        Assert.Contains("GET /v1/events/{internalId}", routes);
        Assert.All(routes, route => Assert.Contains(route, triggers));
    }

    [Fact]
    public async Task RestFunctionsRunTheSharedHandlers()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var sent = await TestHost.JsonAsync(await host.SendAsync("""{"name":"app/fn","user":{"external_id":"u-1"}}"""));
        var id = sent.GetProperty("ids")[0].GetString()!;
        var api = host.Services.GetRequiredService<EventsApi>();

        var (status, body) = await RunAsync(host, "GET", ctx => new GetEvent(api).Run(ctx.Request, id, CancellationToken.None));
        Assert.Equal(200, status);
        Assert.Equal("u-1", body.GetProperty("data").GetProperty("user").GetProperty("external_id").GetString());

        (status, body) = await RunAsync(host, "GET", ctx => new ListEvents(api).Run(ctx.Request, CancellationToken.None));
        Assert.Equal(200, status);
        Assert.Equal(id, body.GetProperty("data")[0].GetProperty("internal_id").GetString());

        (status, body) = await RunAsync(host, "POST", ctx => new ReplayEvent(api).Run(ctx.Request, id, CancellationToken.None));
        Assert.Equal(200, status);
        var replayed = (await host.ReceiveAllAsync()).Single(m => m.TryGetProperty("replay", out _));
        Assert.Equal(body.GetProperty("data").GetProperty("delivery_id").GetString(), replayed.GetProperty("delivery_id").GetString());

        var context = new DefaultHttpContext { RequestServices = host.Services };
        context.Response.Body = new MemoryStream();
        await new GetOpenApi().Run(context.Request).ExecuteAsync(context);
        Assert.Equal(OpenApiDocument.Yaml.ToArray(), ((MemoryStream)context.Response.Body).ToArray());
    }

    private static async Task<(int Status, JsonElement Body)> RunAsync(TestHost host, string method, Func<HttpContext, Task<IResult>> function)
    {
        var context = new DefaultHttpContext { RequestServices = host.Services };
        context.Request.Method = method;
        context.Response.Body = new MemoryStream();
        var result = await function(context);
        await result.ExecuteAsync(context);
        context.Response.Body.Position = 0;
        return (context.Response.StatusCode, JsonDocument.Parse(context.Response.Body).RootElement);
    }

    [Fact]
    public async Task RepairFunctionRunsTheSharedJob()
    {
        // A request that died before enqueueing leaves its outbox row for the repair.
        await using var died = await DiedRequest.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(),
            """[{"name":"app/a"},{"name":"app/b"}]""", Seeds.Header());
        var host = died.Host;
        Assert.Single(await host.RowsAsync(host.Storage.Outbox));
        Assert.Equal(0, await host.CountMessagesAsync());

        died.PassRepairAfter();
        var function = new RepairOutbox(host.Services.GetRequiredService<Jobs>());
        await function.Run(new Microsoft.Azure.Functions.Worker.TimerInfo(), CancellationToken.None);

        var seed = IdSeed.Parse(Seeds.Sample)!;
        Assert.Equal([seed.IdFor(0), seed.IdFor(1)], (await host.ReceiveAllAsync()).Select(m => m.GetProperty("internal_id").GetString()).Order());
        Assert.Empty(await host.RowsAsync(host.Storage.Outbox));
    }
}
