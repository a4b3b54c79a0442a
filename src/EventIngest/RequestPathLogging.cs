using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EventIngest;

/// <summary>
/// Request paths hold secrets: event keys (<c>/e/{key}</c>) and external_ids
/// (<c>/v1/users/{externalId}</c>). ASP.NET Core prints them in its request log (Information), in
/// routing's Debug entries, and in the request scope that every entry logged during a request
/// carries. So, whatever the configuration says — and whether or not <c>appsettings.json</c> was
/// found — ASP.NET Core logs from Warning up, and its request log not at all, which also keeps
/// the request scope from being created.
/// </summary>
internal static class RequestPathLogging
{
    private const string AspNetCore = "Microsoft.AspNetCore";
    private const string RequestLog = "Microsoft.AspNetCore.Hosting.Diagnostics";

    public static ILoggingBuilder KeepRequestPathsOutOfLogs(this ILoggingBuilder logging)
    {
        // After every configured rule, replacing the ASP.NET Core ones: a more specific category,
        // or a rule for one provider, would otherwise win over a rule added here.
        logging.Services.PostConfigure<LoggerFilterOptions>(options =>
        {
            var providers = options.Rules.Select(r => r.ProviderName).Append(null).Distinct().ToList();
            var kept = options.Rules.Where(r => r.CategoryName is not { } c || !c.StartsWith(AspNetCore, StringComparison.OrdinalIgnoreCase)).ToList();
            options.Rules.Clear();
            foreach (var rule in kept) options.Rules.Add(rule);
            foreach (var provider in providers)
            {
                options.Rules.Add(new LoggerFilterRule(provider, AspNetCore, LogLevel.Warning, null));
                options.Rules.Add(new LoggerFilterRule(provider, RequestLog, LogLevel.None, null));
            }
        });
        return logging;
    }
}
