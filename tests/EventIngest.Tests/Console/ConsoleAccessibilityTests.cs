using Deque.AxeCore.Commons;
using Deque.AxeCore.Playwright;
using EventIngest.Tests.Infrastructure;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace EventIngest.Tests.Console;

/// <summary>
/// Every view, in both themes, checked by axe-core (embedded in its NuGet package) against the
/// WCAG 2 A and AA rules: labels, names, roles, and text contrast.
/// </summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class ConsoleAccessibilityTests(AzuriteFixture azurite, Browser browser) : IClassFixture<Browser>
{
    [Theory]
    [InlineData("light")]
    [InlineData("dark")]
    public async Task EveryViewPassesTheWcagAaChecks(string theme)
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var due = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds();
        await ConsoleTests.SendAsync(host, $$"""{"name":"app/later","ts":{{due}}}""");
        var id = await ConsoleTests.SendAsync(host, """{"name":"app/user.created","id":"k-1","data":{"plan":"pro","n":1,"ok":true},"user":{"external_id":"u-a11y"}}""");
        using (await host.Client.PostAsync($"v1/events/{id}/replay", null)) { }
        var page = await browser.OpenAsync(host, "/", theme == "dark" ? ColorScheme.Dark : ColorScheme.Light);
        var violations = new List<string>();

        await Expect(page.Locator($"#events tr[data-id='{id}']")).ToBeVisibleAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Keys" }).ClickAsync();
        violations.AddRange(await CheckAsync(page, "stream"));

        await page.GotoAsync($"/#/event/{id}");
        await Expect(page.Locator("#deliveries tr.replay")).ToHaveCountAsync(1);
        violations.AddRange(await CheckAsync(page, "event"));

        await page.GotoAsync("/#/send");
        await page.GetByLabel("One event, or an array of events (JSON)").FillAsync("""{"name":""}""");
        await page.GetByRole(AriaRole.Button, new() { Name = "Send", Exact = true }).ClickAsync();
        await Expect(page.Locator("#send-errors li")).ToHaveCountAsync(1);
        violations.AddRange(await CheckAsync(page, "send"));

        await page.GotoAsync("/#/scheduled");
        await Expect(page.Locator("#scheduled tbody tr")).ToHaveCountAsync(1);
        violations.AddRange(await CheckAsync(page, "scheduled"));

        await page.GotoAsync("/#/queues");
        await page.GetByRole(AriaRole.Button, new() { Name = $"Peek at {host.DefaultQueue}" }).ClickAsync();
        await Expect(page.Locator("#peek article")).Not.ToHaveCountAsync(0);
        violations.AddRange(await CheckAsync(page, "queues"));

        await page.GotoAsync("/#/scheduled");
        await page.GetByRole(AriaRole.Button, new() { Name = "Cancel" }).ClickAsync();
        await Expect(page.Locator("#confirm")).ToBeVisibleAsync();
        violations.AddRange(await CheckAsync(page, "confirmation"));

        Assert.True(violations.Count == 0, string.Join(Environment.NewLine, violations));
    }

    private static async Task<IEnumerable<string>> CheckAsync(IPage page, string view)
    {
        var results = await page.RunAxe(new AxeRunOptions
        {
            RunOnly = new RunOnlyOptions { Type = "tag", Values = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
        });
        Assert.NotEmpty(results.Passes); // axe ran its rules on this page
        return results.Violations.SelectMany(v => v.Nodes.Select(n => $"{view}: {v.Id} ({v.Help}) at {n.Html}"));
    }
}
