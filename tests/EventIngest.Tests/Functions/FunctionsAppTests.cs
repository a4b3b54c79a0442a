extern alias functions;
using System.Text;
using System.Text.Json;
using EventIngest.Ingest;
using EventIngest.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using SendEvents = functions::EventIngest.Functions.SendEvents;
using RepairOutbox = functions::EventIngest.Functions.RepairOutbox;

namespace EventIngest.Tests.Functions;

[Collection(AzuriteFixture.CollectionName)]
public sealed class FunctionsAppTests(AzuriteFixture azurite)
{
    private static JsonElement Metadata()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "functions.metadata");
        return JsonDocument.Parse(File.ReadAllText(path)).RootElement;
    }

    private static JsonElement Function(string name) =>
        Metadata().EnumerateArray().Single(f => f.GetProperty("name").GetString() == name);

    [Fact]
    public void MetadataDeclaresEveryFunctionWithItsTrigger()
    {
        Assert.Equal(["CancelEvent", "CleanupIdempotency", "EraseUser", "ListScheduled", "ReleaseScheduled", "RepairOutbox", "RescheduleEvent", "SendEvents"],
            Metadata().EnumerateArray().Select(f => f.GetProperty("name").GetString()).Order());

        var http = Function("SendEvents").GetProperty("bindings")[0];
        Assert.Equal("httpTrigger", http.GetProperty("type").GetString());
        Assert.Equal("e/{eventKey}", http.GetProperty("route").GetString());
        Assert.Equal("Anonymous", http.GetProperty("authLevel").GetString());
        Assert.Contains("post", http.GetProperty("methods").EnumerateArray().Select(m => m.GetString()));

        foreach (var (name, method, route) in new[] { ("ListScheduled", "get", "v1/scheduled"), ("RescheduleEvent", "patch", "v1/events/{internalId}"), ("CancelEvent", "delete", "v1/events/{internalId}"), ("EraseUser", "delete", "v1/users/{externalId}") })
        {
            var trigger = Function(name).GetProperty("bindings")[0];
            Assert.Equal("httpTrigger", trigger.GetProperty("type").GetString());
            Assert.Equal(route, trigger.GetProperty("route").GetString());
            Assert.Equal([method], trigger.GetProperty("methods").EnumerateArray().Select(m => m.GetString()));
        }

        var repair = Function("RepairOutbox").GetProperty("bindings")[0];
        Assert.Equal("timerTrigger", repair.GetProperty("type").GetString());
        Assert.Equal("0 */1 * * * *", repair.GetProperty("schedule").GetString());

        var release = Function("ReleaseScheduled").GetProperty("bindings")[0];
        Assert.Equal("timerTrigger", release.GetProperty("type").GetString());
        Assert.Equal("0 */1 * * * *", release.GetProperty("schedule").GetString());

        var cleanup = Function("CleanupIdempotency").GetProperty("bindings")[0];
        Assert.Equal("timerTrigger", cleanup.GetProperty("type").GetString());
        Assert.Equal("0 */15 * * * *", cleanup.GetProperty("schedule").GetString());
    }

    [Fact]
    public void HostJsonRoutesWithoutPrefixAndReadsBase64Messages()
    {
        var host = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "host.json"))).RootElement;
        Assert.Equal("", host.GetProperty("extensions").GetProperty("http").GetProperty("routePrefix").GetString());
        Assert.Equal("base64", host.GetProperty("extensions").GetProperty("queues").GetProperty("messageEncoding").GetString());
    }

    [Fact]
    public async Task SendEventsFunctionRunsTheSharedHandler()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var function = new SendEvents(host.Services.GetRequiredService<EventEndpoint>());

        var context = new DefaultHttpContext { RequestServices = host.Services };
        context.Request.Method = "POST";
        context.Request.Body = new MemoryStream(Encoding.UTF8.GetBytes("""[{"name":"app/fn"}]"""));
        context.Response.Body = new MemoryStream();

        var result = await function.Run(context.Request, "key", CancellationToken.None);
        await result.ExecuteAsync(context);

        Assert.Equal(200, context.Response.StatusCode);
        context.Response.Body.Position = 0;
        var body = JsonDocument.Parse(context.Response.Body).RootElement;
        Assert.Equal(200, body.GetProperty("status").GetInt32());
        var message = Assert.Single(await host.ReceiveAllAsync());
        Assert.Equal(body.GetProperty("ids")[0].GetString(), message.GetProperty("internal_id").GetString());
    }

    [Fact]
    public async Task RepairFunctionRunsTheSharedJob()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var function = new RepairOutbox(host.Services.GetRequiredService<Jobs>());
        await function.Run(new Microsoft.Azure.Functions.Worker.TimerInfo(), CancellationToken.None);
        Assert.Empty(await host.RowsAsync(host.Storage.Outbox));
    }
}
