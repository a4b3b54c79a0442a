using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using EventIngest.Tests.Infrastructure;
using static EventIngest.Tests.Infrastructure.KeyHashes;

namespace EventIngest.Tests.Api;

[Collection(AzuriteFixture.CollectionName)]
public sealed class ScheduledEventsApiTests(AzuriteFixture azurite)
{
    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private static async Task<string> ScheduleAsync(TestHost host, long ts, string key = "k")
    {
        var body = await TestHost.JsonAsync(await host.SendAsync($$"""{"name":"app/later","ts":{{ts}}}""", key));
        return body.GetProperty("ids")[0].GetString()!;
    }

    [Fact]
    public async Task PendingEventsAreListedPageByPageInDueOrder()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var ids = new List<string>();
        for (var i = 0; i < 5; i++) ids.Add(await ScheduleAsync(host, Now + 3_600_000 + i * 60_000));
        await host.SendAsync("""{"name":"app/now"}""");

        var (listed, _) = await host.ListAllAsync("limit=2", path: "v1/scheduled");
        Assert.Equal(ids, listed.InternalIds());

        var early = await TestHost.JsonAsync(await host.Client.GetAsync($"v1/scheduled?due_before={Now + 3_600_000 + 90_000}"));
        Assert.Equal(2, early.GetProperty("data").GetArrayLength());
        Assert.Equal(HttpStatusCode.BadRequest, (await host.Client.GetAsync("v1/scheduled?limit=101")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await host.Client.GetAsync("v1/scheduled?cursor=bogus")).StatusCode);
    }

    [Fact]
    public async Task PatchReschedulesAndDeleteCancelsThenReleasedOrCancelledEventsAre409()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var id = await ScheduleAsync(host, Now + 3_600_000);

        var newTs = Now + 7_200_000;
        var patched = await host.Client.PatchAsync($"v1/events/{id}", JsonContent.Create(new { ts = newTs }));
        Assert.Equal(HttpStatusCode.OK, patched.StatusCode);
        var listed = await TestHost.JsonAsync(await host.Client.GetAsync("v1/scheduled"));
        Assert.Equal(newTs, listed.GetProperty("data")[0].GetProperty("due").GetInt64());

        Assert.Equal(HttpStatusCode.OK, (await host.Client.DeleteAsync($"v1/events/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await host.Client.DeleteAsync($"v1/events/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await host.Client.PatchAsync($"v1/events/{id}", JsonContent.Create(new { ts = newTs }))).StatusCode);
        Assert.Empty((await TestHost.JsonAsync(await host.Client.GetAsync("v1/scheduled"))).GetProperty("data").EnumerateArray());

        var delivered = (await TestHost.JsonAsync(await host.SendAsync("""{"name":"app/now"}"""))).GetProperty("ids")[0].GetString();
        var conflict = await host.Client.DeleteAsync($"v1/events/{delivered}");
        Assert.Equal(HttpStatusCode.Conflict, conflict.StatusCode);
        Assert.Contains("not scheduled", (await TestHost.JsonAsync(conflict)).GetProperty("detail").GetString(), StringComparison.Ordinal);

        var soon = await ScheduleAsync(host, Now + 5000);
        // Released: on the queue after the event sent above (the markers of the ones before come due later).
        Assert.Contains(soon, (await host.ReceiveAtLeastAsync(2)).Select(m => m.GetProperty("internal_id").GetString()));
        var late = await host.Client.DeleteAsync($"v1/events/{soon}");
        Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);
        Assert.Contains("released", (await TestHost.JsonAsync(late)).GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadIdsBodiesAndUnknownEventsAreClearErrors()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        Assert.Equal(HttpStatusCode.BadRequest, (await host.Client.DeleteAsync("v1/events/not-a-ulid")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.DeleteAsync("v1/events/01JQDAE4RQF8MBCR55T5AK4KXS")).StatusCode);
        var id = await ScheduleAsync(host, Now + 3_600_000);
        foreach (var body in new[] { "{}", "{\"ts\":\"soon\"}", "{\"ts\":1.5}", "{\"ts\":1750000000}", "[]", "nope" })
        {
            var response = await host.Client.PatchAsync($"v1/events/{id}", new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }
    }

    [Fact]
    public async Task ASigningKeyManagesOnlyItsOwnEnvironment()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(), new Dictionary<string, string?>
        {
            ["EventIngest:Auth:EventKeys:0:Hash"] = Hash("send-a"),
            ["EventIngest:Auth:EventKeys:0:Environment"] = "a",
            ["EventIngest:Auth:EventKeys:1:Hash"] = Hash("send-b"),
            ["EventIngest:Auth:EventKeys:1:Environment"] = "b",
            ["EventIngest:Auth:SigningKeys:0:Hash"] = Hash("sign-a"),
            ["EventIngest:Auth:SigningKeys:0:Environment"] = "a",
            ["EventIngest:Auth:SigningKeys:0:Scopes"] = "read,write",
        });
        var inB = await ScheduleAsync(host, Now + 3_600_000, "send-b");
        var inA = await ScheduleAsync(host, Now + 3_600_000, "send-a");

        Assert.Equal(HttpStatusCode.Unauthorized, (await host.Client.DeleteAsync($"v1/events/{inA}")).StatusCode);
        host.Client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "sign-a");
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.DeleteAsync($"v1/events/{inB}")).StatusCode);
        var list = await TestHost.JsonAsync(await host.Client.GetAsync("v1/scheduled"));
        Assert.Equal([inA], list.GetProperty("data").EnumerateArray().Select(e => e.GetProperty("internal_id").GetString()));
        Assert.Equal(HttpStatusCode.OK, (await host.Client.DeleteAsync($"v1/events/{inA}")).StatusCode);
    }
}
