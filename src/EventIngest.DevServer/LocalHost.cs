using Microsoft.Extensions.Options;
using EventIngest.Api;
using EventIngest.DevServer.Console;
using EventIngest.Ingest;
using EventIngest.Auth;

namespace EventIngest.DevServer;

/// <summary>
/// The local host: the same handlers as the Functions app on Kestrel, the timer jobs as a
/// background loop, and its own Azurite when no storage is configured.
/// </summary>
public static class LocalHost
{
    public const string DefaultUrl = "http://127.0.0.1:8288";

    public static async Task<WebApplication> BuildAsync(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        // The app's own directory, not the working directory: appsettings.json is found wherever it is started from.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.KeepRequestPathsOutOfLogs();
        builder.Configuration.AddInMemoryCollection(LocalDefaults(builder.Configuration));
        configure?.Invoke(builder);
        if (string.IsNullOrEmpty(builder.Configuration["urls"])) builder.WebHost.UseUrls(DefaultUrl);
        OpenMode.EnsureLoopbackOnly(builder.Configuration);

        var storage = await LocalStorage.EnsureAsync(builder);

        builder.Services.AddEventIngest(isProductionHost: false);
        builder.Services.AddHostedService<LocalJobs>();
        builder.AddLocalTelemetry();
        builder.Services.AddSingleton<ConsoleApi>();

        var app = builder.Build();
        if (storage is not null) app.Lifetime.ApplicationStopped.Register(() => storage.DisposeAsync().AsTask().GetAwaiter().GetResult());
        app.Use(CollapseLeadingSlashes);
        if (app.Services.GetRequiredService<IOptions<AuthOptions>>().Value.IsOpen) app.Use(OpenMode.LoopbackOnly);
        app.UseRouting(); // after the slash fix, so the fixed path is what gets routed
        MapRoutes(app);
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("EventIngest.DevServer");
            logger.LogInformation("EventIngest local host listening on {Urls}; storage: {Storage}",
                string.Join(", ", app.Urls), storage is null ? "configured connection" : storage.Description);
            logger.LogInformation("Dev console: {ConsoleUrl}", app.Urls.First().TrimEnd('/') + "/");
        });
        return app;
    }

    public static void MapRoutes(IEndpointRouteBuilder app)
    {
        static Task<IResult> Send(HttpRequest request, string eventKey, EventEndpoint endpoint, CancellationToken ct) => endpoint.HandleAsync(request, eventKey, ct);
        app.MapPost("/e/{eventKey}", Send);
        // Mapped only so that other methods get the event route's 405, and an empty key its 404, in the
        // envelope the SDKs read rather than as a bare status; not part of the API.
        app.MapMethods("/e/{eventKey}", ["GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"], Send).ExcludeFromDescription();
        app.MapMethods("/e", ["POST", "GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"], (HttpRequest request, EventEndpoint endpoint, CancellationToken ct) => endpoint.HandleAsync(request, "", ct)).ExcludeFromDescription();

        app.MapGet("/v1/events", (HttpRequest request, EventsApi api, CancellationToken ct) => api.ListAsync(request, ct));
        app.MapGet("/v1/events/{internalId}", (HttpRequest request, string internalId, EventsApi api, CancellationToken ct) => api.GetAsync(request, internalId, ct));
        app.MapPost("/v1/events/{internalId}/replay", (HttpRequest request, string internalId, EventsApi api, CancellationToken ct) => api.ReplayAsync(request, internalId, ct));
        app.MapGet("/v1/scheduled", (HttpRequest request, ScheduledEventsApi api, CancellationToken ct) => api.ListAsync(request, ct));
        app.MapPatch("/v1/events/{internalId}", (HttpRequest request, string internalId, ScheduledEventsApi api, CancellationToken ct) => api.RescheduleAsync(request, internalId, ct));
        app.MapDelete("/v1/users/{externalId}", (HttpRequest request, string externalId, UsersApi api, CancellationToken ct) => api.EraseAsync(request, externalId, ct));
        app.MapPost(UsersApi.EraseRoute, (HttpRequest request, UsersApi api, CancellationToken ct) => api.EraseFromBodyAsync(request, ct));
        app.MapDelete("/v1/events/{internalId}", (HttpRequest request, string internalId, ScheduledEventsApi api, CancellationToken ct) => api.CancelAsync(request, internalId, ct));

        app.MapGet(OpenApiDocument.Route, OpenApiDocument.Serve);

        // The dev console and what it needs beyond the REST API: the Functions app serves none of it.
        var console = app.MapGroup("").WithMetadata(LocalHostOnly.Marker);
        console.MapGet("/v1/queues", (HttpRequest request, ConsoleApi api, CancellationToken ct) => api.QueuesAsync(request, ct));
        console.MapGet("/v1/queues/{queue}/messages", (HttpRequest request, string queue, ConsoleApi api, CancellationToken ct) => api.PeekAsync(request, queue, ct));
        console.MapGet("/v1/events/{internalId}/deliveries", (HttpRequest request, string internalId, ConsoleApi api, CancellationToken ct) => api.DeliveriesAsync(request, internalId, ct));
        ConsoleAssets.Map(console);
    }

    /// <summary>The Go SDK joins base + "/e/" + key, so a base URL ending in '/' yields "//e/key".</summary>
    private static Task CollapseLeadingSlashes(HttpContext context, RequestDelegate next)
    {
        var path = context.Request.Path.Value;
        if (path is { Length: > 1 } && path[1] == '/') context.Request.Path = "/" + path.TrimStart('/');
        return next(context);
    }

    private static Dictionary<string, string?> LocalDefaults(IConfiguration configuration)
    {
        var defaults = new Dictionary<string, string?>();
        // Like Inngest's dev server: any key is accepted, and the REST API is open, until keys are configured.
        if (configuration["EventIngest:Auth:RequireEventKeys"] is null) defaults["EventIngest:Auth:RequireEventKeys"] = "false";
        if (configuration["EventIngest:Auth:RequireSigningKeys"] is null) defaults["EventIngest:Auth:RequireSigningKeys"] = "false";
        // No Key Vault locally: a key file made on first run, kept with the local data.
        if (configuration["EventIngest:Encryption:KeyProvider"] is null) defaults["EventIngest:Encryption:KeyProvider"] = "Local";
        if (configuration["EventIngest:Encryption:LocalKeyPath"] is null)
        {
            defaults["EventIngest:Encryption:LocalKeyPath"] = Path.Combine(LocalStorage.DataPath(configuration), "kek.pem");
        }
        return defaults;
    }
}
