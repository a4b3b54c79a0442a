using System.Diagnostics.CodeAnalysis;

namespace EventIngest.Encryption.KeyProviders;

/// <summary>A parsed Key Vault key id: <c>https://{vault}/keys/{name}[/{version}]</c>.</summary>
internal readonly record struct KeyVaultKeyIdentifier(Uri VaultUri, string Name, string? Version)
{
    public bool IsVersioned => Version is not null;

    /// <summary>The id in the form Key Vault itself returns as <c>kid</c>.</summary>
    public string KeyId => Version is null
        ? $"{VaultUri.GetLeftPart(UriPartial.Authority)}/keys/{Name}"
        : $"{VaultUri.GetLeftPart(UriPartial.Authority)}/keys/{Name}/{Version}";

    public KeyVaultKeyIdentifier WithVersion(string version) => this with { Version = version };

    public bool IsSameVault(KeyVaultKeyIdentifier other) =>
        Uri.Compare(VaultUri, other.VaultUri, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0;

    public bool IsSameKey(KeyVaultKeyIdentifier other) =>
        IsSameVault(other) && string.Equals(Name, other.Name, StringComparison.OrdinalIgnoreCase);

    public static KeyVaultKeyIdentifier Parse(string keyId) =>
        TryParse(keyId, out var id) ? id : throw new ArgumentException($"'{keyId}' is not a Key Vault key id (https://{{vault}}/keys/{{name}}[/{{version}}]).", nameof(keyId));

    public static bool TryParse(string? keyId, out KeyVaultKeyIdentifier id)
    {
        id = default;
        return Uri.TryCreate(keyId, UriKind.Absolute, out var uri) && TryParse(uri, out id);
    }

    public static bool TryParse(Uri? keyId, out KeyVaultKeyIdentifier id)
    {
        id = default;
        if (keyId is null || !keyId.IsAbsoluteUri || keyId.Scheme != Uri.UriSchemeHttps || !string.IsNullOrEmpty(keyId.Query))
        {
            return false;
        }

        var segments = keyId.AbsolutePath.Trim('/').Split('/');
        if (segments.Length is < 2 or > 3 || segments[0] != "keys" || !IsValidName(segments[1]))
        {
            return false;
        }

        string? version = null;
        if (segments.Length == 3)
        {
            if (!IsValidVersion(segments[2]))
            {
                return false;
            }

            version = segments[2];
        }

        id = new KeyVaultKeyIdentifier(new Uri(keyId.GetLeftPart(UriPartial.Authority)), segments[1], version);
        return true;
    }

    private static bool IsValidName([NotNullWhen(true)] string? name) =>
        name is { Length: > 0 and <= 127 } && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '-');

    private static bool IsValidVersion(string version) =>
        version is { Length: > 0 and <= 64 } && version.All(char.IsAsciiLetterOrDigit);
}
