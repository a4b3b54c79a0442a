using EventIngest.Api;
using EventIngest.Encryption;
using EventIngest.Ingest;
using EventIngest.Scheduling;
using EventIngest.Storage;
using EventIngest.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using EventIngest.Delivery;
using EventIngest.Auth;

namespace EventIngest;

/// <summary>Registers the service for a host. The assembly's public surface is the hosts' entry points: this
/// registration and the handlers the Functions triggers take in their public constructors (<see cref="EventEndpoint"/>,
/// <see cref="EventsApi"/>, <see cref="ScheduledEventsApi"/>, <see cref="UsersApi"/>, <see cref="Jobs"/>);
/// everything else is internal.</summary>
public static class ServiceCollectionExtensions
{
    /// <summary>Options, storage clients, encryption and the event pipeline: everything both hosts share.</summary>
    /// <param name="isProductionHost">True for the Functions app, which refuses the local key file
    /// unless EventIngest:Encryption:AllowLocalKey says otherwise.</param>
    public static IServiceCollection AddEventIngest(this IServiceCollection services, bool isProductionHost)
    {
        services.AddOptions<StorageOptions>().BindConfiguration(StorageOptions.Section).ValidateDataAnnotations().ValidateOnStart()
            .Validate(o => o.NamesAnAccount, StorageOptions.NoAccountMessage);
        services.AddOptions<IngestOptions>().BindConfiguration(IngestOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<RateLimitOptions>().BindConfiguration(RateLimitOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<AuthOptions>().BindConfiguration(AuthOptions.Section).ValidateDataAnnotations().ValidateOnStart()
            .Validate(o => o.EventKeys.Concat<KeyHash>(o.SigningKeys).All(k => k.Hash.Length == 64 && k.Hash.All(Uri.IsHexDigit)),
                "EventIngest:Auth:EventKeys and SigningKeys hold SHA-256 hashes in hex (64 characters).")
            .Validate(o => o.EventKeys.All(k => string.IsNullOrEmpty(k.BranchPrefix) || (k.BranchEnvironments && ConfiguredKeys.IsEnvironmentName(k.BranchPrefix))),
                "EventIngest:Auth:EventKeys:N:BranchPrefix is for keys with BranchEnvironments true, and is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.")
            .Validate(o => o.SigningKeys.All(k => ApiScopesParser.TryParse(k.Scopes, out _)),
                "EventIngest:Auth:SigningKeys:N:Scopes is a comma-separated list of read, write and erase (unset: read).");
        if (isProductionHost)
        {
            services.AddOptions<AuthOptions>()
                .Validate(o => !o.AcceptsAnyEventKey, "EventIngest:Auth:RequireEventKeys is false with no EventKeys: the Functions app never accepts any event key. Configure EventIngest:Auth:EventKeys.")
                .Validate(o => !o.RestApiOpen, "EventIngest:Auth:RequireSigningKeys is false with no SigningKeys: the Functions app never opens the REST API. Configure EventIngest:Auth:SigningKeys.");
        }
        services.AddOptions<RoutingOptions>().BindConfiguration(RoutingOptions.Section).ValidateDataAnnotations().ValidateOnStart()
            .Validate(o => o.Routes.All(r => !string.IsNullOrEmpty(r.Pattern) && QueueNames.IsValid(r.Queue)) && QueueNames.IsValid(o.DefaultQueue),
                "EventIngest:Routing: every route needs a Pattern and a valid queue name (3-63 lower-case letters, digits and single hyphens).");
        services.AddSingleton<IValidateOptions<RoutingOptions>, RouteAccountsValidation>();
        services.AddOptions<RepairOptions>().BindConfiguration(RepairOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<SchedulingOptions>().BindConfiguration(SchedulingOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<JobOptions>().BindConfiguration(JobOptions.Section).ValidateDataAnnotations().ValidateOnStart();

        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.TryAddSingleton<IngestMetrics>();
        services.AddSingleton<DepthProbe>();
        services.AddSingleton<StorageRequestCounter>();
        services.AddSingleton(provider => new StorageAccount(provider.GetRequiredService<IOptions<StorageOptions>>(),
            provider.GetRequiredService<StorageRequestCounter>(), provider.GetRequiredService<IOptions<RoutingOptions>>().Value.Placements()));
        services.AddSingleton(provider => provider.GetRequiredService<StorageAccount>().Tables);
        services.AddEventIngestEncryption(isProductionHost);
        services.AddSingleton<Outbox>();
        services.AddHostedService(provider => provider.GetRequiredService<Outbox>());
        services.AddSingleton(provider => new EventStore(provider.GetRequiredService<StorageAccount>(),
            provider.GetRequiredService<IOptions<IngestOptions>>().Value.IdempotencyWindow, provider.GetRequiredService<TimeProvider>()));
        services.AddSingleton<LargeEnvelopes>();
        services.AddSingleton<EventQueue>();
        services.AddSingleton<QueueRouter>();
        services.AddSingleton<EventKeys>();
        services.AddSingleton<EventRateLimiter>();
        services.AddSingleton<IngestPipeline>();
        services.AddSingleton<OutboxRepair>();
        services.AddSingleton<Scheduler>();
        services.AddSingleton<SigningKeys>();
        services.AddSingleton<ApiGate>();
        services.AddSingleton<EventLookup>();
        services.AddSingleton<EventListing>();
        services.AddSingleton<EventReplayer>();
        services.AddSingleton<ReplayLog>();
        // The entry points: public types built only here, since their constructors take internal types and so are
        // internal too, which the container's activation does not see.
        services.AddSingleton(p => new EventEndpoint(p.GetRequiredService<EventKeys>(), p.GetRequiredService<EventRateLimiter>(), p.GetRequiredService<IngestPipeline>(), p.GetRequiredService<IngestMetrics>(), p.GetRequiredService<IOptions<IngestOptions>>(), p.GetRequiredService<TimeProvider>(), p.GetRequiredService<ILogger<EventEndpoint>>()));
        services.AddSingleton(p => new EventsApi(p.GetRequiredService<ApiGate>(), p.GetRequiredService<EventLookup>(), p.GetRequiredService<EventListing>(), p.GetRequiredService<EventReplayer>(), p.GetRequiredService<TimeProvider>()));
        services.AddSingleton(p => new ScheduledEventsApi(p.GetRequiredService<ApiGate>(), p.GetRequiredService<Scheduler>(), p.GetRequiredService<IOptions<IngestOptions>>(), p.GetRequiredService<TimeProvider>()));
        services.AddSingleton(p => new UsersApi(p.GetRequiredService<ApiGate>(), p.GetRequiredService<UserDataProtector>()));
        services.AddSingleton(p => new Jobs(p.GetRequiredService<OutboxRepair>(), p.GetRequiredService<EventStore>(), p.GetRequiredService<Scheduler>(), p.GetRequiredService<DepthProbe>(), p.GetRequiredService<IOptions<JobOptions>>()));
        return services;
    }
}

/// <summary>Routes may only name queue accounts that the storage settings define.</summary>
internal sealed class RouteAccountsValidation(IOptions<StorageOptions> storage) : IValidateOptions<RoutingOptions>
{
    public ValidateOptionsResult Validate(string? name, RoutingOptions options) =>
        Route.CheckAccounts(options, storage.Value) is { Count: > 0 } errors ? ValidateOptionsResult.Fail(errors) : ValidateOptionsResult.Success;
}
