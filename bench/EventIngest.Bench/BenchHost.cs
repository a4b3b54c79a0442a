using EventIngest.DevServer;
using EventIngest.DevServer.Azurite;
using EventIngest.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace EventIngest.Bench;

/// <summary>The local host on a free port over a fresh in-memory Azurite, as `dotnet run` gives it.</summary>
internal sealed class BenchHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private BenchHost(AzuriteProcess azurite, WebApplication app, Uri address)
    {
        Azurite = azurite;
        _app = app;
        Address = address;
        Client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = address, Timeout = TimeSpan.FromMinutes(2) };
    }

    public AzuriteProcess Azurite { get; }
    public Uri Address { get; }
    public HttpClient Client { get; }
    public IServiceProvider Services => _app.Services;
    public StorageAccount Storage => Services.GetRequiredService<StorageAccount>();

    public static async Task<BenchHost> StartAsync(Dictionary<string, string?>? settings = null, Action<IServiceCollection>? services = null)
    {
        var azurite = await AzuriteProcess.StartAsync();
        var config = new Dictionary<string, string?>
        {
            ["EventIngest:Storage:ConnectionString"] = azurite.ConnectionString,
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (k, v) in await BenchTelemetry.HostSettingsAsync()) config[k] = v;
        foreach (var (k, v) in settings ?? []) config[k] = v;
        var app = await LocalHost.BuildAsync(["--urls", "http://127.0.0.1:0"], b =>
        {
            b.Configuration.AddInMemoryCollection(config);
            services?.Invoke(b.Services);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new BenchHost(azurite, app, new Uri(address));
    }

    /// <summary>Sends <paramref name="count"/> events in requests of 500, four at a time; event i of
    /// the run is <paramref name="item"/>(i, its index in its request).</summary>
    public Task SendInBatchesAsync(int count, Func<int, int, string> item) =>
        Parallel.ForEachAsync(Enumerable.Range(0, count / 500), new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (b, ct) =>
        {
            var body = "[" + string.Join(',', Enumerable.Range(0, 500).Select(i => item(b * 500 + i, i))) + "]";
            var response = await Client.PostAsync("e/bench", new StringContent(body, System.Text.Encoding.UTF8, "application/json"), ct);
            response.EnsureSuccessStatusCode();
        });

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        await Azurite.DisposeAsync();
    }
}
