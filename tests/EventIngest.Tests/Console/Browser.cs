using EventIngest.Tests.Infrastructure;
using Microsoft.Playwright;

namespace EventIngest.Tests.Console;

/// <summary>
/// One headless Chromium for a test class, driven by Playwright. It is the system's Chromium
/// (Debian's <c>chromium</c>; <c>EVENTINGEST_CHROMIUM</c> names another), not a browser
/// Playwright downloads. Every page gets a fresh context (its own sessionStorage) at 1280×800.
/// </summary>
public sealed class Browser : IAsyncLifetime
{
    public const string ExecutableVariable = "EVENTINGEST_CHROMIUM";

    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public async Task InitializeAsync()
    {
        var executable = Environment.GetEnvironmentVariable(ExecutableVariable) is { Length: > 0 } configured ? configured : "/usr/bin/chromium";
        if (!File.Exists(executable))
        {
            throw new InvalidOperationException($"No Chromium at {executable}: install it (apt-get install -y chromium) or set {ExecutableVariable}.");
        }

        // Playwright's expectations wait for the page; a loaded machine needs the suite's generous deadline.
        Assertions.SetDefaultExpectTimeout((float)Waits.Generous.TotalMilliseconds);
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = executable,
            Headless = true,
            // As root Chromium needs --no-sandbox; the rest keep it from calling out to a network this machine does not have.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
        });
    }

    /// <summary>A new page on the host's console, in the given colour scheme.</summary>
    public async Task<IPage> OpenAsync(TestHost host, string path = "/", ColorScheme scheme = ColorScheme.Light)
    {
        var context = await _browser!.NewContextAsync(new()
        {
            BaseURL = host.BaseAddress.ToString(),
            ViewportSize = new() { Width = 1280, Height = 800 },
            ColorScheme = scheme,
            Locale = "en-GB",
            TimezoneId = "UTC",
        });
        context.SetDefaultTimeout((float)Waits.Generous.TotalMilliseconds);
        var page = await context.NewPageAsync();
        await page.GotoAsync(path);
        return page;
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null) await _browser.DisposeAsync();
        _playwright?.Dispose();
    }
}
