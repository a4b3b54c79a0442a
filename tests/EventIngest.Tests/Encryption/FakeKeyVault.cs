using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace EventIngest.Tests.Encryption;

/// <summary>
/// An in-process Key Vault keys endpoint, strict about the documented contract: https on the vault
/// host, <c>api-version</c> required, bearer token for the vault's tenant (else 401 with a
/// WWW-Authenticate challenge), <c>GET /keys/{name}[/{version}]</c>, <c>POST
/// /keys/{name}/{version}/wrapkey|unwrapkey</c> with RSA-OAEP-256 on real RSA keys, base64url
/// without padding. Faults (status codes with Retry-After, delays) are injected on demand.
/// Plug it in as the pipeline transport: <c>new HttpClientTransport(fakeVault)</c>.
/// </summary>
internal sealed class FakeKeyVault : HttpMessageHandler
{
    public const string Resource = "https://vault.azure.net";
    private static readonly string[] ApiVersions = ["7.6", "2025-07-01"];

    private readonly ConcurrentDictionary<string, List<KeyVersion>> _keys = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentQueue<Fault> _faults = new();
    private int _requests;
    private int _gets;
    private int _wraps;
    private int _unwraps;
    private int _challenges;

    public FakeKeyVault(string vaultUri = "https://fake-vault.vault.azure.net", string tenant = "vault-tenant")
    {
        VaultUri = new Uri(vaultUri);
        Tenant = tenant;
    }

    public Uri VaultUri { get; }

    public string Tenant { get; }

    /// <summary>When true, every token is refused (as after a revoked role assignment).</summary>
    public bool RefuseAllTokens { get; set; }

    /// <summary>Added before every answer.</summary>
    public TimeSpan Delay { get; set; }

    public int Requests => Volatile.Read(ref _requests);

    public int Gets => Volatile.Read(ref _gets);

    public int Wraps => Volatile.Read(ref _wraps);

    public int Unwraps => Volatile.Read(ref _unwraps);

    public int Challenges => Volatile.Read(ref _challenges);

    /// <summary>Successful operations that used key material (GET, wrap, unwrap).</summary>
    public int KeyOperations => Gets + Wraps + Unwraps;

    public ConcurrentQueue<string> UnwrappedWith { get; } = new();

    public Uri KeyUri(string name) => new(VaultUri, "/keys/" + name);

    /// <summary>Creates the key or, when it exists, a new current version of it (rotation). Returns the versioned kid.</summary>
    public string CreateKeyVersion(string name)
    {
        var version = new KeyVersion(Guid.NewGuid().ToString("N"), RSA.Create(2048));
        var versions = _keys.GetOrAdd(name, _ => []);
        lock (versions)
        {
            versions.Add(version);
        }

        return KeyId(name, version.Version);
    }

    public void DisableVersion(string kid)
    {
        var (name, version) = ParseKid(kid);
        FindVersion(name, version)!.Enabled = false;
    }

    /// <summary>The next <paramref name="times"/> authenticated requests are answered with this status.</summary>
    public void FailNext(HttpStatusCode status, int times = 1, TimeSpan? retryAfter = null)
    {
        for (var i = 0; i < times; i++)
        {
            _faults.Enqueue(new Fault(status, retryAfter));
        }
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _requests);
        if (Delay > TimeSpan.Zero)
        {
            await Task.Delay(Delay, cancellationToken);
        }

        var uri = request.RequestUri!;
        if (uri.Scheme != Uri.UriSchemeHttps || !string.Equals(uri.Host, VaultUri.Host, StringComparison.OrdinalIgnoreCase))
        {
            throw new HttpRequestException($"No such host: {uri.Host}");
        }

        if (!IsAuthorized(request))
        {
            Interlocked.Increment(ref _challenges);
            var challenge = Error(HttpStatusCode.Unauthorized, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.");
            challenge.Headers.TryAddWithoutValidation("WWW-Authenticate", $"Bearer authorization=\"https://login.microsoftonline.com/{Tenant}\", resource=\"{Resource}\"");
            return challenge;
        }

        if (_faults.TryDequeue(out var fault))
        {
            var response = Error(fault.Status, fault.Status == HttpStatusCode.TooManyRequests ? "Throttled" : "InternalServerError", "Injected fault.");
            if (fault.RetryAfter is { } retryAfter)
            {
                response.Headers.TryAddWithoutValidation("Retry-After", ((int)retryAfter.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            return response;
        }

        var query = System.Web.HttpUtility.ParseQueryString(uri.Query);
        var apiVersion = query["api-version"];
        if (apiVersion is null)
        {
            return Error(HttpStatusCode.BadRequest, "BadParameter", "The 'api-version' query parameter is missing.");
        }

        if (!ApiVersions.Contains(apiVersion))
        {
            return Error(HttpStatusCode.BadRequest, "BadParameter", $"The specified version ({apiVersion}) is not recognized.");
        }

        var segments = uri.AbsolutePath.Trim('/').Split('/');
        if (segments.Length < 2 || segments[0] != "keys")
        {
            return Error(HttpStatusCode.NotFound, "NotFound", "No such route.");
        }

        var name = segments[1];
        if (request.Method == HttpMethod.Get && segments.Length is 2 or 3)
        {
            var found = FindVersion(name, segments.Length == 3 ? segments[2] : null);
            if (found is null)
            {
                return Error(HttpStatusCode.NotFound, "KeyNotFound", $"A key with (name/id) {name} was not found in this key vault.");
            }

            Interlocked.Increment(ref _gets);
            return Json(HttpStatusCode.OK, KeyBundle(name, found));
        }

        if (request.Method == HttpMethod.Post && segments.Length == 4 && segments[3] is "wrapkey" or "unwrapkey")
        {
            return await KeyOperationAsync(request, name, segments[2], segments[3], cancellationToken);
        }

        return Error(HttpStatusCode.MethodNotAllowed, "MethodNotAllowed", "Method not allowed.");
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            foreach (var version in _keys.Values.SelectMany(v => v))
            {
                version.Rsa.Dispose();
            }
        }

        base.Dispose(disposing);
    }

    private async Task<HttpResponseMessage> KeyOperationAsync(HttpRequestMessage request, string name, string version, string operation, CancellationToken cancellationToken)
    {
        var found = FindVersion(name, version);
        if (found is null)
        {
            return Error(HttpStatusCode.NotFound, "KeyNotFound", $"A key with (name/id) {name}/{version} was not found in this key vault.");
        }

        if (!found.Enabled)
        {
            return Error(HttpStatusCode.Forbidden, "Forbidden", $"Operation {operation} is not allowed on a disabled key.");
        }

        if (request.Content?.Headers.ContentType?.MediaType != "application/json")
        {
            return Error(HttpStatusCode.BadRequest, "BadParameter", "Content-Type must be application/json.");
        }

        string? algorithm;
        string? value;
        try
        {
            var body = JsonNode.Parse(await request.Content.ReadAsStringAsync(cancellationToken));
            algorithm = (string?)body?["alg"];
            value = (string?)body?["value"];
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return Error(HttpStatusCode.BadRequest, "BadParameter", "The request body is not valid JSON.");
        }

        if (algorithm != "RSA-OAEP-256")
        {
            return Error(HttpStatusCode.BadRequest, "BadParameter", $"Invalid algorithm '{algorithm}'.");
        }

        if (value is null || value.AsSpan().IndexOfAny("+/=") >= 0 || !Base64Url.IsValid(value))
        {
            return Error(HttpStatusCode.BadRequest, "BadParameter", "Property 'value' must be base64url without padding.");
        }

        var input = Base64Url.DecodeFromChars(value);
        byte[] output;
        if (operation == "wrapkey")
        {
            output = found.Rsa.Encrypt(input, RSAEncryptionPadding.OaepSHA256);
            Interlocked.Increment(ref _wraps);
        }
        else
        {
            try
            {
                output = found.Rsa.Decrypt(input, RSAEncryptionPadding.OaepSHA256);
            }
            catch (CryptographicException)
            {
                return Error(HttpStatusCode.BadRequest, "BadParameter", "Unwrap failed: the ciphertext does not decrypt with this key.");
            }

            Interlocked.Increment(ref _unwraps);
            UnwrappedWith.Enqueue(KeyId(name, version));
        }

        return Json(HttpStatusCode.OK, new JsonObject { ["kid"] = KeyId(name, version), ["value"] = Base64Url.EncodeToString(output) });
    }

    private bool IsAuthorized(HttpRequestMessage request) =>
        !RefuseAllTokens
        && request.Headers.Authorization is { Scheme: "Bearer", Parameter: { } token }
        && token.StartsWith($"fake-token.{Tenant}.", StringComparison.Ordinal);

    private KeyVersion? FindVersion(string name, string? version)
    {
        if (!_keys.TryGetValue(name, out var versions))
        {
            return null;
        }

        lock (versions)
        {
            return version is null ? versions.LastOrDefault() : versions.FirstOrDefault(v => v.Version == version);
        }
    }

    private JsonObject KeyBundle(string name, KeyVersion version)
    {
        var parameters = version.Rsa.ExportParameters(includePrivateParameters: false);
        return new JsonObject
        {
            ["key"] = new JsonObject
            {
                ["kid"] = KeyId(name, version.Version),
                ["kty"] = "RSA",
                ["key_ops"] = new JsonArray("encrypt", "decrypt", "wrapKey", "unwrapKey"),
                ["n"] = Base64Url.EncodeToString(parameters.Modulus),
                ["e"] = Base64Url.EncodeToString(parameters.Exponent),
            },
            ["attributes"] = new JsonObject { ["enabled"] = version.Enabled, ["recoveryLevel"] = "Recoverable+Purgeable" },
        };
    }

    private string KeyId(string name, string version) => $"{VaultUri.GetLeftPart(UriPartial.Authority)}/keys/{name}/{version}";

    private static (string Name, string Version) ParseKid(string kid)
    {
        var segments = new Uri(kid).AbsolutePath.Trim('/').Split('/');
        return (segments[1], segments[2]);
    }

    private static HttpResponseMessage Json(HttpStatusCode status, JsonNode body) =>
        new(status) { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };

    private static HttpResponseMessage Error(HttpStatusCode status, string code, string message) =>
        Json(status, new JsonObject { ["error"] = new JsonObject { ["code"] = code, ["message"] = message } });

    private sealed class KeyVersion(string version, RSA rsa)
    {
        public string Version { get; } = version;

        public RSA Rsa { get; } = rsa;

        public bool Enabled { get; set; } = true;
    }

    private sealed record Fault(HttpStatusCode Status, TimeSpan? RetryAfter);
}
