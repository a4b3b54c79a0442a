using System.Security.Cryptography;
using System.Text;

namespace EventIngest.Tests.Infrastructure;

/// <summary>Event and signing keys as the settings hold them.</summary>
public static class KeyHashes
{
    /// <summary>The lower-case hex SHA-256 of the key's UTF-8 bytes.</summary>
    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
}
