using Microsoft.Extensions.Options;
using EventIngest.Auth;

namespace EventIngest.Api;

internal enum SigningKeyCheck
{
    Ok,
    /// <summary>No <c>Authorization: Bearer</c> header.</summary>
    Missing,
    /// <summary>The bearer key matches no configured hash.</summary>
    Unknown,
    /// <summary>Signing keys are required but none is configured.</summary>
    NoneConfigured,
    InvalidEnvironment,
    /// <summary><c>x-inngest-env</c> names an environment other than the key's own.</summary>
    OtherEnvironment,
}

/// <summary>What a signing key may do on the REST API.</summary>
[Flags]
internal enum ApiScopes
{
    None = 0,
    /// <summary>Look up and list events and scheduled events.</summary>
    Read = 1,
    /// <summary>Replay, reschedule and cancel events.</summary>
    Write = 2,
    /// <summary>Erase a person's <c>user</c> data, irreversibly.</summary>
    Erase = 4,
    All = Read | Write | Erase,
}

/// <summary>
/// Signing keys authorize the REST API. Like event keys they are configured as SHA-256 hashes
/// (<see cref="ConfiguredKeys{TKey}"/>). A key uses only its own environment, and only as its
/// scopes allow (read, unless configured otherwise); with no keys configured and
/// <see cref="AuthOptions.RequireSigningKeys"/> off (the local host), anyone may do anything in
/// the environment named by <c>x-inngest-env</c>, else the default one.
/// </summary>
internal sealed class SigningKeys
{
    public const string EnvironmentHeader = "x-inngest-env";
    private readonly ConfiguredKeys<SigningKeyHash> _keys;
    private readonly AuthOptions _options;

    public SigningKeys(IOptions<AuthOptions> options)
    {
        _options = options.Value;
        _keys = new ConfiguredKeys<SigningKeyHash>(_options.SigningKeys);
    }

    public SigningKeyCheck Check(string? authorization, string? environmentHeader, out string environment) =>
        Check(authorization, environmentHeader, out environment, out _);

    public SigningKeyCheck Check(string? authorization, string? environmentHeader, out string environment, out ApiScopes scopes)
    {
        environment = "";
        scopes = ApiScopes.None;
        if (!string.IsNullOrEmpty(environmentHeader) && !ConfiguredKeys.IsEnvironmentName(environmentHeader)) return SigningKeyCheck.InvalidEnvironment;

        if (_keys.IsEmpty)
        {
            if (_options.RequireSigningKeys) return SigningKeyCheck.NoneConfigured;
            environment = string.IsNullOrEmpty(environmentHeader) ? _options.DefaultEnvironment : environmentHeader;
            scopes = ApiScopes.All;
            return SigningKeyCheck.Ok;
        }

        if (BearerToken(authorization) is not { } key) return SigningKeyCheck.Missing;
        if (_keys.Match(key) is not { } match) return SigningKeyCheck.Unknown;
        if (!string.IsNullOrEmpty(environmentHeader) && environmentHeader != match.Environment) return SigningKeyCheck.OtherEnvironment;
        environment = match.Environment;
        // Validated at start; a key whose scopes did not parse may do nothing.
        if (!ApiScopesParser.TryParse(match.Scopes, out scopes)) scopes = ApiScopes.None;
        return SigningKeyCheck.Ok;
    }

    private static string? BearerToken(string? authorization)
    {
        const string scheme = "Bearer ";
        if (authorization is null || !authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return null;
        var token = authorization.AsSpan(scheme.Length).Trim();
        return token.IsEmpty ? null : token.ToString();
    }
}

internal static class ApiScopesParser
{
    /// <summary>Reads <c>read, write, erase</c> (comma-separated, any case); null or blank is <c>read</c>.</summary>
    public static bool TryParse(string? text, out ApiScopes scopes)
    {
        scopes = ApiScopes.Read;
        if (string.IsNullOrWhiteSpace(text)) return true;
        scopes = ApiScopes.None;
        foreach (var part in text.Split(','))
        {
            var scope = part.Trim().ToLowerInvariant() switch
            {
                "read" => ApiScopes.Read,
                "write" => ApiScopes.Write,
                "erase" => ApiScopes.Erase,
                _ => ApiScopes.None,
            };
            if (scope == ApiScopes.None) return false;
            scopes |= scope;
        }
        return true;
    }

    public static string Name(ApiScopes scope) => scope.ToString().ToLowerInvariant();
}
