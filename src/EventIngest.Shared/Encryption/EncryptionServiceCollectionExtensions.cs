using Azure.Core;
using Azure.Core.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using EventIngest.Storage;
using EventIngest.Encryption.KeyProviders;

namespace EventIngest.Encryption;

public static class EncryptionServiceCollectionExtensions
{
    internal const string LocalKeyRefusedMessage =
        "EventIngest:Encryption:KeyProvider is Local, which this host refuses: set EventIngest:Encryption:KeyProvider to KeyVault " +
        "(with EventIngest:Encryption:KeyVaultKeyId), or set EventIngest:Encryption:AllowLocalKey to true for development only.";

    /// <summary>
    /// Binds and validates <see cref="EncryptionOptions"/> (at start), registers the key-encryption key
    /// chosen by <see cref="EncryptionOptions.KeyProvider"/> as <see cref="IKeyEncryptionKey"/> and
    /// <see cref="IKeyEncryptionKeyResolver"/>, and <see cref="UserDataProtector"/>. Expects a
    /// <c>TableServiceClient</c> and <see cref="StorageOptions"/> to be registered by the caller; uses a
    /// registered <see cref="TokenCredential"/> if there is one, else the user-assigned managed identity
    /// <see cref="StorageOptions.ClientId"/>, else <c>DefaultAzureCredential</c> (as storage does).
    /// </summary>
    /// <param name="isProductionHost">True for the Functions app: the local key file is then refused unless
    /// <see cref="EncryptionOptions.AllowLocalKey"/> is set, and the host fails to start.</param>
    public static IServiceCollection AddEventIngestEncryption(this IServiceCollection services, bool isProductionHost)
    {
        services.AddOptions<EncryptionOptions>()
            .BindConfiguration(EncryptionOptions.Section)
            .ValidateDataAnnotations()
            .Validate(options => IsKeyProviderAllowed(options, isProductionHost), LocalKeyRefusedMessage)
            .ValidateOnStart();

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IKeyEncryptionKey>(CreateKeyEncryptionKey);
        services.TryAddSingleton(provider => (IKeyEncryptionKeyResolver)provider.GetRequiredService<IKeyEncryptionKey>());
        services.TryAddSingleton<UserDataProtector>();
        return services;
    }

    /// <summary>Whether a host may use this key provider: the production host only takes the local
    /// key file when <see cref="EncryptionOptions.AllowLocalKey"/> says so.</summary>
    public static bool IsKeyProviderAllowed(EncryptionOptions options, bool isProductionHost) =>
        !isProductionHost || !options.UsesLocalKey || options.AllowLocalKey;

    private static IKeyEncryptionKey CreateKeyEncryptionKey(IServiceProvider provider)
    {
        var options = provider.GetRequiredService<IOptions<EncryptionOptions>>().Value;
        if (options.UsesLocalKey)
        {
            return LocalKeyEncryptionKey.LoadOrCreate(options.LocalKeyPath!);
        }

        var credential = provider.GetService<TokenCredential>() ?? (provider.GetService<IOptions<StorageOptions>>()?.Value ?? new StorageOptions()).CreateCredential();
        return new KeyVaultKey(options.KeyVaultKeyId!, credential, new KeyVaultKeyOptions { OperationTimeout = options.KeyVaultTimeout });
    }
}
