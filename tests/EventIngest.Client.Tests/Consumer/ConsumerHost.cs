using Azure.Storage.Queues;
using EventIngest.Consumer;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace EventIngest.Client.Tests.Consumer;

/// <summary>
/// The service (local host) and, beside it, a consumer set up the way a consumer app is: its own service
/// provider with <c>AddEventIngestConsumer</c> on the same storage settings and key.
/// </summary>
public sealed class ConsumerHost : IAsyncDisposable
{
    private readonly ServiceProvider _consumer;

    private ConsumerHost(TestHost service, ServiceProvider consumer)
    {
        Service = service;
        _consumer = consumer;
    }

    public TestHost Service { get; }
    public EventReader Reader => _consumer.GetRequiredService<EventReader>();
    public EventInbox Inbox => _consumer.GetRequiredService<EventInbox>();
    public IServiceProvider Services => _consumer;

    public static async Task<ConsumerHost> StartAsync(AzuriteFixture azurite, Action<IServiceCollection>? configure = null, Func<string, IDictionary<string, string?>>? serviceSettings = null)
    {
        var prefix = azurite.NewStorageNamePrefix();
        var service = await TestHost.StartAsync(azurite.ConnectionString, prefix, serviceSettings?.Invoke(prefix));
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["EventIngest:Storage:ConnectionString"] = azurite.ConnectionString,
            ["EventIngest:Storage:Prefix"] = prefix,
            ["EventIngest:Encryption:KeyProvider"] = "Local",
            ["EventIngest:Encryption:LocalKeyPath"] = Path.Combine(Path.GetTempPath(), "eventingest-tests", "kek.pem"),
            ["EventIngest:Encryption:AllowLocalKey"] = "true",
        }).Build();
        var services = new ServiceCollection().AddLogging().AddSingleton<IConfiguration>(configuration);
        services.AddEventIngestConsumer();
        configure?.Invoke(services);
        var provider = services.BuildServiceProvider();
        provider.GetRequiredService<Microsoft.Extensions.Options.IStartupValidator>().Validate();
        return new ConsumerHost(service, provider);
    }

    public EventIngestClient Client() =>
        new(new HttpClient(), new EventIngestClientOptions { BaseUrl = Service.BaseAddress, EventKey = "test-key" });

    /// <summary>The raw messages on the service's default queue: what a QueueTrigger is handed.</summary>
    public async Task<List<BinaryData>> ReceiveMessagesAsync()
    {
        var queue = Service.Storage.Queue(Service.DefaultQueue);
        var bodies = new List<BinaryData>();
        while (true)
        {
            var batch = await queue.ReceiveMessagesAsync(32, TimeSpan.FromMinutes(10));
            if (batch.Value.Length == 0) return bodies;
            bodies.AddRange(batch.Value.Select(m => m.Body));
        }
    }

    /// <summary>A message as seen through a queue client that does not decode base64.</summary>
    public async Task<string> ReceiveUndecodedAsync()
    {
        var queue = new QueueClient(Service.Storage.Options.ConnectionString, Service.DefaultQueue);
        var message = await queue.ReceiveMessageAsync(TimeSpan.FromMinutes(10));
        return message.Value.Body.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        await _consumer.DisposeAsync();
        await Service.DisposeAsync();
    }
}
