namespace EventIngest.Encryption;

/// <summary>The result of opening a sealed <c>user</c>: its JSON, or the fact that the person was erased.</summary>
public sealed class UserOpenResult
{
    public static readonly UserOpenResult Erased = new(null);

    private UserOpenResult(byte[]? userJson) => UserJson = userJson;

    /// <summary>True when the person's key material was destroyed; <see cref="UserJson"/> is then null.</summary>
    public bool IsErased => UserJson is null;

    /// <summary>The <c>user</c> object as UTF-8 JSON, exactly as it was sealed.</summary>
    public byte[]? UserJson { get; }

    internal static UserOpenResult Opened(byte[] userJson) => new(userJson);
}

/// <summary>Proof of an erasure: which <c>external_id</c>, whether key material for that person
/// existed (and so was destroyed), and when.</summary>
public sealed record ErasureReceipt(string ExternalId, bool Found, DateTimeOffset ErasedAt);

/// <summary>One <c>user</c> object to seal in <see cref="UserDataProtector.SealBatchAsync"/>.</summary>
public readonly record struct UserToSeal(string InternalId, ReadOnlyMemory<byte> UserJson);
