using System.Buffers;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text.Json;
using Azure;
using Azure.Core;
using Azure.Core.Pipeline;

namespace EventIngest.Encryption.KeyProviders;

/// <summary>The public half of an RSA key version, as <c>GET {vault}/keys/{name}[/{version}]</c> returns it.</summary>
internal sealed record KeyVaultPublicKey(KeyVaultKeyIdentifier Id, RSAParameters Parameters);

/// <summary>The few Key Vault keys REST calls this service needs, on an Azure.Core pipeline.</summary>
internal sealed class KeyVaultRestClient
{
    private readonly HttpPipeline _pipeline;
    private readonly RequestCountingPolicy _counter = new();
    private readonly string _apiVersion;
    private readonly TimeSpan _operationTimeout;

    public KeyVaultRestClient(TokenCredential credential, KeyVaultKeyOptions options)
    {
        ArgumentNullException.ThrowIfNull(credential);
        ArgumentNullException.ThrowIfNull(options);
        _apiVersion = options.ApiVersion;
        _operationTimeout = options.OperationTimeout;
        options.RetryPolicy ??= new KeyVaultRetryPolicy(
            options.Retry.MaxRetries,
            options.Retry.Mode == RetryMode.Fixed
                ? DelayStrategy.CreateFixedDelayStrategy(options.Retry.Delay)
                : DelayStrategy.CreateExponentialDelayStrategy(options.Retry.Delay, options.Retry.MaxDelay),
            options.MaxRetryAfter);
        _pipeline = HttpPipelineBuilder.Build(
            options,
            perCallPolicies: [],
            perRetryPolicies: [new KeyVaultChallengePolicy(credential, options.Scope), _counter],
            new ResponseClassifier());
    }

    /// <summary>Requests sent to the vault so far, retries included.</summary>
    public long RequestCount => _counter.Count;

    public async Task<KeyVaultPublicKey> GetKeyAsync(KeyVaultKeyIdentifier id, CancellationToken cancellationToken)
    {
        var path = id.Version is null ? $"/keys/{id.Name}" : $"/keys/{id.Name}/{id.Version}";
        using var document = await SendAsync(RequestMethod.Get, id, path, body: null, "get key", cancellationToken);
        var root = document.RootElement;
        if (!root.TryGetProperty("key", out var key)
            || !key.TryGetProperty("kid", out var kidElement)
            || !KeyVaultKeyIdentifier.TryParse(kidElement.GetString(), out var kid)
            || !kid.IsVersioned
            || !kid.IsSameKey(id))
        {
            throw new RequestFailedException(200, $"Key Vault answered GET {id.KeyId} without a versioned kid of that key.");
        }

        var kty = key.TryGetProperty("kty", out var ktyElement) ? ktyElement.GetString() : null;
        if (kty is not ("RSA" or "RSA-HSM"))
        {
            throw new RequestFailedException(200, $"Key Vault key {kid.KeyId} is of type '{kty}'; RSA-OAEP-256 needs an RSA key.");
        }

        if (root.TryGetProperty("attributes", out var attributes)
            && attributes.TryGetProperty("enabled", out var enabled)
            && enabled.ValueKind == JsonValueKind.False)
        {
            throw new RequestFailedException(403, $"Key Vault key {kid.KeyId} is disabled.", "KeyDisabled", null);
        }

        var parameters = new RSAParameters
        {
            Modulus = DecodeBase64Url(key, "n", kid),
            Exponent = DecodeBase64Url(key, "e", kid),
        };
        return new KeyVaultPublicKey(kid, parameters);
    }

    public async Task<byte[]> UnwrapKeyAsync(KeyVaultKeyIdentifier id, string algorithm, ReadOnlyMemory<byte> encryptedKey, CancellationToken cancellationToken)
    {
        if (!id.IsVersioned)
        {
            throw new ArgumentException("Unwrapping needs the versioned key id recorded when the key was wrapped.", nameof(id));
        }

        var body = WriteKeyOperation(algorithm, encryptedKey.Span);
        using var document = await SendAsync(RequestMethod.Post, id, $"/keys/{id.Name}/{id.Version}/unwrapkey", body, "unwrap key", cancellationToken);
        var root = document.RootElement;
        if (root.TryGetProperty("kid", out var kidElement)
            && (!KeyVaultKeyIdentifier.TryParse(kidElement.GetString(), out var kid) || !kid.IsSameKey(id) || kid.Version != id.Version))
        {
            throw new RequestFailedException(200, $"Key Vault answered unwrap with {id.KeyId} for another key.");
        }

        return DecodeBase64Url(root, "value", id);
    }

    private static byte[] WriteKeyOperation(string algorithm, ReadOnlySpan<byte> value)
    {
        var buffer = new ArrayBufferWriter<byte>(64 + Base64Url.GetEncodedLength(value.Length));
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("alg", algorithm);
            writer.WriteString("value", Base64Url.EncodeToString(value));
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static byte[] DecodeBase64Url(JsonElement element, string property, KeyVaultKeyIdentifier id)
    {
        if (element.TryGetProperty(property, out var value) && value.GetString() is { } text)
        {
            try
            {
                return Base64Url.DecodeFromChars(text);
            }
            catch (FormatException)
            {
            }
        }

        throw new RequestFailedException(200, $"Key Vault answered for {id.KeyId} without a base64url '{property}'.");
    }

    private async Task<JsonDocument> SendAsync(RequestMethod method, KeyVaultKeyIdentifier id, string path, byte[]? body, string operation, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_operationTimeout);
        using var message = _pipeline.CreateMessage();
        var request = message.Request;
        request.Method = method;
        request.Uri.Reset(id.VaultUri);
        request.Uri.AppendPath(path, escape: false);
        request.Uri.AppendQuery("api-version", _apiVersion);
        request.Headers.Add("Accept", "application/json");
        if (body is not null)
        {
            request.Headers.Add("Content-Type", "application/json");
            request.Content = RequestContent.Create(body);
        }

        try
        {
            await _pipeline.SendAsync(message, timeout.Token);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            var retryAfter = message.HasResponse ? KeyVaultRetryPolicy.GetRetryAfter(message.Response) : null;
            throw new KeyManagementUnavailableException($"Key Vault did not complete {operation} for {id.KeyId} within {_operationTimeout.TotalSeconds:0.#} s.", retryAfter, ex);
        }
        catch (RequestFailedException ex) when (ex.Status == 0)
        {
            throw new KeyManagementUnavailableException($"Key Vault is unreachable ({operation} for {id.KeyId}).", null, ex);
        }
        catch (Exception ex) when (ex is IOException or AggregateException)
        {
            // Retries that all failed in the transport (DNS, connection, per-try timeout) end as an AggregateException.
            throw new KeyManagementUnavailableException($"Key Vault is unreachable ({operation} for {id.KeyId}).", null, ex);
        }

        var response = message.Response;
        if (response.Status == 200)
        {
            try
            {
                return JsonDocument.Parse(response.Content.ToMemory());
            }
            catch (JsonException ex)
            {
                throw new RequestFailedException(200, $"Key Vault answered {operation} for {id.KeyId} with something that is not JSON.", ex);
            }
        }

        var (code, detail) = ReadError(response);
        if (response.Status is 408 or 429 or >= 500)
        {
            throw new KeyManagementUnavailableException(
                $"Key Vault is unavailable: {operation} for {id.KeyId} answered {response.Status} {code} after retries.",
                KeyVaultRetryPolicy.GetRetryAfter(response));
        }

        var hint = response.Status switch
        {
            401 => " The credential was refused; check the identity and tenant.",
            403 => " The identity needs the 'Key Vault Crypto User' role on the key, and the key must be enabled.",
            404 => " The key or version does not exist (deleted or wrong id).",
            _ => "",
        };
        throw new RequestFailedException(response.Status, $"Key Vault refused {operation} for {id.KeyId}: {response.Status} {code}: {detail}{hint}", code, null);
    }

    private static (string? Code, string? Message) ReadError(Response response)
    {
        try
        {
            using var document = JsonDocument.Parse(response.Content.ToMemory());
            if (document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
            {
                return (
                    error.TryGetProperty("code", out var code) ? code.GetString() : null,
                    error.TryGetProperty("message", out var message) ? message.GetString() : null);
            }
        }
        catch (JsonException)
        {
        }

        return (null, response.ReasonPhrase);
    }
}
