using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
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
/// Signing keys authorize the REST API. Like event keys they are configured as SHA-256 hashes and
/// every hash is compared in constant time. A key reads only its own environment; with no keys
/// configured and <see cref="AuthOptions.RequireSigningKeys"/> off (the local host), anyone may
/// read the environment named by <c>x-inngest-env</c>, else the default one.
/// </summary>
public sealed partial class SigningKeys
{
    public const string EnvironmentHeader = "x-inngest-env";
    private readonly (byte[] Hash, string Environment)[] _keys;
    private readonly AuthOptions _options;

    public SigningKeys(IOptions<AuthOptions> options)
    {
        _options = options.Value;
        _keys = _options.SigningKeys.Select(k => (Convert.FromHexString(k.Hash), k.Environment)).ToArray();
    }

    public SigningKeyCheck Check(string? authorization, string? environmentHeader, out string environment)
    {
        environment = "";
        if (!string.IsNullOrEmpty(environmentHeader) && !EnvironmentName().IsMatch(environmentHeader)) return SigningKeyCheck.InvalidEnvironment;

        if (_keys.Length == 0)
        {
            if (_options.RequireSigningKeys) return SigningKeyCheck.NoneConfigured;
            environment = string.IsNullOrEmpty(environmentHeader) ? _options.DefaultEnvironment : environmentHeader;
            return SigningKeyCheck.Ok;
        }

        if (BearerToken(authorization) is not { } key) return SigningKeyCheck.Missing;
        if (Match(key) is not { } own) return SigningKeyCheck.Unknown;
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

    private string? Match(string key)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(key), hash);
        string? found = null;
        foreach (var (expected, environment) in _keys)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, expected)) found ??= environment;
        }
        return found;
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex EnvironmentName();
}
