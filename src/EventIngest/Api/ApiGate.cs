using EventIngest.Storage;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using EventIngest.Ingest;
using EventIngest.Http;

namespace EventIngest.Api;

/// <summary>
/// What every REST request goes through, in both hosts: the signing key decides the one
/// environment the request may see and whether it may do what the route does (its scopes), and
/// failures of the handler become problem details here and nowhere else (storage unavailable →
/// 503 with <c>Retry-After</c>).
/// </summary>
internal sealed class ApiGate(SigningKeys keys, IOptions<IngestOptions> options, ILogger<ApiGate> logger)
{
    /// <summary>REST bodies are small (<c>{"ts": ...}</c>, <c>{"external_id": ...}</c>).</summary>
    public const int MaxBodyBytes = 64 * 1024;

    private readonly int _retryAfterSeconds = options.Value.RetryAfterSeconds;

    public async Task<IResult> RunAsync(HttpRequest request, ApiScopes scope, Func<string, CancellationToken, Task<IResult>> handle, CancellationToken ct)
    {
        var check = keys.Check(request.Headers.Authorization, request.Headers[SigningKeys.EnvironmentHeader], out var environment, out var scopes);
        if (Denied(check) is { } denied) return denied;
        if (!scopes.HasFlag(scope)) return MissingScope(scope);
        if (request.ContentLength > MaxBodyBytes) return TooLarge();
        RequestBodyLimit.Set(request, MaxBodyBytes);

        try
        {
            return await handle(environment, ct);
        }
        catch (BadHttpRequestException ex)
        {
            // Before the storage catch: it is an IOException, but the client's doing.
            return ex.StatusCode == StatusCodes.Status413PayloadTooLarge ? TooLarge() : ApiResults.Problem(ex.StatusCode, RequestBodyLimit.Unreadable);
        }
        catch (Exception ex) when (StorageErrors.IsTransient(ex))
        {
            // Not the path: it can hold an external_id (DELETE /v1/users/{externalId}).
            logger.LogWarning(ex, "Storage unavailable; answering 503 to a {Method} request for {Environment}", request.Method, environment);
            return ApiResults.Unavailable("Storage is unavailable; retry later", _retryAfterSeconds);
        }
    }

    private static IResult TooLarge() =>
        ApiResults.Problem(StatusCodes.Status413PayloadTooLarge, $"Request body is larger than the limit of {MaxBodyBytes} bytes");

    private static IResult MissingScope(ApiScopes scope) => ApiResults.Problem(StatusCodes.Status403Forbidden,
        $"This signing key lacks the '{ApiScopesParser.Name(scope)}' scope ({What(scope)}); " +
        "list it in the key's EventIngest:Auth:SigningKeys:N:Scopes (read, write, erase)");

    private static string What(ApiScopes scope) => scope switch
    {
        ApiScopes.Read => "look up and list events",
        ApiScopes.Write => "replay, reschedule and cancel events",
        _ => "erase a person's user data",
    };

    private static IResult? Denied(SigningKeyCheck check) => check switch
    {
        SigningKeyCheck.Ok => null,
        SigningKeyCheck.Missing => ApiResults.Unauthorized("Send a signing key: Authorization: Bearer <signing key>"),
        SigningKeyCheck.Unknown => ApiResults.Unauthorized("Signing key not found"),
        SigningKeyCheck.NoneConfigured => ApiResults.Problem(StatusCodes.Status503ServiceUnavailable,
            "Signing keys are required to read events; configure EventIngest:Auth:SigningKeys"),
        SigningKeyCheck.InvalidEnvironment => ApiResults.BadRequest("x-inngest-env must be 1-64 letters, digits, '.', '_' or '-'"),
        _ => ApiResults.Problem(StatusCodes.Status403Forbidden, "x-inngest-env names an environment this signing key may not read"),
    };
}
