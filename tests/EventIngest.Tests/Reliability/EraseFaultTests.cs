using System.Net;
using System.Net.Http.Json;
using EventIngest.StorageFaults;
using EventIngest.Tests.Infrastructure;

namespace EventIngest.Tests.Reliability;

/// <summary>An erasure answered 200 under storage faults: the data no longer opens, and the receipt's
/// <c>found</c> tells the truth even when the delete of the person key landed while its response was lost.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class EraseFaultTests(AzuriteFixture azurite) : ProxiedHostTests(azurite)
{
    [Fact]
    public async Task ADeleteThatLandsWhileItsResponseIsLostStillReportsThePersonFoundAndErased()
    {
        var sent = await TestHost.JsonAsync(await Host.SendAsync("""{"name":"app/x","user":{"external_id":"tenant/42","email":"a@example.com"}}"""));
        var id = sent.GetProperty("ids")[0].GetString();

        Proxy.Add(new FaultRule { Service = StorageService.Table, Operation = StorageOperation.TableDelete, Kind = FaultKind.ResetAfterForward, Times = 1 });
        var erased = await Host.Client.PostAsJsonAsync("/v1/users/erase", new { external_id = "tenant/42" });
        Assert.Equal(HttpStatusCode.OK, erased.StatusCode);
        Assert.True((await TestHost.JsonAsync(erased)).GetProperty("data").GetProperty("found").GetBoolean());

        var read = (await TestHost.JsonAsync(await Host.Client.GetAsync($"/v1/events/{id}"))).GetProperty("data");
        Assert.True(read.GetProperty("user_erased").GetBoolean());
    }
}
