using System.Text.Json;
using EventIngest.Encryption;
using Microsoft.AspNetCore.Http;

namespace EventIngest.Api;

/// <summary>
/// The right to be forgotten: <c>DELETE /v1/users/{externalId}</c>, and <c>POST /v1/users/erase</c>
/// with <c>{"external_id": ...}</c> for every id a path cannot carry ('/', '.', '..', long ones).
/// The person's key material in the signing key's environment is destroyed, so every <c>user</c>
/// sealed for them — in records, queue messages and blobs — is unreadable from then on
/// (crypto-shredding). The receipt says whether there was key material to destroy.
/// </summary>
public sealed class UsersApi
{
    private readonly ApiGate gate;
    private readonly UserDataProtector protector;

    /// <summary>Internal: the hosts resolve it from <see cref="ServiceCollectionExtensions.AddEventIngest"/>, whose
    /// registration calls this; its dependencies are not part of the public surface.</summary>
    internal UsersApi(ApiGate gate, UserDataProtector protector)
    {
        this.gate = gate;
        this.protector = protector;
    }

    internal const string EraseRoute = "/v1/users/erase";

    internal sealed record Receipt(string ExternalId, bool Found, string ErasedAt);

    private static readonly string BodyForm =
        $"Body must be {{\"external_id\": <the user.external_id to erase: a string of 1-{ExternalIds.MaxLength} characters, or a number>}}";

    public Task<IResult> EraseAsync(HttpRequest request, string externalId, CancellationToken ct) => gate.RunAsync(request, ApiScopes.Erase, (environment, token) =>
    {
        // Kestrel decodes every escape in a path except %2F, so "tenant%2F42" arrives as it was sent
        // and cannot be told apart from an id that really holds "%2F". Refused, never guessed.
        if (externalId.Contains("%2F", StringComparison.OrdinalIgnoreCase))
        {
            return Task.FromResult(ApiResults.BadRequest($"A path cannot carry an external_id with '/'; send it as {{\"external_id\": ...}} to POST {EraseRoute}"));
        }
        return EraseAsync(environment, externalId, token);
    }, ct);

    public Task<IResult> EraseFromBodyAsync(HttpRequest request, CancellationToken ct) => gate.RunAsync(request, ApiScopes.Erase, async (environment, token) =>
    {
        if (await ReadExternalIdAsync(request, token) is not { } externalId) return ApiResults.BadRequest(BodyForm);
        return await EraseAsync(environment, externalId, token);
    }, ct);

    private async Task<IResult> EraseAsync(string environment, string externalId, CancellationToken ct)
    {
        if (externalId.Length == 0) return ApiResults.BadRequest("external_id is empty");
        if (ExternalIds.IsTooLong(externalId)) return ApiResults.BadRequest(ExternalIds.TooLong);
        var receipt = await protector.EraseAsync(environment, externalId, ct);
        return ApiResults.Ok(new Receipt(receipt.ExternalId, receipt.Found, ApiResults.Timestamp(receipt.ErasedAt)), receipt.ErasedAt);
    }

    /// <summary>The one <c>external_id</c> of a JSON object body: a string, or a number as its text
    /// (as ingest reads it); null for anything else.</summary>
    private static async Task<string?> ReadExternalIdAsync(HttpRequest request, CancellationToken ct)
    {
        using var body = await ApiBody.ReadJsonAsync(request, ct);
        if (body is not { RootElement.ValueKind: JsonValueKind.Object }) return null;
        string? externalId = null;
        var seen = 0;
        foreach (var property in body.RootElement.EnumerateObject())
        {
            if (property.Name != "external_id") continue;
            if (++seen > 1) return null;
            var value = property.Value;
            try
            {
                externalId = value.ValueKind switch
                {
                    JsonValueKind.String => value.GetString(),
                    JsonValueKind.Number => value.GetRawText(),
                    _ => null,
                };
            }
            catch (InvalidOperationException)
            {
                return null; // a lone surrogate escape: not text
            }
        }
        return externalId is { Length: > 0 } ? externalId : null;
    }
}
