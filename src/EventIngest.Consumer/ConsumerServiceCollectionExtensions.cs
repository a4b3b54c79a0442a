using Azure.Data.Tables;
using Azure.Storage.Blobs.Specialized;
using EventIngest.Consumer;
using EventIngest.Encryption;
using EventIngest.Storage;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the consumer kit with dependency injection.</summary>
public static class ConsumerServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="EventReader"/> and <see cref="EventInbox"/> on the service's storage account
    /// (<c>EventIngest:Storage:*</c>, the same settings as the ingest app) and, unless
    /// <see cref="EventConsumerOptions.OpenUser"/> is false, <see cref="UserDataProtector"/> with
    /// <c>EventIngest:Encryption:*</c>. Settings are checked when the host starts.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the consumer options.</param>
    /// <returns>The service collection.</returns>
    public static IServiceCollection AddEventIngestConsumer(this IServiceCollection services, Action<EventConsumerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<StorageOptions>().BindConfiguration(StorageOptions.Section).ValidateDataAnnotations().ValidateOnStart()
            .Validate(o => o.NamesAnAccount, StorageOptions.NoAccountMessage);
        var consumer = services.AddOptions<EventConsumerOptions>();
        if (configure is not null) consumer.Configure(configure);

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<StorageRequestCounter>();
        services.TryAddSingleton<StorageAccount>();
        services.TryAddSingleton(provider => provider.GetRequiredService<StorageAccount>().Tables);

        // Whether to register key access is decided now, from the options as configured here.
        var probe = new EventConsumerOptions();
        configure?.Invoke(probe);
        if (probe.OpenUser) services.AddEventIngestEncryption(isProductionHost: true);

        services.TryAddSingleton(provider =>
        {
            var options = provider.GetRequiredService<IOptions<EventConsumerOptions>>().Value;
            var blobs = provider.GetRequiredService<StorageAccount>().LargeEvents.GetParentBlobServiceClient();
            return new EventReader(blobs, options.OpenUser ? provider.GetRequiredService<UserDataProtector>() : null, options);
        });
        services.TryAddSingleton(provider =>
        {
            var options = provider.GetRequiredService<IOptions<EventConsumerOptions>>().Value;
            var storage = provider.GetRequiredService<StorageAccount>();
            var table = storage.Tables.GetTableClient(options.InboxTableName ?? storage.Options.Prefix + "inbox");
            return new EventInbox(table, options, provider.GetRequiredService<TimeProvider>());
        });
        return services;
    }
}
