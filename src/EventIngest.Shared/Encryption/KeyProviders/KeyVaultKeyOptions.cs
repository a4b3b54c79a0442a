using Azure.Core;

namespace EventIngest.Encryption.KeyProviders;

/// <summary>Pipeline options of <see cref="KeyVaultKey"/>. Replace <see cref="ClientOptions.Transport"/> to
/// talk to something other than the real vault (tests do).</summary>
public sealed class KeyVaultKeyOptions : ClientOptions
{
    public const string DefaultScope = "https://vault.azure.net/.default";

    public KeyVaultKeyOptions()
    {
        Retry.Mode = RetryMode.Exponential;
        Retry.MaxRetries = 3;
        Retry.Delay = TimeSpan.FromMilliseconds(500);
        Retry.MaxDelay = TimeSpan.FromSeconds(4);
        Retry.NetworkTimeout = TimeSpan.FromSeconds(10);
    }

    /// <summary>Key Vault REST API version.</summary>
    public string ApiVersion { get; set; } = "7.6";

    /// <summary>Token scope; <c>https://managedhsm.azure.net/.default</c> for a Managed HSM.</summary>
    public string Scope { get; set; } = DefaultScope;

    /// <summary>How long the latest version of an unversioned key (and its public key) is trusted
    /// before it is fetched again.</summary>
    public TimeSpan LatestVersionCacheDuration { get; set; } = TimeSpan.FromHours(1);

    /// <summary>A 429 or 503 that asks to wait longer than this is not waited out: the operation fails
    /// at once with <see cref="KeyManagementUnavailableException"/> carrying that <c>Retry-After</c>.</summary>
    public TimeSpan MaxRetryAfter { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Upper bound on one operation, retries and back-off included.</summary>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromSeconds(15);
}
