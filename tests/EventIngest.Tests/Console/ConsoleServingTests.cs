using System.Net;
using EventIngest.DevServer.Console;
using EventIngest.Tests.Infrastructure;

namespace EventIngest.Tests.Console;

/// <summary>How the local host serves the console: from the assembly, under its own security rules.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class ConsoleServingTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task ThePageAndItsFilesAreServedFromTheAssemblyWithAStrictContentSecurityPolicy()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());

        Assert.Equal(["console.css", "console.js", "index.html"], ConsoleAssets.Files.Order(StringComparer.Ordinal));
        using var page = await host.Client.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("default-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.Contains("frame-ancestors 'none'", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.Equal("nosniff", page.Headers.GetValues("X-Content-Type-Options").Single());
        var html = await page.Content.ReadAsStringAsync();
        Assert.DoesNotContain("http://", html.Replace("http://127.0.0.1", "", StringComparison.Ordinal), StringComparison.Ordinal); // nothing from elsewhere
        Assert.DoesNotContain("https://", html, StringComparison.Ordinal);

        using var script = await host.Client.GetAsync("/console/console.js");
        Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
        using var missing = await host.Client.GetAsync("/console/nothing.js");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task AnUnchangedFileIsAnsweredNotModified()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        using var first = await host.Client.GetAsync("/console/console.css");
        var request = new HttpRequestMessage(HttpMethod.Get, "/console/console.css");
        request.Headers.IfNoneMatch.Add(first.Headers.ETag!);

        using var second = await host.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotModified, second.StatusCode);
    }

    [Theory]
    [InlineData("/")]
    [InlineData("/console/console.js")]
    [InlineData("/v1/queues")]
    public async Task WithoutKeysTheConsoleAnswersOnlyRequestsNamingLoopback(string path)
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Host = "rebound.example:" + host.BaseAddress.Port;

        using var response = await host.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }
}
