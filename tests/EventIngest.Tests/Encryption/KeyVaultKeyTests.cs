using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using Azure;
using Azure.Core.Pipeline;
using EventIngest.Encryption;
using EventIngest.Encryption.KeyProviders;

namespace EventIngest.Tests.Encryption;

public sealed class KeyVaultKeyTests : IDisposable
{
    private readonly FakeKeyVault _vault = new();
    private readonly FakeTokenCredential _credential = new(homeTenant: "vault-tenant");
    private readonly string _v1;

    public KeyVaultKeyTests()
    {
        _v1 = _vault.CreateKeyVersion("user-kek");
    }

    public void Dispose() => _vault.Dispose();

    [Fact]
    public async Task KeyWrappedWithTheCachedPublicKeyIsUnwrappedByTheVault()
    {
        var key = CreateKey();
        var current = await key.ResolveAsync(key.KeyId);
        var dataKey = RandomNumberGenerator.GetBytes(32);

        var wrapped = await current.WrapKeyAsync(KeyVaultKey.RsaOaep256, dataKey);
        var unwrapped = await current.UnwrapKeyAsync(KeyVaultKey.RsaOaep256, wrapped);

        Assert.Equal(_v1, current.KeyId);
        Assert.Equal(dataKey, unwrapped);
        Assert.Equal(1, _vault.Gets);
        Assert.Equal(0, _vault.Wraps);
        Assert.Equal(1, _vault.Unwraps);
        Assert.Equal(2, key.RequestCount);
    }

    [Fact]
    public async Task UnwrapUsesTheRecordedVersionAfterRotation()
    {
        var key = CreateKey();
        var dataKey = RandomNumberGenerator.GetBytes(32);
        var underV1 = await (await key.ResolveAsync(key.KeyId)).WrapKeyAsync(KeyVaultKey.RsaOaep256, dataKey);

        var v2 = _vault.CreateKeyVersion("user-kek");
        var afterRotation = CreateKey();
        var current = await afterRotation.ResolveAsync(afterRotation.KeyId);
        var unwrapped = await (await afterRotation.ResolveAsync(_v1)).UnwrapKeyAsync(KeyVaultKey.RsaOaep256, underV1);

        Assert.Equal(v2, current.KeyId);
        Assert.Equal(dataKey, unwrapped);
        Assert.Equal([_v1], _vault.UnwrappedWith);
    }

    [Fact]
    public async Task ResolvingTheSameVersionTwiceFetchesItsPublicKeyOnce()
    {
        var key = CreateKey();
        for (var i = 0; i < 5; i++)
        {
            var current = await key.ResolveAsync(key.KeyId);
            await current.WrapKeyAsync(KeyVaultKey.RsaOaep256, new byte[32]);
        }

        Assert.Equal(1, _vault.Gets);
    }

    [Fact]
    public async Task ChallengeNamingTheVaultTenantIsAnsweredWithATokenForThatTenant()
    {
        var credential = new FakeTokenCredential(homeTenant: "home-tenant");
        var key = CreateKey(credential);

        var current = await key.ResolveAsync(key.KeyId);
        var wrapped = await current.WrapKeyAsync(KeyVaultKey.RsaOaep256, new byte[32]);
        await current.UnwrapKeyAsync(KeyVaultKey.RsaOaep256, wrapped);

        Assert.Equal(1, _vault.Challenges);
        Assert.Equal(3, _vault.Requests);
        Assert.Contains(credential.Requests, r => r.TenantId == "vault-tenant" && r.Scopes.SequenceEqual([KeyVaultKeyOptions.DefaultScope]));
    }

    [Fact]
    public async Task RequestWithoutBearerTokenGetsAChallenge()
    {
        using var client = new HttpClient(_vault, disposeHandler: false);

        using var response = await client.GetAsync(new Uri(_vault.KeyUri("user-kek") + "?api-version=7.6"));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var challenge = Assert.Single(response.Headers.WwwAuthenticate);
        Assert.Equal("Bearer", challenge.Scheme);
        Assert.Contains("authorization=\"https://login.microsoftonline.com/vault-tenant\"", challenge.Parameter, StringComparison.Ordinal);
        Assert.Contains("resource=\"https://vault.azure.net\"", challenge.Parameter, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RefusedCredentialIsAClearNonRetryableError()
    {
        _vault.RefuseAllTokens = true;
        var key = CreateKey();

        var error = await Assert.ThrowsAsync<RequestFailedException>(() => key.ResolveAsync(key.KeyId));

        Assert.Equal(401, error.Status);
        Assert.Contains("credential was refused", error.Message, StringComparison.Ordinal);
        Assert.Equal(2, _vault.Requests);
    }

    [Fact]
    public async Task ThrottledRequestIsRetriedAfterRetryAfter()
    {
        var key = CreateKey();
        var current = await key.ResolveAsync(key.KeyId);
        var wrapped = await current.WrapKeyAsync(KeyVaultKey.RsaOaep256, new byte[32]);
        _vault.FailNext(HttpStatusCode.TooManyRequests, retryAfter: TimeSpan.FromSeconds(1));

        var stopwatch = Stopwatch.StartNew();
        await current.UnwrapKeyAsync(KeyVaultKey.RsaOaep256, wrapped);

        Assert.True(stopwatch.Elapsed >= TimeSpan.FromMilliseconds(950), $"waited only {stopwatch.Elapsed}");
        Assert.Equal(1, _vault.Unwraps);
        Assert.Equal(3, _vault.Requests);
    }

    [Fact]
    public async Task ThrottlingLongerThanTheCallerWaitsFailsAtOnceWithRetryAfter()
    {
        var key = CreateKey();
        _vault.FailNext(HttpStatusCode.TooManyRequests, retryAfter: TimeSpan.FromMinutes(5));

        var stopwatch = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<KeyManagementUnavailableException>(() => key.ResolveAsync(key.KeyId));

        Assert.Equal(TimeSpan.FromMinutes(5), error.RetryAfter);
        // A fifth of the Retry-After: not waited for, however slow the machine.
        Assert.True(stopwatch.Elapsed < TimeSpan.FromMinutes(1), $"took {stopwatch.Elapsed}");
        Assert.Equal(1, _vault.Requests);
    }

    [Fact]
    public async Task ServerErrorsBecomeUnavailableAfterRetries()
    {
        var key = CreateKey();
        _vault.FailNext(HttpStatusCode.InternalServerError, times: 10);

        await Assert.ThrowsAsync<KeyManagementUnavailableException>(() => key.ResolveAsync(key.KeyId));

        Assert.Equal(4, _vault.Requests);
    }

    [Fact]
    public async Task ServerErrorThatClearsUpIsRetriedTransparently()
    {
        var key = CreateKey();
        _vault.FailNext(HttpStatusCode.ServiceUnavailable, times: 2);

        var current = await key.ResolveAsync(key.KeyId);

        Assert.Equal(_v1, current.KeyId);
        Assert.Equal(3, _vault.Requests);
    }

    [Fact]
    public async Task SlowVaultBecomesUnavailable()
    {
        var options = TestOptions();
        options.Retry.NetworkTimeout = TimeSpan.FromMilliseconds(200);
        options.Retry.MaxRetries = 1;
        var key = CreateKey(options: options);
        _vault.Delay = TimeSpan.FromMinutes(10);

        // The vault would answer after ten minutes: an answer at all is the network timeout's.
        await Assert.ThrowsAsync<KeyManagementUnavailableException>(() => key.ResolveAsync(key.KeyId));
        Assert.Equal(2, _vault.Requests); // the attempt and its one retry
    }

    [Fact]
    public async Task OperationTimeoutBoundsRetriesAndBackOff()
    {
        var options = TestOptions();
        options.OperationTimeout = TimeSpan.FromMilliseconds(300);
        options.Retry.MaxRetries = 10;
        options.Retry.Delay = TimeSpan.FromMilliseconds(200);
        options.Retry.MaxDelay = TimeSpan.FromMilliseconds(200);
        var key = CreateKey(options: options);
        _vault.FailNext(HttpStatusCode.InternalServerError, times: 100);

        await Assert.ThrowsAsync<KeyManagementUnavailableException>(() => key.ResolveAsync(key.KeyId));

        // 300 ms allow two or three attempts 200 ms apart; the retry policy alone would make eleven.
        Assert.InRange(_vault.Requests, 1, 3);
    }

    [Fact]
    public async Task UnreachableVaultBecomesUnavailable()
    {
        var key = new KeyVaultKey(new Uri("https://other-vault.vault.azure.net/keys/user-kek"), _credential, TestOptions(_vault));

        await Assert.ThrowsAsync<KeyManagementUnavailableException>(() => key.ResolveAsync(key.KeyId));
    }

    [Fact]
    public async Task CiphertextTheKeyDidNotWrapIsAClearNonRetryableError()
    {
        var key = CreateKey();
        var current = await key.ResolveAsync(key.KeyId);
        var requestsBefore = _vault.Requests;

        var error = await Assert.ThrowsAsync<RequestFailedException>(() => current.UnwrapKeyAsync(KeyVaultKey.RsaOaep256, RandomNumberGenerator.GetBytes(256)));

        Assert.Equal(400, error.Status);
        Assert.Equal("BadParameter", error.ErrorCode);
        Assert.Contains(_v1, error.Message, StringComparison.Ordinal);
        Assert.Equal(requestsBefore + 1, _vault.Requests);
    }

    [Fact]
    public async Task UnknownKeyIsAClearNonRetryableError()
    {
        var key = new KeyVaultKey(_vault.KeyUri("no-such-key"), _credential, TestOptions(_vault));

        var error = await Assert.ThrowsAsync<RequestFailedException>(() => key.ResolveAsync(key.KeyId));

        Assert.Equal(404, error.Status);
        Assert.Equal(1, _vault.Requests);
    }

    [Fact]
    public async Task DisabledVersionRefusesToUnwrap()
    {
        var key = CreateKey();
        var current = await key.ResolveAsync(key.KeyId);
        var wrapped = await current.WrapKeyAsync(KeyVaultKey.RsaOaep256, new byte[32]);
        _vault.DisableVersion(_v1);

        var error = await Assert.ThrowsAsync<RequestFailedException>(() => current.UnwrapKeyAsync(KeyVaultKey.RsaOaep256, wrapped));

        Assert.Equal(403, error.Status);
    }

    [Fact]
    public async Task KeyIdsOfAnotherVaultAreRefused()
    {
        var key = CreateKey();

        await Assert.ThrowsAsync<ArgumentException>(() => key.ResolveAsync("https://evil.example.net/keys/user-kek/0123456789abcdef"));
        Assert.Equal(0, _vault.Requests);
    }

    [Fact]
    public async Task OnlyRsaOaep256IsSupported()
    {
        var key = CreateKey();

        await Assert.ThrowsAsync<NotSupportedException>(() => key.WrapKeyAsync("RSA1_5", new byte[32]));
    }

    [Fact]
    public async Task VaultRefusesRequestsWithoutApiVersion()
    {
        using var client = new HttpClient(_vault, disposeHandler: false);
        using var request = new HttpRequestMessage(HttpMethod.Get, _vault.KeyUri("user-kek"));
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "fake-token.vault-tenant.1");

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Theory]
    [InlineData("Bearer authorization=\"https://login.microsoftonline.com/t1\", resource=\"https://vault.azure.net\"", "t1", "https://vault.azure.net")]
    [InlineData("Bearer authorization_uri=https://login.windows.net/t2,scope=\"https://vault.azure.net/.default\"", null, "https://vault.azure.net/.default")]
    public void BearerChallengeParametersAreParsed(string header, string? tenantInAuthorization, string resourceOrScope)
    {
        var parameters = KeyVaultChallengePolicy.ParseBearerChallenge(header)!;

        if (tenantInAuthorization is not null)
        {
            Assert.EndsWith(tenantInAuthorization, parameters["authorization"], StringComparison.Ordinal);
        }

        Assert.Contains(resourceOrScope, new[] { parameters.GetValueOrDefault("resource"), parameters.GetValueOrDefault("scope") });
    }

    internal static KeyVaultKeyOptions TestOptions(FakeKeyVault? vault = null)
    {
        var options = new KeyVaultKeyOptions();
        options.Retry.Delay = TimeSpan.FromMilliseconds(10);
        options.Retry.MaxDelay = TimeSpan.FromMilliseconds(50);
        if (vault is not null)
        {
            options.Transport = new HttpClientTransport(vault);
        }

        return options;
    }

    private KeyVaultKey CreateKey(FakeTokenCredential? credential = null, KeyVaultKeyOptions? options = null)
    {
        options ??= TestOptions();
        options.Transport = new HttpClientTransport(_vault);
        return new KeyVaultKey(_vault.KeyUri("user-kek"), credential ?? _credential, options);
    }
}
