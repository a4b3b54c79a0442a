using System.Net;
using EventIngest.StorageFaults;
using EventIngest.Tests.Api;
using EventIngest.Tests.Infrastructure;

namespace EventIngest.Tests.Reliability;

/// <summary>
/// A message that carries many events — a packed queue's, or a due marker shared by events due in the same
/// second — sent while its response is lost: the request is still answered for every event, each event
/// arrives (at least once for a packed message, exactly once from a shared marker), and none is lost.
/// </summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class PackedAndGroupedFaultTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private StorageFaultProxy _proxy = null!;
    private TestHost _host = null!;

    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public async Task InitializeAsync()
    {
        _proxy = await StorageFaultProxy.StartAsync(azurite.ConnectionString);
        _host = await TestHost.StartAsync(_proxy.ConnectionString, azurite.NewStorageNamePrefix(), new Dictionary<string, string?>
        {
            ["EventIngest:Routing:DefaultPacked"] = "true",
            ["EventIngest:Storage:OperationTimeout"] = "00:01:00",
        });
        await _host.Storage.EnsureCreatedAsync(default);
        await _host.Storage.ReadyQueueAsync(_host.DefaultQueue, default);
        await _host.Storage.ReadyQueueAsync(_host.Storage.DueQueueName, default);
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _proxy.DisposeAsync();
    }

    /// <summary>The events a message carries: its own, or a packed message's.</summary>
    private static IEnumerable<System.Text.Json.JsonElement> Elements(System.Text.Json.JsonElement message) =>
        message.TryGetProperty("events", out var events) ? events.EnumerateArray() : [message];

    private static string Batch(int count, string extra = "") =>
        "[" + string.Join(',', Enumerable.Range(0, count).Select(i => $$"""{"name":"app/x","data":{"i":{{i}}}{{extra}}}""")) + "]";

    [Fact]
    public async Task APackedMessageWhoseResponseWasLostStillDeliversEveryEventOfTheAnsweredRequest()
    {
        _proxy.Add(new FaultRule
        {
            Service = StorageService.Queue, Operation = StorageOperation.QueueSend, Kind = FaultKind.ResetAfterForward, Times = 1,
            When = r => r.PathAndQuery.Contains("/" + _host.DefaultQueue + "/messages", StringComparison.Ordinal),
        });

        var ids = await _host.SendForIdsAsync(Batch(100));

        Assert.Equal(100, ids.Count);
        var elements = (await _host.ReceiveAllAsync()).SelectMany(Elements)
            .Select(e => e.GetProperty("internal_id").GetString()).ToList();
        // The lost send landed and was sent again: every event is there, none more than twice (at least once).
        Assert.Equal(ids.Order(), elements.Distinct().Order());
        Assert.All(elements.GroupBy(id => id), g => Assert.InRange(g.Count(), 1, 2));
    }

    [Fact]
    public async Task ASharedDueMarkerWhoseResponseWasLostReleasesEachEventOnce()
    {
        _proxy.Add(new FaultRule
        {
            Service = StorageService.Queue, Operation = StorageOperation.QueueSend, Kind = FaultKind.ResetAfterForward, Times = 1,
            When = r => r.PathAndQuery.Contains("/" + _host.Storage.DueQueueName + "/messages", StringComparison.Ordinal),
        });
        var due = (Now / 1000 + 6) * 1000 + 500; // one second: one shared marker, sent twice

        var response = await _host.SendAsync(Batch(50, $",\"ts\":{due}"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var ids = (await TestHost.JsonAsync(response)).GetProperty("ids").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Equal(0, await _host.DueMarkersSettledAsync());
        var delivered = (await _host.ReceiveAtLeastAsync(50)).SelectMany(Elements)
            .Select(e => e.GetProperty("internal_id").GetString()).ToList();
        Assert.Equal(ids.Order(), delivered.Order());
    }
}
