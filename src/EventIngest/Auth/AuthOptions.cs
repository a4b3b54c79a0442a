using System.ComponentModel.DataAnnotations;

namespace EventIngest.Auth;

/// <summary>Who may send and read events.</summary>
internal sealed class AuthOptions
{
    public const string Section = "EventIngest:Auth";

    /// <summary>When true and no event key is configured, the event route answers 503 (Inngest's
    /// behaviour). The local host sets it to false and accepts any key.</summary>
    public bool RequireEventKeys { get; set; } = true;

    /// <summary>When true and no signing key is configured, the REST API answers 503. The local
    /// host sets it to false: its REST API is then open, as Inngest's dev server is.</summary>
    public bool RequireSigningKeys { get; set; } = true;

    public List<EventKeyHash> EventKeys { get; set; } = [];
    public List<SigningKeyHash> SigningKeys { get; set; } = [];

    /// <summary>Environment of events sent with an unconfigured key, and read without a signing key, on the local host.</summary>
    public string DefaultEnvironment { get; set; } = "dev";

    /// <summary>No event key is configured and none is required: any key sends events.</summary>
    public bool AcceptsAnyEventKey => EventKeys.Count == 0 && !RequireEventKeys;

    /// <summary>No signing key is configured and none is required: anyone reads, replays and erases.</summary>
    public bool RestApiOpen => SigningKeys.Count == 0 && !RequireSigningKeys;

    /// <summary>Open: whoever reaches the service may use it. Only ever on the local host, on loopback.</summary>
    public bool IsOpen => AcceptsAnyEventKey || RestApiOpen;
}

/// <summary>A key configured by its SHA-256 hash (lower-case hex); the raw key never sits in configuration.</summary>
internal abstract class KeyHash
{
    [Required]
    public string Hash { get; set; } = "";

    [Required, RegularExpression("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", ErrorMessage = "Environment names are 1-64 letters, digits, '.', '_' or '-'.")]
    public string Environment { get; set; } = "production";
}

/// <summary>An event key: the events sent with it go to its <see cref="KeyHash.Environment"/>.</summary>
internal sealed class EventKeyHash : KeyHash
{
    /// <summary>When true, <c>x-inngest-env</c> may also name a branch environment: one that no
    /// other key names, and never <c>production</c>. Otherwise the header must be absent or equal
    /// to <see cref="KeyHash.Environment"/>.</summary>
    public bool BranchEnvironments { get; set; }

    /// <summary>When set, a branch environment's name must start with it (<c>pr-</c>).</summary>
    public string? BranchPrefix { get; set; }
}

/// <summary>A signing key: it uses the REST API on its <see cref="KeyHash.Environment"/> only.</summary>
internal sealed class SigningKeyHash : KeyHash
{
    /// <summary>What the key may do, comma-separated: <c>read</c> (look up and list events),
    /// <c>write</c> (replay, reschedule, cancel), <c>erase</c> (erase a person). Unset: <c>read</c>.</summary>
    public string? Scopes { get; set; }
}
