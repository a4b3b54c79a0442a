using Azure.Core;
using Azure.Core.Cryptography;
using EventIngest.Encryption;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using EventIngest.Encryption.KeyProviders;

namespace EventIngest.Tests.Encryption;

public sealed class EncryptionRegistrationTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "eventingest-tests", Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    [Fact]
    public async Task ProductionHostRefusesToStartWithTheLocalKey()
    {
        using var host = Build(isProductionHost: true, ("KeyProvider", "Local"), ("LocalKeyPath", LocalKeyPath));

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("EventIngest:Encryption:AllowLocalKey", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(LocalKeyPath));
    }

    [Fact]
    public async Task ProductionHostTakesTheLocalKeyWhenExplicitlyAllowed()
    {
        using var host = Build(isProductionHost: true, ("KeyProvider", "Local"), ("LocalKeyPath", LocalKeyPath), ("AllowLocalKey", "true"));

        await host.StartAsync();

        Assert.IsType<LocalKeyEncryptionKey>(host.Services.GetRequiredService<IKeyEncryptionKey>());
        await host.StopAsync();
    }

    [Fact]
    public async Task LocalHostTakesTheLocalKeyWithoutOptIn()
    {
        using var host = Build(isProductionHost: false, ("KeyProvider", "local"), ("LocalKeyPath", LocalKeyPath));

        await host.StartAsync();
        var key = host.Services.GetRequiredService<IKeyEncryptionKey>();

        Assert.Same(key, host.Services.GetRequiredService<IKeyEncryptionKeyResolver>());
        Assert.True(File.Exists(LocalKeyPath));
        await host.StopAsync();
    }

    [Fact]
    public async Task KeyVaultProviderRegistersTheVaultKeyAsKeyAndResolver()
    {
        using var host = Build(isProductionHost: true, ("KeyVaultKeyId", "https://fake-vault.vault.azure.net/keys/user-kek"));

        await host.StartAsync();
        var key = Assert.IsType<KeyVaultKey>(host.Services.GetRequiredService<IKeyEncryptionKey>());

        Assert.Equal("https://fake-vault.vault.azure.net/keys/user-kek", key.KeyId);
        Assert.Same(key, host.Services.GetRequiredService<IKeyEncryptionKeyResolver>());
        await host.StopAsync();
    }

    [Theory]
    [InlineData("KeyProvider", "Vault", "EventIngest:Encryption:KeyProvider must be KeyVault or Local")]
    [InlineData("KeyVaultKeyId", "https://fake-vault.vault.azure.net/secrets/user-kek", "EventIngest:Encryption:KeyVaultKeyId must look like")]
    [InlineData("PersonKeyCacheDuration", "02:00:00", "EventIngest:Encryption:PersonKeyCacheDuration must be between")]
    [InlineData("EnvironmentKeyCacheDuration", "00:00:10", "EventIngest:Encryption:EnvironmentKeyCacheDuration must be between")]
    [InlineData("PersonKeyCacheSize", "10", "EventIngest:Encryption:PersonKeyCacheSize must be between")]
    [InlineData("KeyVaultTimeout", "00:00:00", "EventIngest:Encryption:KeyVaultTimeout must be between")]
    public async Task BadSettingFailsAtStartNamingTheSetting(string setting, string value, string message)
    {
        using var host = Build(isProductionHost: true, ("KeyVaultKeyId", "https://fake-vault.vault.azure.net/keys/user-kek"), (setting, value));

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KeyVaultProviderWithoutAKeyIdFailsAtStart()
    {
        using var host = Build(isProductionHost: true);

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("EventIngest:Encryption:KeyVaultKeyId is required", error.Message, StringComparison.Ordinal);
    }

    private string LocalKeyPath => Path.Combine(_directory, "kek.pem");

    private static IHost Build(bool isProductionHost, params (string Key, string Value)[] settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        foreach (var (key, value) in settings)
        {
            builder.Configuration[$"{EncryptionOptions.Section}:{key}"] = value;
        }

        builder.Services.AddSingleton<TokenCredential>(new FakeTokenCredential());
        builder.Services.AddEventIngestEncryption(isProductionHost);
        return builder.Build();
    }
}
