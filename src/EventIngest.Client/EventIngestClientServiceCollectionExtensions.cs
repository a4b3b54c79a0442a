using EventIngest.Client;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers <see cref="EventIngestClient"/> with dependency injection.</summary>
public static class EventIngestClientServiceCollectionExtensions
{
    /// <summary>Name of the <see cref="HttpClient"/> the client uses, for <c>IHttpClientFactory</c> configuration.</summary>
    public const string HttpClientName = "EventIngest.Client";

    /// <summary>
    /// Registers <see cref="EventIngestClient"/> as a typed client of <c>IHttpClientFactory</c>, with
    /// <see cref="EventIngestClientOptions"/> checked when the host starts (a missing URL or key stops it with a
    /// message naming the setting).
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the options; unset ones come from the environment (<c>INNGEST_*</c>). To bind
    /// configuration: <c>o =&gt; configuration.GetSection("EventIngest:Client").Bind(o)</c>.</param>
    /// <returns>The HTTP client builder, to add handlers or configure the primary handler.</returns>
    public static IHttpClientBuilder AddEventIngestClient(this IServiceCollection services, Action<EventIngestClientOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<EventIngestClientOptions>();
        if (configure is not null) options.Configure(configure);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<EventIngestClientOptions>, OptionsValidator>());
        options.ValidateOnStart();

        return services
            .AddHttpClient(HttpClientName)
            .AddTypedClient((http, provider) => new EventIngestClient(
                http,
                provider.GetRequiredService<IOptions<EventIngestClientOptions>>().Value,
                provider.GetService<ILogger<EventIngestClient>>()))
            // Each attempt has its own timeout (RequestTimeout); the client's must not cut retries short.
            .ConfigureHttpClient(http => http.Timeout = Timeout.InfiniteTimeSpan)
            // The factory's loggers write request URLs, and the URL holds the event key.
            .RemoveAllLoggers();
    }

    private sealed class OptionsValidator : IValidateOptions<EventIngestClientOptions>
    {
        public ValidateOptionsResult Validate(string? name, EventIngestClientOptions options)
        {
            var problems = ClientSettings.Validate(options, Environment.GetEnvironmentVariable, out _);
            return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
        }
    }
}
