using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace EventIngest.Auth;

/// <summary>
/// Keys configured by their SHA-256 hashes (event keys, signing keys): the raw key never sits in
/// configuration. A presented key is hashed once and compared in constant time against every
/// configured hash, so timing reveals nothing about which one matched.
/// </summary>
internal sealed class ConfiguredKeys<TKey>(IEnumerable<TKey> keys) where TKey : KeyHash
{
    private readonly (byte[] Hash, TKey Key)[] _keys = keys.Select(k => (Convert.FromHexString(k.Hash), k)).ToArray();

    public bool IsEmpty => _keys.Length == 0;

    public TKey? Match(string key)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(key), hash);
        TKey? found = null;
        foreach (var (expected, configured) in _keys)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, expected)) found ??= configured;
        }
        return found;
    }
}

internal static partial class ConfiguredKeys
{
    /// <summary>1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.</summary>
    public static bool IsEnvironmentName(string name) => EnvironmentName().IsMatch(name);

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex EnvironmentName();
}
