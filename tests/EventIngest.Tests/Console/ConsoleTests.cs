using System.Net;
using System.Text.Json;
using EventIngest.Ingest;
using EventIngest.Tests.Infrastructure;
using Microsoft.Playwright;
using static EventIngest.Tests.Infrastructure.KeyHashes;
using static Microsoft.Playwright.Assertions;
using EventIngest.Storage;

namespace EventIngest.Tests.Console;

/// <summary>The dev console in a real browser, on a local host started in-process on the shared Azurite.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class ConsoleTests(AzuriteFixture azurite, Browser browser) : IClassFixture<Browser>
{
    [Fact]
    public async Task AnEventSentThroughTheApiAppearsInTheStreamWithinTwoSecondsWithoutAReload()
    {
        await using var host = await StartAsync();
        var page = await browser.OpenAsync(host);
        await Expect(page.Locator("#live-status")).ToContainTextAsync("Live");
        var loads = 0;
        page.Load += (_, _) => loads++;

        var id = await SendAsync(host, """{"name":"app/stream.check","data":{"n":1},"id":"stream-1"}""");

        var row = page.Locator($"#events tr[data-id='{id}']");
        // The stream polls every second, so a new event shows within two on a quiet machine; a loaded
        // one may take longer, so the wait is the default and the reload count proves it was streamed.
        await Expect(row).ToBeVisibleAsync();
        Assert.Equal(0, loads);
        await Expect(row).ToContainTextAsync("app/stream.check");
        await Expect(row).ToContainTextAsync("stream-1");
        await Expect(row).ToContainTextAsync("accepted");
        await Expect(row).ToContainTextAsync("dev");
    }

    [Fact]
    public async Task TheStreamFiltersByARoutePatternAndPagesBackThroughOlderEvents()
    {
        await using var host = await StartAsync();
        // More than one page (50) of matching events, and one that the pattern leaves out.
        var batch = string.Join(',', Enumerable.Range(0, 55).Select(i => $$"""{"name":"app/page.{{i}}"}"""));
        await SendAsync(host, $"[{batch}]");
        var other = await SendAsync(host, """{"name":"billing/other"}""");
        var page = await browser.OpenAsync(host);

        await page.GetByLabel("Name").FillAsync("app/page.*");
        await page.GetByRole(AriaRole.Button, new() { Name = "Apply" }).ClickAsync();
        // A pattern is matched in the page on each page of 50 the API returns: the newest page holds the other event.
        await Expect(page.Locator($"#events tr[data-id='{other}']")).ToHaveCountAsync(0);
        await Expect(page.Locator("#events tbody tr")).ToHaveCountAsync(49);
        await page.GetByRole(AriaRole.Button, new() { Name = "Load older events" }).ClickAsync();

        await Expect(page.Locator("#events tbody tr")).ToHaveCountAsync(55);
        await Expect(page.Locator($"#events tr[data-id='{other}']")).ToHaveCountAsync(0);
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Load older events" })).ToBeHiddenAsync();
    }

    [Fact]
    public async Task TheEventViewShowsDataAndTheOpenedUser()
    {
        await using var host = await StartAsync();
        var id = await SendAsync(host, """{"name":"app/user.created","data":{"plan":"pro","seats":{"max":3}},"user":{"external_id":"u-view","email":"ada@example.com"},"v":"2"}""");

        var page = await browser.OpenAsync(host, $"/#/event/{id}");

        await Expect(page.Locator("#event-title")).ToHaveTextAsync("app/user.created");
        await Expect(page.Locator("#user")).ToContainTextAsync("ada@example.com");
        await Expect(page.Locator("#user")).ToContainTextAsync("u-view");
        await Expect(page.Locator("#event-body")).ToContainTextAsync("\"seats\"");
        await Expect(page.Locator("#deliveries")).ToContainTextAsync(host.DefaultQueue);
        await page.GetByRole(AriaRole.Button, new() { Name = "Copy as curl" }).ClickAsync();
        await Expect(page.Locator("#curl")).ToContainTextAsync("curl -s -X POST");
        await Expect(page.Locator("#curl")).ToContainTextAsync("\"email\":\"ada@example.com\"");
    }

    [Fact]
    public async Task SendingAnInvalidEventFromTheEditorShowsTheApisErrorAndStoresNothing()
    {
        await using var host = await StartAsync();
        await StoredState.CreateAsync(host);
        const string body = """[{"name":"app/fine"},{"name":"inngest/reserved"},{"name":"app/bad-ts","ts":12}]""";
        var expected = await TestHost.JsonAsync(await host.SendAsync(body));
        Assert.Equal(400, expected.GetProperty("status").GetInt32());
        var page = await browser.OpenAsync(host, "/#/send");

        await page.GetByLabel("One event, or an array of events (JSON)").FillAsync(body);
        await page.GetByRole(AriaRole.Button, new() { Name = "Send", Exact = true }).ClickAsync();

        var errors = page.Locator("#send-errors");
        await Expect(errors).ToContainTextAsync(expected.GetProperty("error").GetString()!);
        foreach (var error in expected.GetProperty("errors").EnumerateArray())
        {
            await Expect(errors).ToContainTextAsync(error.GetProperty("message").GetString()!);
        }
        await StoredState.AssertNothingStoredAsync(host);
    }

    [Fact]
    public async Task SendingFromTheEditorShowsEachEventsIdAndOutcome()
    {
        await using var host = await StartAsync();
        var due = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds();
        var page = await browser.OpenAsync(host, "/#/send");

        await page.GetByLabel("One event, or an array of events (JSON)").FillAsync($$"""[{"name":"app/now","id":"k-1"},{"name":"app/later","ts":{{due}}},{"name":"app/again","id":"k-1"}]""");
        await page.Locator("#send-form").GetByLabel("Event key").FillAsync("my-app");
        await page.GetByRole(AriaRole.Button, new() { Name = "Send", Exact = true }).ClickAsync();

        var rows = page.Locator("#send-outcomes tbody tr");
        await Expect(rows).ToHaveCountAsync(3);
        await Expect(rows.Nth(0)).ToContainTextAsync("accepted");
        await Expect(rows.Nth(1)).ToContainTextAsync("scheduled");
        await Expect(rows.Nth(2)).ToContainTextAsync("duplicate");
        var first = await rows.Nth(0).Locator("a").InnerTextAsync();
        Assert.Equal(first, await rows.Nth(2).Locator("a").InnerTextAsync()); // a duplicate answers the original's id
        using var stored = await host.Client.GetAsync($"v1/events/{first}");
        Assert.Equal(HttpStatusCode.OK, stored.StatusCode);
    }

    [Fact]
    public async Task ReplayFromTheEventViewDeliversAgainAndListsTheDeliveryId()
    {
        await using var host = await StartAsync();
        var id = await SendAsync(host, """{"name":"app/replayed"}""");
        await host.ReceiveAllAsync(); // the original delivery, out of the way
        var page = await browser.OpenAsync(host, $"/#/event/{id}");

        await page.GetByRole(AriaRole.Button, new() { Name = "Replay" }).ClickAsync();
        await Expect(page.Locator("#confirm")).ToBeVisibleAsync();
        await page.Locator("#confirm-ok").ClickAsync();

        var replayRow = page.Locator("#deliveries tr.replay");
        await Expect(replayRow).ToHaveCountAsync(1);
        var message = Assert.Single(await host.ReceiveAtLeastAsync(1));
        Assert.True(message.GetProperty("replay").GetBoolean());
        await Expect(replayRow).ToContainTextAsync(message.GetProperty("delivery_id").GetString()!);
        await Expect(replayRow).ToContainTextAsync(host.DefaultQueue);
    }

    [Fact]
    public async Task DeclinedConfirmationLeavesTheEventAlone()
    {
        await using var host = await StartAsync();
        var id = await SendAsync(host, """{"name":"app/kept"}""");
        await host.ReceiveAllAsync();
        var page = await browser.OpenAsync(host, $"/#/event/{id}");

        await page.GetByRole(AriaRole.Button, new() { Name = "Replay" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Keep it" }).ClickAsync();

        await Expect(page.Locator("#confirm")).ToBeHiddenAsync();
        await Expect(page.Locator("#deliveries tr.replay")).ToHaveCountAsync(0);
        Assert.Empty(await host.ReceiveAllAsync()); // the original was received above: a replay would be the only visible message
    }

    [Fact]
    public async Task CancelFromTheScheduledTabStopsTheEvent()
    {
        await using var host = await StartAsync();
        var due = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds();
        var id = await SendAsync(host, $$"""{"name":"app/reminder","ts":{{due}}}""");
        var page = await browser.OpenAsync(host, "/#/scheduled");

        var row = page.Locator($"#scheduled tr[data-id='{id}']");
        await Expect(row).ToContainTextAsync("app/reminder");
        await Expect(row.Locator(".countdown")).ToContainTextAsync("m ");
        await row.GetByRole(AriaRole.Button, new() { Name = "Cancel" }).ClickAsync();
        await page.Locator("#confirm-ok").ClickAsync();

        await Expect(row).ToHaveCountAsync(0);
        Assert.Equal("cancelled", (await EventAsync(host, id)).GetProperty("state").GetString());
    }

    [Fact]
    public async Task RescheduleFromTheEventViewMovesTheDueTime()
    {
        await using var host = await StartAsync();
        var due = DateTimeOffset.UtcNow.AddHours(1);
        var id = await SendAsync(host, $$"""{"name":"app/moved","ts":{{due.ToUnixTimeMilliseconds()}}}""");
        var page = await browser.OpenAsync(host, $"/#/event/{id}");

        // The browser runs in UTC (Browser.OpenAsync), so its local time is UTC.
        var later = DateTimeOffset.FromUnixTimeSeconds(due.AddHours(2).ToUnixTimeSeconds()); // the input holds whole seconds
        await page.GetByLabel("Due at").FillAsync(later.ToString("yyyy-MM-dd'T'HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture));
        await page.GetByRole(AriaRole.Button, new() { Name = "Reschedule" }).ClickAsync();

        await Waits.UntilAsync(async () => (await EventAsync(host, id)).GetProperty("due").GetInt64(), d => d == later.ToUnixTimeMilliseconds());
        Assert.Equal(later.ToUnixTimeMilliseconds(), (await EventAsync(host, id)).GetProperty("due").GetInt64());
    }

    [Fact]
    public async Task RescheduleFromTheScheduledTabMovesTheDueTime()
    {
        await using var host = await StartAsync();
        var due = DateTimeOffset.UtcNow.AddHours(1);
        var id = await SendAsync(host, $$"""{"name":"app/moved.here","ts":{{due.ToUnixTimeMilliseconds()}}}""");
        var page = await browser.OpenAsync(host, "/#/scheduled");
        var later = DateTimeOffset.FromUnixTimeSeconds(due.AddDays(1).ToUnixTimeSeconds());

        await page.GetByRole(AriaRole.Button, new() { Name = $"Reschedule app/moved.here {id}" }).ClickAsync();
        await page.GetByLabel("New due time (local)").FillAsync(later.ToString("yyyy-MM-dd'T'HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture));
        await page.Locator("#reschedule-dialog").GetByRole(AriaRole.Button, new() { Name = "Reschedule" }).ClickAsync();

        await Expect(page.Locator($"#scheduled tr[data-id='{id}']")).ToContainTextAsync(later.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(later.ToUnixTimeMilliseconds(), (await EventAsync(host, id)).GetProperty("due").GetInt64());
    }

    [Fact]
    public async Task EraseFromTheEventViewShowsTheUserAsErased()
    {
        await using var host = await StartAsync();
        var id = await SendAsync(host, """{"name":"app/signup","user":{"external_id":"u-erase","email":"gone@example.com"}}""");
        var page = await browser.OpenAsync(host, $"/#/event/{id}");
        await Expect(page.Locator("#user")).ToContainTextAsync("gone@example.com");

        await page.GetByRole(AriaRole.Button, new() { Name = "Erase this person's user data" }).ClickAsync();
        await Expect(page.Locator("#confirm-text")).ToContainTextAsync("u-erase");
        await page.Locator("#confirm-ok").ClickAsync();

        await Expect(page.Locator("#user-erased")).ToBeVisibleAsync();
        await Expect(page.Locator("#user")).Not.ToContainTextAsync("gone@example.com");
        Assert.True((await EventAsync(host, id)).GetProperty("user_erased").GetBoolean());
    }

    [Fact]
    public async Task TheQueuesViewListsShardsAndPeeksAtTheNextMessageWithoutTakingIt()
    {
        await using var host = await StartAsync(new() { ["EventIngest:Routing:DefaultShards"] = "2" });
        var id = await SendAsync(host, """{"name":"app/peeked","data":{"colour":"teal"}}""");
        var queue = QueueShards.QueueFor(host.DefaultQueue, 2, id);
        var page = await browser.OpenAsync(host, "/#/queues");

        await Expect(page.Locator("#queues")).ToContainTextAsync(host.DefaultQueue + "-0");
        await Expect(page.Locator("#queues")).ToContainTextAsync(host.DefaultQueue + "-1");
        await page.GetByRole(AriaRole.Button, new() { Name = $"Peek at {queue}" }).ClickAsync();

        await Expect(page.Locator("#peek")).ToContainTextAsync(id);
        await Expect(page.Locator("#peek")).ToContainTextAsync("\"colour\": \"teal\"");
        var received = Assert.Single(await host.ReceiveAllAsync(queue)); // still there, and visible: peeking took nothing
        Assert.Equal(id, received.GetProperty("internal_id").GetString());
    }

    [Fact]
    public async Task WithSigningKeysTheConsoleAsksForOneAndKeepsItInTheTabOnly()
    {
        await using var host = await StartAsync(new()
        {
            ["EventIngest:Auth:SigningKeys:0:Hash"] = Hash("console-key"),
            ["EventIngest:Auth:SigningKeys:0:Environment"] = "dev",
            ["EventIngest:Auth:SigningKeys:0:Scopes"] = "read,write,erase",
        });
        var id = await SendAsync(host, """{"name":"app/guarded"}""");
        var page = await browser.OpenAsync(host);
        await Expect(page.Locator("#error")).ToContainTextAsync("401");

        await page.GetByRole(AriaRole.Button, new() { Name = "Keys" }).ClickAsync();
        await page.GetByLabel("Signing key").FillAsync("console-key");
        await page.GetByRole(AriaRole.Button, new() { Name = "Save keys" }).ClickAsync();

        await Expect(page.Locator($"#events tr[data-id='{id}']")).ToBeVisibleAsync();
        await Expect(page.Locator("#error")).ToBeHiddenAsync();
        Assert.Equal("console-key", await page.EvaluateAsync<string>("sessionStorage.getItem('eventingest.signingKey')"));
        Assert.Equal(0, await page.EvaluateAsync<int>("Object.values(localStorage).filter(v => v.includes('console-key')).length"));
    }

    [Fact]
    public async Task TheThemeToggleSwitchesBetweenAutoLightAndDark()
    {
        await using var host = await StartAsync();
        var page = await browser.OpenAsync(host, scheme: ColorScheme.Dark);
        var toggle = page.GetByRole(AriaRole.Button, new() { Name = "Theme: auto" });
        var background = () => page.EvaluateAsync<string>("getComputedStyle(document.body).backgroundColor");
        Assert.Equal("rgb(15, 20, 25)", await background()); // dark, from prefers-color-scheme

        await toggle.ClickAsync();
        await Expect(page.Locator("html")).ToHaveAttributeAsync("data-theme", "light");
        Assert.Equal("rgb(255, 255, 255)", await background());
        await page.GetByRole(AriaRole.Button, new() { Name = "Theme: light" }).ClickAsync();
        await Expect(page.Locator("html")).ToHaveAttributeAsync("data-theme", "dark");
    }

    [Fact]
    public async Task TheViewsAreReachableFromTheKeyboard()
    {
        await using var host = await StartAsync();
        var page = await browser.OpenAsync(host);
        await Expect(page.Locator("#live-status")).ToContainTextAsync("Live");

        await page.Keyboard.PressAsync("Tab"); // the skip link
        await page.Keyboard.PressAsync("Tab");
        await Expect(page.GetByRole(AriaRole.Link, new() { Name = "Stream" })).ToBeFocusedAsync();
        await page.Keyboard.PressAsync("Tab");
        await page.Keyboard.PressAsync("Enter");

        await Expect(page.Locator("#view-send")).ToBeVisibleAsync();
        await Expect(page.GetByRole(AriaRole.Link, new() { Name = "Send" })).ToHaveAttributeAsync("aria-current", "page");
    }

    private Task<TestHost> StartAsync(Dictionary<string, string?>? settings = null) =>
        TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(), settings);

    /// <summary>Sends through the event route and returns the first event's internal id.</summary>
    internal static async Task<string> SendAsync(TestHost host, string body)
    {
        using var response = await host.SendAsync(body);
        var json = await TestHost.JsonAsync(response);
        Assert.True(response.StatusCode == HttpStatusCode.OK, json.ToString());
        return json.GetProperty("ids")[0].GetString()!;
    }

    private static async Task<JsonElement> EventAsync(TestHost host, string id)
    {
        using var response = await host.Client.GetAsync($"v1/events/{id}");
        return (await TestHost.JsonAsync(response)).GetProperty("data");
    }
}
