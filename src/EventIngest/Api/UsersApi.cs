using EventIngest.Encryption;
using Microsoft.AspNetCore.Http;

namespace EventIngest.Api;

/// <summary>
/// <c>DELETE /v1/users/{externalId}</c>: the right to be forgotten. The person's key material
/// in the signing key's environment is destroyed, so every <c>user</c> sealed for them — in
/// records, queue messages and blobs — is unreadable from then on (crypto-shredding).
/// </summary>
public sealed class UsersApi(ApiGate gate, UserDataProtector protector)
{
    public sealed record Receipt(string ExternalId, string ErasedAt);

    public Task<IResult> EraseAsync(HttpRequest request, string externalId, CancellationToken ct) => gate.RunAsync(request, async (environment, token) =>
    {
        if (string.IsNullOrEmpty(externalId) || externalId.Length > 1024) return ApiResults.BadRequest("external_id must be 1-1024 characters");
        var receipt = await protector.EraseAsync(environment, externalId, token);
        return ApiResults.Ok(new Receipt(receipt.ExternalId, ApiResults.Timestamp(receipt.ErasedAt)), receipt.ErasedAt);
    }, ct);
}
