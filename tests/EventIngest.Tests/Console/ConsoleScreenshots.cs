using EventIngest.Ingest;
using EventIngest.Tests.Infrastructure;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;
using EventIngest.Storage;

namespace EventIngest.Tests.Console;

/// <summary>
/// The pictures in docs/console.md: every view, light and dark, taken from a real run on a few
/// sample events, as {view}-{light|dark}.png. Every run takes them (into the test output); with
/// EVENTINGEST_UPDATE_SCREENSHOTS=1 they are saved over docs/console/, so that an ordinary test run
/// leaves the repository as it was.
/// </summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class ConsoleScreenshots(AzuriteFixture azurite, Browser browser) : IClassFixture<Browser>
{
    [Fact]
    public async Task EveryViewIsCapturedInLightAndDarkForTheGuide()
    {
        var prefix = azurite.NewStorageNamePrefix();
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, prefix, new Dictionary<string, string?>
        {
            ["EventIngest:Routing:Routes:0:Pattern"] = "app/order.*",
            ["EventIngest:Routing:Routes:0:Queue"] = prefix + "orders",
            ["EventIngest:Routing:Routes:0:Shards"] = "2",
        });
        var soon = DateTimeOffset.UtcNow.AddMinutes(42).ToUnixTimeMilliseconds();
        var later = DateTimeOffset.UtcNow.AddDays(9).ToUnixTimeMilliseconds();
        await ConsoleTests.SendAsync(host, """{"name":"app/user.signed_in","data":{"method":"passkey"},"user":{"external_id":"user-7"}}""");
        await ConsoleTests.SendAsync(host, $$$"""[{"name":"app/order.placed","id":"order-o-1","data":{"order":"o-1","total":42.5,"items":[{"sku":"tea","qty":2},{"sku":"cup","qty":1}]}},{"name":"app/order.reminder","data":{"order":"o-1"},"ts":{{{soon}}}},{"name":"app/trial.ending","data":{"days":1},"ts":{{{later}}}}]""");
        var user = await ConsoleTests.SendAsync(host, """{"name":"app/user.created","id":"signup-42","v":"2","data":{"plan":"pro","seats":3,"referrer":{"campaign":"autumn","source":"newsletter"}},"user":{"external_id":"user-42","email":"ada@example.com","name":"Ada"}}""");
        using (await host.Client.PostAsync($"v1/events/{user}/replay", null)) { }
        var docs = Environment.GetEnvironmentVariable("EVENTINGEST_UPDATE_SCREENSHOTS") == "1"
            ? Path.Combine(RepositoryRoot(), "docs", "console")
            : Path.Combine(AppContext.BaseDirectory, "console-screenshots");
        Directory.CreateDirectory(docs);

        foreach (var (scheme, suffix) in new[] { (ColorScheme.Light, "light"), (ColorScheme.Dark, "dark") })
        {
            var page = await browser.OpenAsync(host, "/", scheme);
            await Expect(page.Locator($"#events tr[data-id='{user}']")).ToBeVisibleAsync();
            await Save(page, docs, "stream", suffix);

            await page.GotoAsync($"/#/event/{user}");
            await Expect(page.Locator("#deliveries tr.replay")).ToHaveCountAsync(1);
            await Save(page, docs, "event", suffix);

            await page.GotoAsync("/#/send");
            await page.GetByLabel("One event, or an array of events (JSON)").FillAsync("""
                [
                  { "name": "app/order.placed", "data": { "order": "o-2" } },
                  { "name": "", "data": [] }
                ]
                """);
            await page.GetByRole(AriaRole.Button, new() { Name = "Send", Exact = true }).ClickAsync();
            await Expect(page.Locator("#send-errors li")).Not.ToHaveCountAsync(0);
            await Save(page, docs, "send", suffix);

            await page.GotoAsync("/#/scheduled");
            await Expect(page.Locator("#scheduled tbody tr")).ToHaveCountAsync(2);
            await Save(page, docs, "scheduled", suffix);

            await page.GotoAsync("/#/queues");
            var orders = QueueShards.QueueFor(prefix + "orders", 2, await OrderIdAsync(host));
            await page.GetByRole(AriaRole.Button, new() { Name = $"Peek at {orders}" }).ClickAsync();
            await Expect(page.Locator("#peek article")).ToHaveCountAsync(1);
            await Save(page, docs, "queues", suffix);
            await page.Context.CloseAsync();
        }

        foreach (var view in new[] { "stream", "event", "send", "scheduled", "queues" })
        {
            Assert.True(new FileInfo(Path.Combine(docs, $"{view}-light.png")).Length > 0);
            Assert.True(new FileInfo(Path.Combine(docs, $"{view}-dark.png")).Length > 0);
        }
    }

    private static async Task Save(IPage page, string folder, string view, string scheme)
    {
        // No hover, focus ring or scroll left over from the clicks; the viewport only, so each picture stays small.
        await page.Mouse.MoveAsync(0, 0);
        await page.EvaluateAsync("() => { document.activeElement?.blur(); window.scrollTo(0, 0); }");
        await page.ScreenshotAsync(new() { Path = Path.Combine(folder, $"{view}-{scheme}.png"), Animations = ScreenshotAnimations.Disabled, Caret = ScreenshotCaret.Hide });
    }

    private static async Task<string> OrderIdAsync(TestHost host)
    {
        var list = await TestHost.JsonAsync(await host.Client.GetAsync("v1/events?name=app/order.placed"));
        return list.GetProperty("data")[0].GetProperty("internal_id").GetString()!;
    }

    private static string RepositoryRoot()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root.FullName, "EventIngest.sln"))) root = root.Parent!;
        return root.FullName;
    }
}
