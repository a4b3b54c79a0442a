namespace EventIngest.Client;

/// <summary>The options with the environment applied, checked once: what a client actually uses.</summary>
internal sealed record ClientSettings(Uri BaseUrl, Uri EventUrl, string? Environment, EventIngestClientOptions Options)
{
    public const string DevServerUrl = "http://localhost:8288/";
    public const string DevEventKey = "NO_EVENT_KEY_SET";

    public static ClientSettings Resolve(EventIngestClientOptions options) => Resolve(options, System.Environment.GetEnvironmentVariable);

    public static ClientSettings Resolve(EventIngestClientOptions options, Func<string, string?> environment)
    {
        var problems = Validate(options, environment, out var settings);
        return problems.Count == 0 ? settings! : throw new InvalidOperationException(string.Join(" ", problems));
    }

    /// <summary>Every problem with the options, each naming the setting to fix; empty when they are usable.</summary>
    public static List<string> Validate(EventIngestClientOptions options, Func<string, string?> environment, out ClientSettings? settings)
    {
        settings = null;
        var problems = new List<string>();
        string? Env(string name) => environment(name) is { Length: > 0 } value ? value.Trim() : null;

        var devSetting = Env("INNGEST_DEV");
        Uri? devUrl = null;
        var isDev = options.IsDev ?? devSetting switch
        {
            null => false,
            _ when IsTrue(devSetting) => true,
            _ when IsFalse(devSetting) => false,
            // Like the JS SDK, INNGEST_DEV may name the dev server instead of just switching it on.
            _ when Uri.TryCreate(devSetting, UriKind.Absolute, out devUrl) && IsHttp(devUrl) => true,
            _ => Problem(problems, "INNGEST_DEV must be 1, true, 0, false or the dev server's URL."),
        };

        var baseText = options.BaseUrl?.OriginalString ?? Env("INNGEST_EVENT_API_BASE_URL") ?? Env("INNGEST_BASE_URL")
            ?? (isDev ? devUrl?.OriginalString ?? DevServerUrl : null);
        Uri? baseUrl = null;
        if (baseText is null)
        {
            problems.Add("No event API URL: set EventIngestClientOptions.BaseUrl or INNGEST_EVENT_API_BASE_URL " +
                "(or INNGEST_BASE_URL), or INNGEST_DEV=1 for the local host.");
        }
        else if (!Uri.TryCreate(baseText, UriKind.Absolute, out baseUrl) || !IsHttp(baseUrl))
        {
            problems.Add("The event API URL (EventIngestClientOptions.BaseUrl, INNGEST_EVENT_API_BASE_URL or " +
                "INNGEST_BASE_URL) must be an absolute http or https URL.");
            baseUrl = null;
        }

        var key = options.EventKey is { Length: > 0 } given ? given : Env("INNGEST_EVENT_KEY") ?? (isDev ? DevEventKey : null);
        if (key is null) problems.Add("No event key: set EventIngestClientOptions.EventKey or INNGEST_EVENT_KEY.");

        var environmentName = options.Environment is { Length: > 0 } named ? named : Env("INNGEST_ENV");

        if (options.MaxAttempts is < 1 or > 100) problems.Add("EventIngestClientOptions.MaxAttempts must be between 1 and 100.");
        if (options.InitialRetryDelay < TimeSpan.Zero || options.MaxRetryDelay < options.InitialRetryDelay)
        {
            problems.Add("EventIngestClientOptions.InitialRetryDelay must not be negative nor above MaxRetryDelay.");
        }
        if (options.MaxRetryAfter < TimeSpan.Zero) problems.Add("EventIngestClientOptions.MaxRetryAfter must not be negative.");
        if (options.RequestTimeout <= TimeSpan.Zero && options.RequestTimeout != Timeout.InfiniteTimeSpan)
        {
            problems.Add("EventIngestClientOptions.RequestTimeout must be positive.");
        }
        if (options.MaxEventsPerRequest is < 1 or > EventIngestClientOptions.MaxBatchSize)
        {
            problems.Add($"EventIngestClientOptions.MaxEventsPerRequest must be between 1 and {EventIngestClientOptions.MaxBatchSize}.");
        }
        if (options.MaxRequestBytes < 1024) problems.Add("EventIngestClientOptions.MaxRequestBytes must be at least 1024.");
        if (options.SerializerOptions is null) problems.Add("EventIngestClientOptions.SerializerOptions must be set.");

        if (problems.Count == 0)
        {
            settings = new ClientSettings(baseUrl!, new Uri(baseUrl!, "e/" + Uri.EscapeDataString(key!)), environmentName, options);
        }
        return problems;
    }

    private static bool IsTrue(string value) => value == "1" || value.Equals("true", StringComparison.OrdinalIgnoreCase);

    private static bool IsFalse(string value) => value == "0" || value.Equals("false", StringComparison.OrdinalIgnoreCase);

    private static bool IsHttp(Uri uri) => uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps;

    private static bool Problem(List<string> problems, string problem)
    {
        problems.Add(problem);
        return false;
    }
}
