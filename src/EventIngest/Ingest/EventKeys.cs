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
/// Event keys (configured as SHA-256 hashes, see <see cref="ConfiguredKeys"/>) name the
/// environment of the events sent with them; <c>x-inngest-env</c> may pick another one only
/// when the key allows branch environments.
/// </summary>
public sealed class EventKeys
{
    public const string EnvironmentHeader = "x-inngest-env";
    private readonly ConfiguredKeys _keys;
    private readonly AuthOptions _options;

    public EventKeys(IOptions<AuthOptions> options)
    {
        _options = options.Value;
        _keys = new ConfiguredKeys(_options.EventKeys);
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
        if (!match.BranchEnvironments) return KeyCheck.EnvironmentNotAllowed;
        environment = environmentHeader;
        return KeyCheck.Ok;
    }
}
