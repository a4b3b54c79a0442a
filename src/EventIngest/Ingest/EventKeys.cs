using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace EventIngest.Ingest;

public enum KeyCheck
{
    Ok,
    /// <summary>The key matches no configured hash.</summary>
    Unknown,
    /// <summary>Keys are required but none is configured.</summary>
    NoneConfigured,
    /// <summary>The <c>x-inngest-env</c> header names an environment this key may not send to.</summary>
    EnvironmentNotAllowed,
    InvalidEnvironment,
}

/// <summary>
/// Event keys are configured as SHA-256 hashes: the raw key never sits in configuration. Every
/// configured hash is compared in constant time, so timing reveals nothing about which matched.
/// </summary>
public sealed partial class EventKeys
{
    public const string EnvironmentHeader = "x-inngest-env";
    private readonly (byte[] Hash, KeyHash Key)[] _keys;
    private readonly AuthOptions _options;

    public EventKeys(IOptions<AuthOptions> options)
    {
        _options = options.Value;
        _keys = _options.EventKeys.Select(k => (Convert.FromHexString(k.Hash), k)).ToArray();
    }

    public KeyCheck Check(string eventKey, string? environmentHeader, out string environment)
    {
        environment = "";
        if (!string.IsNullOrEmpty(environmentHeader) && !EnvironmentName().IsMatch(environmentHeader)) return KeyCheck.InvalidEnvironment;

        if (_keys.Length == 0)
        {
            if (_options.RequireEventKeys) return KeyCheck.NoneConfigured;
            environment = string.IsNullOrEmpty(environmentHeader) ? _options.DefaultEnvironment : environmentHeader;
            return KeyCheck.Ok;
        }

        var match = Match(eventKey);
        if (match is null) return KeyCheck.Unknown;
        if (string.IsNullOrEmpty(environmentHeader) || environmentHeader == match.Environment)
        {
            environment = match.Environment;
            return KeyCheck.Ok;
        }
        if (!match.BranchEnvironments) return KeyCheck.EnvironmentNotAllowed;
        environment = environmentHeader;
        return KeyCheck.Ok;
    }

    private KeyHash? Match(string eventKey)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(eventKey), hash);
        KeyHash? found = null;
        foreach (var (expected, key) in _keys)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, expected)) found ??= key;
        }
        return found;
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex EnvironmentName();
}
