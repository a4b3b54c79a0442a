using System.Globalization;
using Azure;
using Azure.Core;
using Azure.Core.Pipeline;

namespace EventIngest.Encryption.KeyProviders;

/// <summary>
/// Bearer tokens for the vault scope, sent on the first request (no extra round trip). A 401
/// challenge naming another tenant (the vault lives in a tenant the credential does not default
/// to) is answered once with a token for that tenant, which is then used for later requests.
/// </summary>
internal sealed class KeyVaultChallengePolicy(TokenCredential credential, string scope) : BearerTokenAuthenticationPolicy(credential, scope)
{
    private readonly string[] _scopes = [scope];
    private volatile string? _tenantId;

    protected override ValueTask AuthorizeRequestAsync(HttpMessage message)
    {
        var tenantId = _tenantId;
        return tenantId is null
            ? base.AuthorizeRequestAsync(message)
            : AuthenticateAndAuthorizeRequestAsync(message, new TokenRequestContext(_scopes, message.Request.ClientRequestId, tenantId: tenantId, isCaeEnabled: true));
    }

    protected override void AuthorizeRequest(HttpMessage message)
    {
        var tenantId = _tenantId;
        if (tenantId is null)
        {
            base.AuthorizeRequest(message);
        }
        else
        {
            AuthenticateAndAuthorizeRequest(message, new TokenRequestContext(_scopes, message.Request.ClientRequestId, tenantId: tenantId, isCaeEnabled: true));
        }
    }

    protected override async ValueTask<bool> AuthorizeRequestOnChallengeAsync(HttpMessage message)
    {
        if (await base.AuthorizeRequestOnChallengeAsync(message))
        {
            return true;
        }

        if (!TryGetChallengeTenant(message, out var tenantId))
        {
            return false;
        }

        _tenantId = tenantId;
        await AuthenticateAndAuthorizeRequestAsync(message, new TokenRequestContext(_scopes, message.Request.ClientRequestId, tenantId: tenantId, isCaeEnabled: true));
        return true;
    }

    protected override bool AuthorizeRequestOnChallenge(HttpMessage message)
    {
        if (base.AuthorizeRequestOnChallenge(message))
        {
            return true;
        }

        if (!TryGetChallengeTenant(message, out var tenantId))
        {
            return false;
        }

        _tenantId = tenantId;
        AuthenticateAndAuthorizeRequest(message, new TokenRequestContext(_scopes, message.Request.ClientRequestId, tenantId: tenantId, isCaeEnabled: true));
        return true;
    }

    private bool TryGetChallengeTenant(HttpMessage message, out string tenantId)
    {
        tenantId = "";
        if (!message.Response.Headers.TryGetValue("WWW-Authenticate", out var header))
        {
            return false;
        }

        var parameters = ParseBearerChallenge(header);
        if (parameters is null)
        {
            return false;
        }

        // Only take a tenant from a challenge that speaks for this vault's audience; a token for
        // the vault scope must not be requested on the say-so of an unrelated resource.
        var resource = parameters.GetValueOrDefault("resource") ?? parameters.GetValueOrDefault("scope");
        if (resource is not null && !IsAudienceOf(resource, message.Request.Uri.Host ?? ""))
        {
            return false;
        }

        var authorization = parameters.GetValueOrDefault("authorization") ?? parameters.GetValueOrDefault("authorization_uri");
        if (authorization is null || !Uri.TryCreate(authorization, UriKind.Absolute, out var authority))
        {
            return false;
        }

        var tenant = authority.AbsolutePath.Trim('/').Split('/')[0];
        if (tenant.Length == 0 || string.Equals(tenant, _tenantId, StringComparison.OrdinalIgnoreCase))
        {
            // The same tenant again means the token itself was refused; asking again would not help.
            return false;
        }

        tenantId = tenant;
        return true;
    }

    private static bool IsAudienceOf(string resource, string vaultHost)
    {
        if (!Uri.TryCreate(resource, UriKind.Absolute, out var resourceUri))
        {
            return false;
        }

        var audienceHost = resourceUri.Host;
        return vaultHost.Equals(audienceHost, StringComparison.OrdinalIgnoreCase)
            || vaultHost.EndsWith("." + audienceHost, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Parameters of the Bearer challenge in a WWW-Authenticate header, or null when there is none.</summary>
    internal static Dictionary<string, string>? ParseBearerChallenge(string header)
    {
        var span = header.AsSpan().Trim();
        if (!span.StartsWith("Bearer", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        span = span["Bearer".Length..];
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        while (true)
        {
            span = span.TrimStart(" ,");
            var equals = span.IndexOf('=');
            if (equals <= 0)
            {
                return result;
            }

            var name = span[..equals].Trim().ToString();
            span = span[(equals + 1)..].TrimStart();
            string value;
            if (span.StartsWith("\""))
            {
                var end = span[1..].IndexOf('"');
                if (end < 0)
                {
                    return result;
                }

                value = span.Slice(1, end).ToString();
                span = span[(end + 2)..];
            }
            else
            {
                var end = span.IndexOf(',');
                value = (end < 0 ? span : span[..end]).Trim().ToString();
                span = end < 0 ? [] : span[end..];
            }

            result[name] = value;
        }
    }
}

/// <summary>Retries like Azure.Core's default (408, 429, 5xx, network errors; honouring Retry-After), except
/// that a Retry-After longer than the caller is willing to wait ends the operation at once.</summary>
internal sealed class KeyVaultRetryPolicy(int maxRetries, DelayStrategy delayStrategy, TimeSpan maxRetryAfter)
    : RetryPolicy(maxRetries, delayStrategy)
{
    protected override async ValueTask<bool> ShouldRetryAsync(HttpMessage message, Exception? exception) =>
        !AsksToWaitTooLong(message) && await base.ShouldRetryAsync(message, exception);

    protected override bool ShouldRetry(HttpMessage message, Exception? exception) =>
        !AsksToWaitTooLong(message) && base.ShouldRetry(message, exception);

    private bool AsksToWaitTooLong(HttpMessage message) =>
        message.HasResponse && GetRetryAfter(message.Response) is { } retryAfter && retryAfter > maxRetryAfter;

    /// <summary>The server's requested delay: <c>retry-after-ms</c>, <c>x-ms-retry-after-ms</c> or <c>Retry-After</c> (seconds or HTTP date).</summary>
    internal static TimeSpan? GetRetryAfter(Response response)
    {
        foreach (var msHeader in (ReadOnlySpan<string>)["retry-after-ms", "x-ms-retry-after-ms"])
        {
            if (response.Headers.TryGetValue(msHeader, out var ms) && double.TryParse(ms, NumberStyles.Float, CultureInfo.InvariantCulture, out var millis) && millis >= 0)
            {
                return TimeSpan.FromMilliseconds(millis);
            }
        }

        if (response.Headers.TryGetValue("Retry-After", out var value))
        {
            if (int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0)
            {
                return TimeSpan.FromSeconds(seconds);
            }

            if (DateTimeOffset.TryParseExact(value, "r", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date))
            {
                var wait = date - DateTimeOffset.UtcNow;
                return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
            }
        }

        return null;
    }
}

/// <summary>Counts every request that reaches the transport, retries and challenge answers included:
/// that is what Key Vault throttles on.</summary>
internal sealed class RequestCountingPolicy : HttpPipelineSynchronousPolicy
{
    private long _count;

    public long Count => Interlocked.Read(ref _count);

    public override void OnSendingRequest(HttpMessage message) => Interlocked.Increment(ref _count);
}
