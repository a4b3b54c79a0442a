using Microsoft.Extensions.Options;
using EventIngest.Auth;

namespace EventIngest.Ingest;

internal enum KeyCheck
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
/// Event keys (configured as SHA-256 hashes, see <see cref="ConfiguredKeys{TKey}"/>) name the
/// environment of the events sent with them; <c>x-inngest-env</c> may pick another one only
/// when the key allows branch environments, and then only one that no other key names (event or
/// signing key, in any letter case) and never production, so a branch key cannot write where
/// another key's consumers read.
/// </summary>
internal sealed class EventKeys
{
    public const string EnvironmentHeader = "x-inngest-env";
    public const string Production = "production";
    private readonly ConfiguredKeys<EventKeyHash> _keys;
    private readonly AuthOptions _options;
    private readonly HashSet<string> _named;

    public EventKeys(IOptions<AuthOptions> options)
    {
        _options = options.Value;
        _keys = new ConfiguredKeys<EventKeyHash>(_options.EventKeys);
        _named = _options.EventKeys.Select(k => k.Environment).Concat(_options.SigningKeys.Select(k => k.Environment))
            .Append(Production).ToHashSet(StringComparer.OrdinalIgnoreCase);
    }

    public KeyCheck Check(string eventKey, string? environmentHeader, out string environment)
    {
        environment = "";
        if (!string.IsNullOrEmpty(environmentHeader) && !ConfiguredKeys.IsEnvironmentName(environmentHeader)) return KeyCheck.InvalidEnvironment;

        if (_keys.IsEmpty)
        {
            if (_options.RequireEventKeys) return KeyCheck.NoneConfigured;
            environment = string.IsNullOrEmpty(environmentHeader) ? _options.DefaultEnvironment : environmentHeader;
            return KeyCheck.Ok;
        }

        var match = _keys.Match(eventKey);
        if (match is null) return KeyCheck.Unknown;
        if (string.IsNullOrEmpty(environmentHeader) || environmentHeader == match.Environment)
        {
            environment = match.Environment;
            return KeyCheck.Ok;
        }
        if (!match.BranchEnvironments || _named.Contains(environmentHeader)
            || (!string.IsNullOrEmpty(match.BranchPrefix) && !environmentHeader.StartsWith(match.BranchPrefix, StringComparison.Ordinal)))
        {
            return KeyCheck.EnvironmentNotAllowed;
        }
        environment = environmentHeader;
        return KeyCheck.Ok;
    }
}
