using System.Net;
using EventIngest.Api;
using EventIngest.Ingest;
using EventIngest.Auth;

namespace EventIngest.DevServer;

/// <summary>
/// Without keys the local host is open: anyone who reaches it may send events, read decrypted
/// <c>user</c> data, replay and erase. Open, it listens on loopback only, and serves only requests
/// that come from loopback and name it <c>localhost</c>, <c>127.0.0.1</c> or <c>[::1]</c>: a web
/// page whose own name was rebound to 127.0.0.1 still sends that name in <c>Host</c>.
/// </summary>
internal static class OpenMode
{
    private static readonly string[] LoopbackNames = ["localhost", "127.0.0.1", "[::1]"];

    /// <summary>Throws <see cref="OpenModeException"/> when the host is open and configured to listen
    /// on an address that is not loopback (checked before anything starts).</summary>
    public static void EnsureLoopbackOnly(IConfiguration configuration)
    {
        var auth = configuration.GetSection(AuthOptions.Section).Get<AuthOptions>() ?? new AuthOptions();
        if (!auth.IsOpen) return;

        var exposed = ListenAddresses(configuration).Where(a => !IsLoopback(a)).ToList();
        if (exposed.Count == 0) return;

        throw new OpenModeException(
            $"The local host runs without keys ({Open(auth)}): anyone who reaches it could send events, read decrypted user data, replay and erase. " +
            $"So it listens on loopback only, and {string.Join(", ", exposed)} is not loopback. " +
            $"To listen there, configure {Settings(auth)} (the SHA-256 of each key in hex: printf %s \"$KEY\" | sha256sum), each with its :Environment; " +
            $"or listen on {LocalHost.DefaultUrl}.");
    }

    /// <summary>Middleware of an open host: a request from elsewhere, or naming another host, is answered 403.</summary>
    public static Task LoopbackOnly(HttpContext context, RequestDelegate next)
    {
        var remote = context.Connection.RemoteIpAddress;
        var fromLoopback = remote is null || IPAddress.IsLoopback(remote.IsIPv4MappedToIPv6 ? remote.MapToIPv4() : remote);
        var host = context.Request.Host;
        var namedLoopback = host.HasValue && LoopbackNames.Contains(host.Host, StringComparer.OrdinalIgnoreCase);
        var crossSite = IsCrossSite(context.Request.Headers);
        if (fromLoopback && namedLoopback && !crossSite) return next(context);

        var message = crossSite
            ? "The local host runs without keys and answers no request a browser sends for a page of another site (its Origin is not localhost, 127.0.0.1 or [::1])"
            : fromLoopback
            ? "The local host runs without keys and answers only requests whose Host is localhost, 127.0.0.1 or [::1]"
            : "The local host runs without keys and answers only requests from this machine (and whose Host is localhost, 127.0.0.1 or [::1])";
        IResult refusal = context.Request.Path.StartsWithSegments("/e")
            ? IngestResponse.Error(StatusCodes.Status403Forbidden, message)
            : ApiResults.Problem(StatusCodes.Status403Forbidden, message);
        return refusal.ExecuteAsync(context);
    }

    /// <summary>A request a browser made for a page of another site: a form post or a text/plain fetch reaches
    /// the local host with a loopback Host, so only its <c>Origin</c> (not a loopback one, or <c>null</c>) or
    /// <c>Sec-Fetch-Site: cross-site</c> tells it apart. Tools and SDKs send neither; the console's own requests
    /// carry its own origin.</summary>
    private static bool IsCrossSite(IHeaderDictionary headers)
    {
        if (string.Equals(headers["Sec-Fetch-Site"], "cross-site", StringComparison.OrdinalIgnoreCase)) return true;
        if (headers.Origin is not [{ } origin]) return headers.Origin.Count > 1;
        return !Uri.TryCreate(origin, UriKind.Absolute, out var uri) || !LoopbackNames.Contains(uri.Host, StringComparer.OrdinalIgnoreCase);
    }

    private static string Open(AuthOptions auth) => (auth.AcceptsAnyEventKey, auth.RestApiOpen) switch
    {
        (true, true) => "any event key is accepted and the REST API is open",
        (true, false) => "any event key is accepted",
        _ => "the REST API is open",
    };

    private static string Settings(AuthOptions auth) => (auth.AcceptsAnyEventKey, auth.RestApiOpen) switch
    {
        (true, true) => "EventIngest:Auth:EventKeys:0:Hash and EventIngest:Auth:SigningKeys:0:Hash",
        (true, false) => "EventIngest:Auth:EventKeys:0:Hash",
        _ => "EventIngest:Auth:SigningKeys:0:Hash",
    };

    /// <summary>Every address the configuration asks Kestrel to listen on: <c>urls</c> (also
    /// <c>--urls</c> and <c>ASPNETCORE_URLS</c>; the local host sets its loopback default there, which
    /// overrides <c>ASPNETCORE_HTTP_PORTS</c>) and <c>Kestrel:Endpoints:*:Url</c>.</summary>
    private static IEnumerable<string> ListenAddresses(IConfiguration configuration)
    {
        foreach (var url in (configuration["urls"] ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)) yield return url;
        foreach (var endpoint in configuration.GetSection("Kestrel:Endpoints").GetChildren())
        {
            if (endpoint["Url"] is { Length: > 0 } url) yield return url;
        }
    }

    /// <summary>Kestrel binds <c>localhost</c> to both loopback addresses, a Unix socket is local, and
    /// any other name (or <c>*</c>, <c>+</c>) to every interface.</summary>
    private static bool IsLoopback(string url)
    {
        var address = BindingAddress.Parse(url);
        if (address.IsUnixPipe || string.Equals(address.Host, "localhost", StringComparison.OrdinalIgnoreCase)) return true;
        return IPAddress.TryParse(address.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip);
    }
}

/// <summary>The local host was asked to listen beyond loopback without keys.</summary>
public sealed class OpenModeException(string message) : Exception(message);
