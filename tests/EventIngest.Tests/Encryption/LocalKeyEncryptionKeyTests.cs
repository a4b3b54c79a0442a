using System.Runtime.Versioning;
using System.Security.Cryptography;
using EventIngest.Encryption;
using EventIngest.Tests.Infrastructure;
using EventIngest.Encryption.KeyProviders;

namespace EventIngest.Tests.Encryption;

public sealed class LocalKeyEncryptionKeyTests : IDisposable
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
    public void FirstRunCreatesTheKeyFileAndItsDirectories()
    {
        var path = Path.Combine(_directory, "nested", "data", "kek.pem");

        using var key = LocalKeyEncryptionKey.LoadOrCreate(path);

        Assert.True(File.Exists(path));
        Assert.StartsWith("local:", key.KeyId, StringComparison.Ordinal);
    }

    [UnixFact]
    [UnsupportedOSPlatform("windows")]
    public void KeyFileIsReadableByItsOwnerOnly()
    {
        var path = Path.Combine(_directory, "keys", "kek.pem");

        using var key = LocalKeyEncryptionKey.LoadOrCreate(path);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(path)!));
    }

    [Fact]
    public async Task KeyLoadedAgainHasTheSameIdAndUnwrapsWhatItWrapped()
    {
        var path = Path.Combine(_directory, "kek.pem");
        var dataKey = RandomNumberGenerator.GetBytes(32);
        string keyId;
        byte[] wrapped;
        using (var first = LocalKeyEncryptionKey.LoadOrCreate(path))
        {
            keyId = first.KeyId;
            wrapped = await first.WrapKeyAsync(KeyVaultKey.RsaOaep256, dataKey);
        }

        using var second = LocalKeyEncryptionKey.LoadOrCreate(path);
        var resolved = await second.ResolveAsync(keyId);

        Assert.Equal(keyId, second.KeyId);
        Assert.Equal(dataKey, await resolved.UnwrapKeyAsync(KeyVaultKey.RsaOaep256, wrapped));
    }

    [Fact]
    public async Task AnotherKeyFileCannotUnwrapOrResolve()
    {
        using var first = LocalKeyEncryptionKey.LoadOrCreate(Path.Combine(_directory, "a.pem"));
        using var second = LocalKeyEncryptionKey.LoadOrCreate(Path.Combine(_directory, "b.pem"));
        var wrapped = await first.WrapKeyAsync(KeyVaultKey.RsaOaep256, new byte[32]);

        Assert.NotEqual(first.KeyId, second.KeyId);
        Assert.Throws<CryptographicException>(() => second.UnwrapKey(KeyVaultKey.RsaOaep256, wrapped));
        await Assert.ThrowsAsync<InvalidOperationException>(() => second.ResolveAsync(first.KeyId));
    }

    [Fact]
    public void FileThatIsNotAKeyIsRefusedWithTheSettingName()
    {
        Directory.CreateDirectory(_directory);
        var path = Path.Combine(_directory, "garbage.pem");
        File.WriteAllText(path, "not a key");

        var error = Assert.Throws<InvalidOperationException>(() => LocalKeyEncryptionKey.LoadOrCreate(path));

        Assert.Contains("LocalKeyPath", error.Message, StringComparison.Ordinal);
    }
}
