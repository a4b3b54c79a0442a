namespace EventIngest.Client.Tests.Client;

public sealed class ClientSettingsTests
{
    private static ClientSettings Resolve(EventIngestClientOptions options, params (string Name, string Value)[] environment) =>
        ClientSettings.Resolve(options, name => environment.FirstOrDefault(e => e.Name == name).Value);

    [Theory]
    [InlineData("https://events.example.com", "https://events.example.com/e/key-1")]
    [InlineData("https://events.example.com/", "https://events.example.com/e/key-1")]
    [InlineData("https://events.example.com/ingest/", "https://events.example.com/ingest/e/key-1")]
    [InlineData("https://events.example.com/ingest", "https://events.example.com/e/key-1")]
    public void EventUrlIsResolvedAgainstTheBaseLikeTheJsSdk(string baseUrl, string expected)
    {
        var settings = Resolve(new EventIngestClientOptions { BaseUrl = new Uri(baseUrl), EventKey = "key-1" });

        Assert.Equal(expected, settings.EventUrl.AbsoluteUri);
    }

    [Fact]
    public void OptionsWinOverTheEventApiVariableWhichWinsOverTheBaseVariable()
    {
        (string, string)[] environment = [("INNGEST_EVENT_API_BASE_URL", "https://event-api/"), ("INNGEST_BASE_URL", "https://base/"), ("INNGEST_EVENT_KEY", "env-key")];

        Assert.Equal("https://event-api/e/env-key", Resolve(new EventIngestClientOptions(), environment).EventUrl.AbsoluteUri);
        Assert.Equal("https://base/e/env-key", Resolve(new EventIngestClientOptions(), environment[1..]).EventUrl.AbsoluteUri);
        Assert.Equal("https://option/e/option-key",
            Resolve(new EventIngestClientOptions { BaseUrl = new Uri("https://option/"), EventKey = "option-key" }, environment).EventUrl.AbsoluteUri);
    }

    [Theory]
    [InlineData("1")]
    [InlineData("true")]
    public void DevModeSendsToTheLocalHostWithThePlaceholderKey(string dev)
    {
        var settings = Resolve(new EventIngestClientOptions(), ("INNGEST_DEV", dev));

        Assert.Equal("http://localhost:8288/e/NO_EVENT_KEY_SET", settings.EventUrl.AbsoluteUri);
    }

    [Fact]
    public void DevModeTakesTheDevServerUrlFromInngestDevAndKeepsAGivenKey()
    {
        var settings = Resolve(new EventIngestClientOptions(), ("INNGEST_DEV", "http://127.0.0.1:8297"), ("INNGEST_EVENT_KEY", "k"));

        Assert.Equal("http://127.0.0.1:8297/e/k", settings.EventUrl.AbsoluteUri);
    }

    [Fact]
    public void TheEnvironmentHeaderComesFromOptionsOrInngestEnv()
    {
        var options = new EventIngestClientOptions { IsDev = true };

        Assert.Equal("branch-1", Resolve(options, ("INNGEST_ENV", "branch-1")).Environment);
        Assert.Null(Resolve(options).Environment);
        Assert.Equal("mine", Resolve(new EventIngestClientOptions { IsDev = true, Environment = "mine" }, ("INNGEST_ENV", "branch-1")).Environment);
    }

    [Fact]
    public void WithoutUrlOrKeyTheErrorNamesTheSettings()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Resolve(new EventIngestClientOptions()));

        Assert.Contains("INNGEST_EVENT_API_BASE_URL", error.Message, StringComparison.Ordinal);
        Assert.Contains("INNGEST_EVENT_KEY", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheKeyIsEscapedIntoOnePathSegment()
    {
        var settings = Resolve(new EventIngestClientOptions { BaseUrl = new Uri("https://h/"), EventKey = "a/b c" });

        Assert.Equal("/e/a%2Fb%20c", settings.EventUrl.AbsolutePath);
    }

    [Fact]
    public void OutOfRangeOptionsAreRefusedByName()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Resolve(new EventIngestClientOptions { IsDev = true, MaxEventsPerRequest = 5001, MaxAttempts = 0 }));

        Assert.Contains("MaxEventsPerRequest", error.Message, StringComparison.Ordinal);
        Assert.Contains("MaxAttempts", error.Message, StringComparison.Ordinal);
    }
}
