using EventIngest.StorageFaults;
using Microsoft.Extensions.DependencyInjection;

namespace EventIngest.Tests.Infrastructure;

/// <summary>Tests of one host whose storage is reached through a fault proxy in front of the shared Azurite:
/// a fresh proxy, host and storage names for each test, the tables, the default queue and the due queue made up front, before any fault is set.</summary>
public abstract class ProxiedHostTests(AzuriteFixture azurite) : IAsyncLifetime
{
    protected StorageFaultProxy Proxy { get; private set; } = null!;
    protected TestHost Host { get; private set; } = null!;

    /// <summary>Azurite itself, behind the proxy: for what the test does to storage around the host.</summary>
    protected AzuriteFixture Azurite => azurite;

    protected static long Now => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    protected virtual IDictionary<string, string?>? Settings => null;

    protected virtual void ConfigureServices(IServiceCollection services)
    {
    }

    public async Task InitializeAsync()
    {
        Proxy = await StorageFaultProxy.StartAsync(azurite.ConnectionString);
        Host = await TestHost.StartAsync(Proxy.ConnectionString, azurite.NewStorageNamePrefix(), Settings, ConfigureServices);
        await Host.Storage.EnsureCreatedAsync(default);
        await Host.Storage.ReadyQueueAsync(Host.DefaultQueue, default);
        await Host.Storage.ReadyQueueAsync(Host.Storage.DueQueueName, default);
    }

    public async Task DisposeAsync()
    {
        await Host.DisposeAsync();
        await Proxy.DisposeAsync();
    }
}
