using System.Net;
using Azure.Data.Tables;
using EventIngest.Storage;
using EventIngest.StorageFaults;
using EventIngest.Tests.Infrastructure;

namespace EventIngest.Tests.Reliability;

/// <summary>
/// A seeded request whose ids were fenced off (void records) from an earlier attempt that was never answered
/// writes its records over them with conditional replaces. A replace that lands while its answer is lost is
/// this attempt's own write on the retry, not another attempt's: the request is answered 200 and sent.
/// </summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class VoidRecordFaultTests(AzuriteFixture azurite) : ProxiedHostTests(azurite)
{
    [Theory]
    [InlineData(FaultKind.ResetAfterForward)]
    [InlineData(FaultKind.ServerBusy)]
    [InlineData(FaultKind.Latency)]
    public async Task AReplaceOfAVoidRecordThatLandsWhileItsAnswerIsLostIsTheRequestsOwn(FaultKind kind)
    {
        const string body = """{"name":"app/x"}""";
        var seeded = Seeds.Header();
        var id = (await TestHost.JsonAsync(await Host.SendAsync(body, headers: seeded))).GetProperty("ids")[0].GetString()!;
        Assert.Single(await Host.ReceiveAtLeastAsync(1));
        // The id fenced off, as the repair does for an attempt it takes over.
        var partition = RecordKeys.Partition("dev", id);
        await Host.Storage.Events.UpsertEntityAsync(EventRecord.Void(partition, id, "an-earlier-attempt", Now).ToEntity(), TableUpdateMode.Replace);
        var lost = Proxy.Add(new FaultRule
        {
            Service = StorageService.Table,
            Operation = StorageOperation.TableUpdate,
            Kind = kind,
            Delay = TimeSpan.FromSeconds(3),
            Times = 1,
            When = r => r.PathAndQuery.Contains(Host.Prefix + "events", StringComparison.Ordinal),
        });

        var response = await Host.SendAsync(body, headers: seeded);

        Assert.Equal(1, lost.Applied);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(id, (await TestHost.JsonAsync(response)).GetProperty("ids")[0].GetString());
        Assert.Equal(id, Assert.Single(await Host.ReceiveAtLeastAsync(1)).GetProperty("internal_id").GetString());
    }
}
