using System.ComponentModel.DataAnnotations;

namespace EventIngest.Encryption;

/// <summary>Which key-encryption key protects <c>user</c> data, and how long derived keys stay in memory.</summary>
public sealed class EncryptionOptions : IValidatableObject
{
    public const string Section = "EventIngest:Encryption";
    public const string KeyVaultProvider = "KeyVault";
    public const string LocalProvider = "Local";

    /// <summary><c>KeyVault</c> (production) or <c>Local</c> (a key file; development only).</summary>
    [Required(ErrorMessage = "EventIngest:Encryption:KeyProvider is required (KeyVault or Local).")]
    public string KeyProvider { get; set; } = KeyVaultProvider;

    /// <summary>Key Vault key identifier, <c>https://{vault}.vault.azure.net/keys/{name}</c>; without a
    /// version the latest version wraps new keys.</summary>
    public Uri? KeyVaultKeyId { get; set; }

    /// <summary>Path of the local key file (created on first run).</summary>
    public string? LocalKeyPath { get; set; }

    /// <summary>The Functions app refuses the local key unless this is true.</summary>
    public bool AllowLocalKey { get; set; }

    /// <summary>How long an instance keeps an environment key it unwrapped with the key-encryption key.
    /// Each instance makes about one Key Vault operation per environment per this interval.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "1.00:00:00", ErrorMessage = "EventIngest:Encryption:EnvironmentKeyCacheDuration must be between 1 minute and 1 day.")]
    public TimeSpan EnvironmentKeyCacheDuration { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long an instance keeps a person's key. This bounds how long an erasure takes to
    /// reach every instance.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00", ErrorMessage = "EventIngest:Encryption:PersonKeyCacheDuration must be between 1 second and 1 hour.")]
    public TimeSpan PersonKeyCacheDuration { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>At most this many person keys are kept in memory per instance.</summary>
    [Range(100, 10_000_000, ErrorMessage = "EventIngest:Encryption:PersonKeyCacheSize must be between 100 and 10000000.")]
    public int PersonKeyCacheSize { get; set; } = 100_000;

    /// <summary>Upper bound on one Key Vault operation, retries included, before it counts as unavailable.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:05:00", ErrorMessage = "EventIngest:Encryption:KeyVaultTimeout must be between 1 second and 5 minutes.")]
    public TimeSpan KeyVaultTimeout { get; set; } = TimeSpan.FromSeconds(15);

    internal bool UsesLocalKey => string.Equals(KeyProvider, LocalProvider, StringComparison.OrdinalIgnoreCase);

    internal bool UsesKeyVault => string.Equals(KeyProvider, KeyVaultProvider, StringComparison.OrdinalIgnoreCase);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (UsesKeyVault)
        {
            if (KeyVaultKeyId is null)
            {
                yield return new ValidationResult(
                    "EventIngest:Encryption:KeyVaultKeyId is required when KeyProvider is KeyVault (https://{vault}.vault.azure.net/keys/{name}).",
                    [nameof(KeyVaultKeyId)]);
            }
            else if (!KeyProviders.KeyVaultKeyIdentifier.TryParse(KeyVaultKeyId, out _))
            {
                yield return new ValidationResult(
                    "EventIngest:Encryption:KeyVaultKeyId must look like https://{vault}.vault.azure.net/keys/{name} (optionally /{version}).",
                    [nameof(KeyVaultKeyId)]);
            }
        }
        else if (UsesLocalKey)
        {
            if (string.IsNullOrWhiteSpace(LocalKeyPath))
            {
                yield return new ValidationResult(
                    "EventIngest:Encryption:LocalKeyPath is required when KeyProvider is Local.",
                    [nameof(LocalKeyPath)]);
            }
        }
        else
        {
            yield return new ValidationResult(
                "EventIngest:Encryption:KeyProvider must be KeyVault or Local.",
                [nameof(KeyProvider)]);
        }
    }
}
