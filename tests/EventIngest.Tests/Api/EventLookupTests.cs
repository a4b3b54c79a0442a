using System.Net;
using System.Text.Json;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace EventIngest.Tests.Api;

[Collection(AzuriteFixture.CollectionName)]
public sealed class EventLookupTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private TestHost _host = null!;

    public async Task InitializeAsync() => _host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task AcceptedEventIsReturnedWithDataUserAndState()
    {
        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var id = Assert.Single(await _host.SendForIdsAsync("""{"name":"app/user.created","id":"signup-1","data":{"plan":"pro","_inngest":{"x":1}},"user":{"external_id":"u-42","email":"a@example.com"},"ts":1743130137367,"v":"2024-01-01"}"""));

        var (status, body) = await _host.GetAsync($"v1/events/{id}");

        Assert.Equal(HttpStatusCode.OK, status);
        var e = body.GetProperty("data");
        Assert.Equal(id, e.GetProperty("internal_id").GetString());
        Assert.Equal("signup-1", e.GetProperty("id").GetString());
        Assert.Equal("app/user.created", e.GetProperty("name").GetString());
        Assert.Equal("""{"plan":"pro"}""", e.GetProperty("data").GetRawText());
        Assert.Equal("u-42", e.GetProperty("user").GetProperty("external_id").GetString());
        Assert.Equal("a@example.com", e.GetProperty("user").GetProperty("email").GetString());
        Assert.False(e.GetProperty("user_erased").GetBoolean());
        Assert.Equal(1743130137367, e.GetProperty("ts").GetInt64());
        Assert.Equal("2024-01-01", e.GetProperty("v").GetString());
        Assert.InRange(e.GetProperty("received_at").GetInt64(), before, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        Assert.Equal("dev", e.GetProperty("env").GetString());
        Assert.Equal("delivered", e.GetProperty("state").GetString());
        Assert.False(e.TryGetProperty("due", out _));
        Assert.True(DateTimeOffset.TryParse(body.GetProperty("metadata").GetProperty("fetched_at").GetString(), out _));
    }

    [Fact]
    public async Task EventWithoutOptionalFieldsHasNullsAndEmptyObjects()
    {
        var id = Assert.Single(await _host.SendForIdsAsync("""{"name":"app/bare"}"""));
        var e = (await _host.GetAsync($"v1/events/{id}")).Body.GetProperty("data");
        Assert.Equal(JsonValueKind.Null, e.GetProperty("id").ValueKind);
        Assert.Equal(JsonValueKind.Null, e.GetProperty("v").ValueKind);
        Assert.Equal("{}", e.GetProperty("data").GetRawText());
        Assert.Equal("{}", e.GetProperty("user").GetRawText());
    }

    [Fact]
    public async Task ADuplicateSendAnswersTheOriginalIdWhichLooksUpTheOriginalEvent()
    {
        var original = Assert.Single(await _host.SendForIdsAsync("""{"name":"app/order","id":"order-9","data":{"n":1}}"""));
        var duplicate = Assert.Single(await _host.SendForIdsAsync("""{"name":"app/order","id":"order-9","data":{"n":2}}"""));
        Assert.Equal(original, duplicate);

        var e = (await _host.GetAsync($"v1/events/{duplicate}")).Body.GetProperty("data");
        Assert.Equal(1, e.GetProperty("data").GetProperty("n").GetInt32());

        var (status, byKey) = await _host.GetAsync("v1/events?id=order-9");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal([original], byKey.GetProperty("data").EnumerateArray().InternalIds());
        Assert.Equal(JsonValueKind.Null, byKey.GetProperty("metadata").GetProperty("next_cursor").ValueKind);
    }

    [Fact]
    public async Task AfterThePersonIsErasedTheirUserIsNullAndFlagged()
    {
        var erased = Assert.Single(await _host.SendForIdsAsync("""{"name":"app/x","user":{"external_id":"u-gone","email":"gone@example.com"}}"""));
        var kept = Assert.Single(await _host.SendForIdsAsync("""{"name":"app/x","user":{"external_id":"u-kept"}}"""));

        Assert.Equal(HttpStatusCode.OK, (await _host.CallAsync(HttpMethod.Delete, "v1/users/u-gone")).Status);

        var e = (await _host.GetAsync($"v1/events/{erased}")).Body.GetProperty("data");
        Assert.Equal(JsonValueKind.Null, e.GetProperty("user").ValueKind);
        Assert.True(e.GetProperty("user_erased").GetBoolean());
        Assert.Equal("app/x", e.GetProperty("name").GetString());
        var other = (await _host.GetAsync($"v1/events/{kept}")).Body.GetProperty("data");
        Assert.Equal("u-kept", other.GetProperty("user").GetProperty("external_id").GetString());
        Assert.False(other.GetProperty("user_erased").GetBoolean());
    }

    [Fact]
    public async Task ScheduledEventShowsItsStateAndDueTime()
    {
        var due = DateTimeOffset.UtcNow.AddHours(2).ToUnixTimeMilliseconds();
        var id = Assert.Single(await _host.SendForIdsAsync($$"""{"name":"app/reminder","ts":{{due}}}"""));

        var e = (await _host.GetAsync($"v1/events/{id}")).Body.GetProperty("data");

        Assert.Equal("scheduled", e.GetProperty("state").GetString());
        Assert.Equal(due, e.GetProperty("due").GetInt64());
        Assert.Equal(due, e.GetProperty("ts").GetInt64());
    }

    [Fact]
    public async Task LargeEventIsReadFromItsBlob()
    {
        var big = new string('x', 100_000);
        var id = Assert.Single(await _host.SendForIdsAsync("{\"name\":\"app/big\",\"data\":{\"blob\":\"" + big + "\"},\"user\":{\"external_id\":\"u-1\"}}"));

        var e = (await _host.GetAsync($"v1/events/{id}")).Body.GetProperty("data");

        Assert.Equal(big, e.GetProperty("data").GetProperty("blob").GetString());
        Assert.Equal("u-1", e.GetProperty("user").GetProperty("external_id").GetString());
    }

    [Fact]
    public async Task LookupIgnoresTheCaseOfTheInternalId()
    {
        var id = Assert.Single(await _host.SendForIdsAsync("""{"name":"app/x"}"""));
        var (status, body) = await _host.GetAsync($"v1/events/{id.ToLowerInvariant()}");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(id, body.GetProperty("data").GetProperty("internal_id").GetString());
    }

    [Theory]
    [InlineData("not-a-ulid")]
    [InlineData("01JQDAE4RQF8MBCR55T5AK4KX")]
    [InlineData("81JQDAE4RQF8MBCR55T5AK4KXS")]
    [InlineData("01JQDAE4RQF8MBCR55T5AK4KXU")]
    public async Task InternalIdThatIsNotAUlidIs400(string internalId)
    {
        var (status, body) = await _host.GetAsync($"v1/events/{internalId}");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(400, body.GetProperty("status").GetInt32());
        Assert.Contains("ULID", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownEventIs404ProblemDetails()
    {
        using var response = await _host.Client.GetAsync("v1/events/01JQDAE4RQF8MBCR55T5AK4KXS");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var body = await TestHost.JsonAsync(response);
        Assert.Equal(404, body.GetProperty("status").GetInt32());
        Assert.Equal("No event 01JQDAE4RQF8MBCR55T5AK4KXS in this environment", body.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task CancelledEventShowsItsState()
    {
        var due = DateTimeOffset.UtcNow.AddHours(2).ToUnixTimeMilliseconds();
        var id = Assert.Single(await _host.SendForIdsAsync($$"""{"name":"app/reminder","ts":{{due}}}"""));
        Assert.Equal(HttpStatusCode.OK, (await _host.CallAsync(HttpMethod.Delete, $"v1/events/{id}")).Status);

        var e = (await _host.GetAsync($"v1/events/{id}")).Body.GetProperty("data");

        Assert.Equal("cancelled", e.GetProperty("state").GetString());
    }

    [Fact]
    public async Task AScheduledEventSaysDeliveredOnlyOnceItIsOnItsQueue()
    {
        // Parked beyond a one-minute horizon, the event is released by the jobs run here on the moved
        // clock (the host's own due poll waits an hour between passes).
        var time = new ShiftedTime();
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(),
            new Dictionary<string, string?> { ["EventIngest:Scheduling:Horizon"] = "00:01:00", ["EventIngest:Local:DuePollInterval"] = "01:00:00" },
            s => s.AddSingleton<TimeProvider>(time));
        var due = time.GetUtcNow().AddHours(2).ToUnixTimeMilliseconds();
        var id = Assert.Single(await host.SendForIdsAsync($$"""{"name":"app/reminder","ts":{{due}}}"""));
        Assert.Equal("scheduled", await StateAsync(host, id));

        // Past its due time but not yet released: still scheduled, and on no queue.
        time.Offset = TimeSpan.FromHours(2) + TimeSpan.FromSeconds(1);
        Assert.Equal("scheduled", await StateAsync(host, id));
        Assert.Equal(0, await host.CountMessagesAsync());

        var jobs = host.Services.GetRequiredService<Jobs>();
        Assert.Equal(1, await jobs.ReleaseParkedAsync(default));
        await jobs.ReleaseDueAsync(TimeSpan.Zero, TimeSpan.FromMilliseconds(100), default);
        Assert.Equal(1, await host.WaitForMessagesAsync(1));
        var message = Assert.Single(await host.ReceiveAllAsync());
        var e = (await host.GetAsync($"v1/events/{id}")).Body.GetProperty("data");

        Assert.Equal(id, message.GetProperty("internal_id").GetString());
        Assert.Equal("delivered", e.GetProperty("state").GetString());
        Assert.Equal(due, e.GetProperty("due").GetInt64());
    }

    private static async Task<string?> StateAsync(TestHost host, string id) =>
        (await host.GetAsync($"v1/events/{id}")).Body.GetProperty("data").GetProperty("state").GetString();

    [Fact]
    public async Task AnEventWhoseRequestDiedSaysPendingUntilTheRepairHasSentIt()
    {
        await using var died = await DiedRequest.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(), """{"name":"app/stuck"}""", Seeds.Header(Seeds.Other));
        var host = died.Host;
        var id = EventIngest.Ids.IdSeed.Parse(Seeds.Other)!.IdFor(0);

        Assert.Equal("pending", (await host.GetAsync($"v1/events/{id}")).Body.GetProperty("data").GetProperty("state").GetString());
        Assert.Equal(0, await host.CountMessagesAsync());

        Assert.Equal(1, await died.RepairAsync());
        Assert.Equal(1, await host.CountMessagesAsync());
        Assert.Equal("delivered", (await host.GetAsync($"v1/events/{id}")).Body.GetProperty("data").GetProperty("state").GetString());
    }
}
