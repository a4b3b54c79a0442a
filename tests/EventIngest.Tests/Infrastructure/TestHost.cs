using System.Text;
using System.Text.Json;
using Azure.Data.Tables;
using Azure.Storage.Queues;
using EventIngest.DevServer;
using EventIngest.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using EventIngest.Delivery;

namespace EventIngest.Tests.Infrastructure;

/// <summary>
/// The local host on a free loopback port, on the shared Azurite, with its own storage names
/// so tests never see each other's tables and queues.
/// </summary>
public sealed class TestHost : IAsyncDisposable
{
    // Hosts alive in this test run: a read of the outbox first deletes the rows of requests they finished.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<TestHost, bool> Live = new();
    private readonly WebApplication _app;

    private TestHost(WebApplication app, string prefix, Uri baseAddress)
    {
        _app = app;
        Live[this] = true;
        Prefix = prefix;
        BaseAddress = baseAddress;
        Client = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    public string Prefix { get; }
    public Uri BaseAddress { get; }
    public HttpClient Client { get; }
    public IServiceProvider Services => _app.Services;
    public StorageAccount Storage => Services.GetRequiredService<StorageAccount>();
    public string DefaultQueue => Prefix + "events";

    public static async Task<TestHost> StartAsync(string connectionString, string prefix, IDictionary<string, string?>? settings = null, Action<IServiceCollection>? services = null)
    {
        var config = new Dictionary<string, string?>
        {
            ["EventIngest:Storage:ConnectionString"] = connectionString,
            ["EventIngest:Storage:Prefix"] = prefix,
            // Generous: a loaded machine makes storage slow, and a test that is not about timeouts must not fail on one.
            ["EventIngest:Storage:OperationTimeout"] = "00:00:30",
            // A request gives up (503) after half of RepairAfter: two minutes let a large batch finish
            // on a loaded machine. Tests that step past it shift their clock by three.
            ["EventIngest:Repair:RepairAfter"] = "00:02:00",
            ["EventIngest:Routing:DefaultQueue"] = prefix + "events",
            ["EventIngest:Local:RepairInterval"] = "01:00:00",
            ["EventIngest:Local:CleanupInterval"] = "01:00:00",
            ["EventIngest:Local:ReleaseInterval"] = "01:00:00",
            ["Logging:LogLevel:Default"] = "Warning",
            ["EventIngest:Encryption:KeyProvider"] = "Local",
            ["EventIngest:Encryption:LocalKeyPath"] = Path.Combine(Path.GetTempPath(), "eventingest-tests", "kek.pem"),
        };
        foreach (var (k, v) in settings ?? new Dictionary<string, string?>()) config[k] = v;

        var app = await LocalHost.BuildAsync(["--urls", "http://127.0.0.1:0"], builder =>
        {
            builder.Configuration.AddInMemoryCollection(config);
            services?.Invoke(builder.Services);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new TestHost(app, prefix, new Uri(address));
    }

    /// <summary>The connection string with the queue endpoint moved to a port that refuses every
    /// connection: tables and blobs work, every queue call fails.</summary>
    public static string WithDeadQueues(string connectionString) =>
        string.Join(';', connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.StartsWith("QueueEndpoint=", StringComparison.Ordinal) ? $"QueueEndpoint={DeadPort.Endpoint}" : p)) + ";";

    public Task<HttpResponseMessage> SendAsync(string body, string key = "test-key", IDictionary<string, string>? headers = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"e/{key}") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        foreach (var (k, v) in headers ?? new Dictionary<string, string>()) request.Headers.TryAddWithoutValidation(k, v);
        return Client.SendAsync(request);
    }

    public static async Task<JsonElement> JsonAsync(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

    /// <summary>Every visible message on a queue, decoded. They stay invisible for ten minutes afterwards. A queue
    /// that does not exist has none: to assert that nothing was stored, use StoredState.</summary>
    public async Task<List<JsonElement>> ReceiveAllAsync(string? queue = null)
    {
        var client = Storage.Queue(queue ?? DefaultQueue);
        if (!await client.ExistsAsync()) return [];
        var result = new List<JsonElement>();
        while (true)
        {
            var batch = await client.ReceiveMessagesAsync(32, TimeSpan.FromMinutes(10));
            if (batch.Value.Length == 0) return result;
            result.AddRange(batch.Value.Select(m => JsonDocument.Parse(m.Body.ToString()).RootElement));
        }
    }

    /// <summary>Waits until the queue holds at least <paramref name="count"/> messages (scheduled
    /// events are released by the host's due loop, shortly after their due time), then returns
    /// the count. Returns what is there when the timeout passes.</summary>
    public Task<int> WaitForMessagesAsync(int count, TimeSpan? timeout = null, string? queue = null) =>
        Waits.UntilAsync(() => CountMessagesAsync(queue), now => now >= count, timeout);

    /// <summary>The messages on a queue, invisible ones included; 0 for a queue that does not exist.</summary>
    public async Task<int> CountMessagesAsync(string? queue = null)
    {
        var client = Storage.Queue(queue ?? DefaultQueue);
        if (!await client.ExistsAsync()) return 0;
        return (await client.GetPropertiesAsync()).Value.ApproximateMessagesCount;
    }

    /// <summary>The rows of a table; none for a table that does not exist. Of the idempotency table, the claims
    /// only: the claims' expiry rows (RowKey <c>~exp|…</c>) and the cleanup's own rows (PartitionKey <c>~…</c>) are
    /// left out unless <paramref name="withBookkeeping"/>.</summary>
    public async Task<List<TableEntity>> RowsAsync(TableClient table, bool withBookkeeping = false)
    {
        var rows = await AllRowsAsync(table);
        if (table.Name != Storage.Idempotency.Name || withBookkeeping) return rows;
        return rows.Where(r => !r.PartitionKey.StartsWith('~') && !r.RowKey.StartsWith('~')).ToList();
    }

    private async Task<List<TableEntity>> AllRowsAsync(TableClient table)
    {
        if (table.Name == Storage.Outbox.Name)
        {
            // Finished requests' rows are deleted shortly after their answer (Outbox); settle that first.
            foreach (var host in Live.Keys)
            {
                try
                {
                    await host.Services.GetRequiredService<Outbox>().FlushAsync();
                }
                catch (ObjectDisposedException)
                {
                    // Stopped meanwhile: it flushed on the way out.
                }
            }
        }
        var rows = new List<TableEntity>();
        try
        {
            await foreach (var e in table.QueryAsync<TableEntity>()) rows.Add(e);
        }
        catch (Azure.RequestFailedException ex) when (ex.Status == 404)
        {
        }
        return rows;
    }

    public async ValueTask DisposeAsync()
    {
        Live.TryRemove(this, out _);
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
