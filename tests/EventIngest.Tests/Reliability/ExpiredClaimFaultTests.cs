using EventIngest.Storage;
using EventIngest.StorageFaults;
using EventIngest.Tests.Api;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace EventIngest.Tests.Reliability;

/// <summary>
/// A caller key used again after its window: the new event takes over the expired claim with a conditional
/// replace. That replace landing while its answer is lost (the retry then fails its condition on our own write)
/// still leaves the new event holding the key, accepted and delivered, never a duplicate of itself; so does the
/// cleanup removing the expired claim just before the replace.
/// </summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class ExpiredClaimFaultTests(AzuriteFixture azurite) : ProxiedHostTests(azurite)
{
    private readonly ShiftedTime _time = new();

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?> { ["EventIngest:Ingest:IdempotencyWindow"] = "01:00:00" };

    protected override void ConfigureServices(IServiceCollection services) => services.AddSingleton<TimeProvider>(_time);

    [Theory]
    [InlineData(FaultKind.ResetAfterForward)]
    [InlineData(FaultKind.ServerBusy)]
    [InlineData(FaultKind.Latency)]
    public async Task AReplaceOfAnExpiredClaimThatLandsWhileItsAnswerIsLostLeavesTheNewEventAcceptedAndDelivered(FaultKind kind)
    {
        var first = Assert.Single(await Host.SendForIdsAsync("""{"name":"app/x","id":"k"}"""));
        _time.Offset = TimeSpan.FromMinutes(61);
        // The claim's conditional replace (If-Match) in the claims table: applied with its answer lost,
        // throttled and retried, or slow.
        var lost = Proxy.Add(new FaultRule
        {
            Service = StorageService.Table,
            Operation = StorageOperation.TableBatch,
            Kind = kind,
            Delay = TimeSpan.FromSeconds(3),
            Times = 1,
            When = r => r.BodyContains(Host.Prefix + "idempotency") && r.BodyContains("If-Match:"),
        });

        var body = await TestHost.JsonAsync(await Host.SendAsync("""{"name":"app/x","id":"k","data":{"n":2}}"""));

        Assert.Equal(1, lost.Applied);
        await AssertAcceptedHoldingTheKeyAndDeliveredAsync(first, body);
    }

    [Fact]
    public async Task AnExpiredClaimTheCleanupRemovesBeforeItsReplaceIsInsertedAgain()
    {
        var first = Assert.Single(await Host.SendForIdsAsync("""{"name":"app/x","id":"k"}"""));
        _time.Offset = TimeSpan.FromMinutes(61);
        var (partition, row) = EventStore.ClaimKeyFor("dev", "k");
        var direct = new Azure.Data.Tables.TableClient(Azurite.ConnectionString, Host.Prefix + "idempotency");
        var removed = 0;
        // As the replace reaches storage, the cleanup has just deleted the claim (straight to Azurite).
        Proxy.Add(new FaultRule
        {
            Service = StorageService.Table,
            Operation = StorageOperation.TableBatch,
            Kind = FaultKind.Latency,
            When = r => r.BodyContains(Host.Prefix + "idempotency") && r.BodyContains("If-Match:") && Interlocked.Exchange(ref removed, 1) == 0
                && direct.DeleteEntity(partition, row).Status == 204,
        });

        var body = await TestHost.JsonAsync(await Host.SendAsync("""{"name":"app/x","id":"k","data":{"n":2}}"""));

        Assert.Equal(1, removed);
        await AssertAcceptedHoldingTheKeyAndDeliveredAsync(first, body);
    }

    /// <summary>The second send of the key was accepted as a new event, holds the key, and both events were delivered.</summary>
    private async Task AssertAcceptedHoldingTheKeyAndDeliveredAsync(string first, System.Text.Json.JsonElement body)
    {
        var outcome = Assert.Single(body.GetProperty("events").EnumerateArray());
        Assert.Equal("accepted", outcome.GetProperty("outcome").GetString());
        var second = outcome.GetProperty("id").GetString();
        Assert.NotEqual(first, second);
        Assert.Equal(second, await Host.Services.GetRequiredService<EventStore>().ClaimHolderAsync("dev", "k", default));
        var delivered = (await Host.ReceiveAtLeastAsync(2)).Select(m => m.GetProperty("internal_id").GetString()).ToList();
        Assert.Equal(new[] { first, second }.Order(), delivered.Order());
    }
}
