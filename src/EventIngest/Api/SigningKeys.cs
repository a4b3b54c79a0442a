using Microsoft.Extensions.Options;

namespace EventIngest.Api;

public enum SigningKeyCheck
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

/// <summary>
/// Signing keys authorize the REST API. Like event keys they are configured as SHA-256 hashes
/// (<see cref="ConfiguredKeys{TKey}"/>). A key reads only its own environment; with no keys
/// configured and <see cref="AuthOptions.RequireSigningKeys"/> off (the local host), anyone may
/// read the environment named by <c>x-inngest-env</c>, else the default one.
/// </summary>
public sealed class SigningKeys
{
    public const string EnvironmentHeader = "x-inngest-env";
    private readonly ConfiguredKeys<SigningKeyHash> _keys;
    private readonly AuthOptions _options;

    public SigningKeys(IOptions<AuthOptions> options)
    {
        _options = options.Value;
        _keys = new ConfiguredKeys<SigningKeyHash>(_options.SigningKeys);
    }

    public SigningKeyCheck Check(string? authorization, string? environmentHeader, out string environment)
    {
        environment = "";
        if (!string.IsNullOrEmpty(environmentHeader) && !ConfiguredKeys.IsEnvironmentName(environmentHeader)) return SigningKeyCheck.InvalidEnvironment;

        if (_keys.IsEmpty)
        {
            if (_options.RequireSigningKeys) return SigningKeyCheck.NoneConfigured;
            environment = string.IsNullOrEmpty(environmentHeader) ? _options.DefaultEnvironment : environmentHeader;
            return SigningKeyCheck.Ok;
        }

        if (BearerToken(authorization) is not { } key) return SigningKeyCheck.Missing;
        if (_keys.Match(key)?.Environment is not { } own) return SigningKeyCheck.Unknown;
        if (!string.IsNullOrEmpty(environmentHeader) && environmentHeader != own) return SigningKeyCheck.OtherEnvironment;
        environment = own;
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
