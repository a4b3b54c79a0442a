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
public sealed class PackedAndGroupedFaultTests(AzuriteFixture azurite) : ProxiedHostTests(azurite)
{
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["EventIngest:Routing:DefaultPacked"] = "true",
        ["EventIngest:Storage:OperationTimeout"] = "00:01:00",
    };

    /// <summary>The events a message carries: its own, or a packed message's.</summary>
    private static IEnumerable<System.Text.Json.JsonElement> Elements(System.Text.Json.JsonElement message) =>
        message.TryGetProperty("events", out var events) ? events.EnumerateArray() : [message];

    private static string Batch(int count, string extra = "") =>
        "[" + string.Join(',', Enumerable.Range(0, count).Select(i => $$"""{"name":"app/x","data":{"i":{{i}}}{{extra}}}""")) + "]";

    [Fact]
    public async Task APackedMessageWhoseResponseWasLostStillDeliversEveryEventOfTheAnsweredRequest()
    {
        Proxy.Add(new FaultRule
        {
            Service = StorageService.Queue, Operation = StorageOperation.QueueSend, Kind = FaultKind.ResetAfterForward, Times = 1,
            When = r => r.PathAndQuery.Contains("/" + Host.DefaultQueue + "/messages", StringComparison.Ordinal),
        });

        var ids = await Host.SendForIdsAsync(Batch(100));

        Assert.Equal(100, ids.Count);
        var elements = (await Host.ReceiveAllAsync()).SelectMany(Elements)
            .Select(e => e.GetProperty("internal_id").GetString()).ToList();
        // The lost send landed and was sent again: every event is there, none more than twice (at least once).
        Assert.Equal(ids.Order(), elements.Distinct().Order());
        Assert.All(elements.GroupBy(id => id), g => Assert.InRange(g.Count(), 1, 2));
    }

    [Fact]
    public async Task ASharedDueMarkerWhoseResponseWasLostReleasesEachEventOnce()
    {
        Proxy.Add(new FaultRule
        {
            Service = StorageService.Queue, Operation = StorageOperation.QueueSend, Kind = FaultKind.ResetAfterForward, Times = 1,
            When = r => r.PathAndQuery.Contains("/" + Host.Storage.DueQueueName + "/messages", StringComparison.Ordinal),
        });
        var due = (Now / 1000 + 6) * 1000 + 500; // one second: one shared marker, sent twice

        var response = await Host.SendAsync(Batch(50, $",\"ts\":{due}"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var ids = (await TestHost.JsonAsync(response)).GetProperty("ids").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Equal(0, await Host.DueMarkersSettledAsync());
        var delivered = (await Host.ReceiveAtLeastAsync(50)).SelectMany(Elements)
            .Select(e => e.GetProperty("internal_id").GetString()).ToList();
        Assert.Equal(ids.Order(), delivered.Order());
    }
}
