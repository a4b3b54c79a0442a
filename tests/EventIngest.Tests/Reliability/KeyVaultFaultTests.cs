using System.Net;
using Azure.Core.Cryptography;
using Azure.Core.Pipeline;
using Azure.Data.Tables;
using EventIngest.Encryption;
using EventIngest.Ingest;
using EventIngest.Tests.Encryption;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using EventIngest.Encryption.KeyProviders;

namespace EventIngest.Tests.Reliability;

/// <summary>
/// The event route with its key-encryption key in the in-process fake vault, through faults the
/// real one has: 500s, 429 with Retry-After, answers slower than the timeout, and a wrapped key
/// it cannot unwrap. The route answers 503 with Retry-After (or a clear error), stores nothing,
/// and works again once the vault heals.
/// </summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class KeyVaultFaultTests(AzuriteFixture azurite) : IDisposable
{
    private const string Body = """{"name":"app/signed-up","user":{"external_id":"person-1","email":"p@example.com"}}""";
    private readonly FakeKeyVault _vault = CreateVault();
    private readonly VaultFaults _faults = new();

    public void Dispose() => _vault.Dispose();

    [Fact]
    public async Task ServerErrorsGive503AndNothingStoredThenRecover()
    {
        await using var host = await StartAsync(azurite.NewStorageNamePrefix());
        _faults.Status = HttpStatusCode.InternalServerError;

        await AssertUnavailableAsync(host, expectedRetryAfter: null);

        _faults.Status = null;
        await AssertAcceptedOnceAsync(host);
    }

    [Fact]
    public async Task ThrottlingGives503WithTheVaultsRetryAfterThenRecovers()
    {
        await using var host = await StartAsync(azurite.NewStorageNamePrefix());
        _faults.Status = HttpStatusCode.TooManyRequests;
        _faults.RetryAfter = TimeSpan.FromSeconds(30);

        await AssertUnavailableAsync(host, expectedRetryAfter: TimeSpan.FromSeconds(30));

        _faults.Status = null;
        await AssertAcceptedOnceAsync(host);
    }

    [Fact]
    public async Task SlowVaultGives503WithinTheTimeoutThenRecovers()
    {
        await using var host = await StartAsync(azurite.NewStorageNamePrefix());
        // The vault never answers while the fault lasts: an answer at all is the timeout's.
        _faults.Delay = TimeSpan.FromMinutes(10);

        await AssertUnavailableAsync(host, expectedRetryAfter: null);

        _faults.Delay = TimeSpan.Zero;
        await AssertAcceptedOnceAsync(host);
    }

    [Fact]
    public async Task UnwrapOfAnExistingKeyFailingGives503ThenRecovers()
    {
        var prefix = azurite.NewStorageNamePrefix();
        await using (var first = await StartAsync(prefix))
        {
            Assert.Equal(HttpStatusCode.OK, (await first.SendAsync("""{"name":"app/warm-up","user":{"external_id":"p0"}}""")).StatusCode);
        }

        // A new instance must unwrap the stored environment key, and the vault is down.
        await using var host = await StartAsync(prefix);
        await ClearEventsAsync(host);
        _faults.Status = HttpStatusCode.ServiceUnavailable;
        await AssertUnavailableAsync(host, expectedRetryAfter: null);

        _faults.Status = null;
        await AssertAcceptedOnceAsync(host);
    }

    [Fact]
    public async Task CiphertextTheVaultCannotUnwrapIsAClearErrorAndStoresNothing()
    {
        var prefix = azurite.NewStorageNamePrefix();
        await using (var first = await StartAsync(prefix))
        {
            Assert.Equal(HttpStatusCode.OK, (await first.SendAsync("""{"name":"app/warm-up","user":{"external_id":"p0"}}""")).StatusCode);
        }
        var keys = new TableServiceClient(azurite.ConnectionString).GetTableClient(prefix + "keys");
        var row = (await keys.GetEntityAsync<TableEntity>("environment", "dev")).Value;
        var original = row.GetBinary("WrappedKey");
        var tampered = (byte[])original.Clone();
        tampered[10] ^= 0xFF;
        row["WrappedKey"] = tampered;
        await keys.UpdateEntityAsync(row, row.ETag);

        await using var host = await StartAsync(prefix);
        await ClearEventsAsync(host);
        await StoredState.CreateAsync(host);
        var response = await host.SendAsync(Body);

        // Not something a retry soon gets past, but the SDKs retry a 500 too, and the answer is in the envelope they read.
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        var json = await TestHost.JsonAsync(response);
        Assert.Equal(500, json.GetProperty("status").GetInt32());
        Assert.Empty(json.GetProperty("ids").EnumerateArray());
        Assert.Contains("nothing was acknowledged", json.GetProperty("error").GetString(), StringComparison.Ordinal);
        await StoredState.AssertNothingStoredAsync(host);

        // Put right (by an operator restoring the key record), the same instance recovers.
        row = (await keys.GetEntityAsync<TableEntity>("environment", "dev")).Value;
        row["WrappedKey"] = original;
        await keys.UpdateEntityAsync(row, row.ETag);
        await AssertAcceptedOnceAsync(host);
    }

    private async Task AssertUnavailableAsync(TestHost host, TimeSpan? expectedRetryAfter)
    {
        await StoredState.CreateAsync(host);
        for (var attempt = 0; attempt < 2; attempt++)
        {
            var response = await host.SendAsync(Body, headers: Seeded);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            var retryAfter = response.Headers.RetryAfter?.Delta;
            Assert.True(retryAfter > TimeSpan.Zero, "no Retry-After");
            if (expectedRetryAfter is not null) Assert.Equal(expectedRetryAfter, retryAfter);
            var json = await TestHost.JsonAsync(response);
            Assert.Equal(503, json.GetProperty("status").GetInt32());
            Assert.Empty(json.GetProperty("ids").EnumerateArray());
            Assert.Contains("Key management is unavailable", json.GetProperty("error").GetString(), StringComparison.Ordinal);
        }
        await StoredState.AssertNothingStoredAsync(host);
    }

    private static async Task AssertAcceptedOnceAsync(TestHost host)
    {
        var response = await host.SendAsync(Body, headers: Seeded);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("accepted", (await TestHost.JsonAsync(response)).GetProperty("events")[0].GetProperty("outcome").GetString());
        Assert.Single(await host.ReceiveAllAsync());
        Assert.Single(await host.RowsAsync(host.Storage.Events));
    }

    private static async Task ClearEventsAsync(TestHost host)
    {
        await host.Storage.Queue(host.DefaultQueue).ClearMessagesAsync();
        foreach (var row in await host.RowsAsync(host.Storage.Events)) await host.Storage.Events.DeleteEntityAsync(row.PartitionKey, row.RowKey);
    }

    private static readonly Dictionary<string, string> Seeded = Seeds.Header();

    private Task<TestHost> StartAsync(string prefix)
    {
        var options = KeyVaultKeyTests.TestOptions();
        options.Retry.MaxRetries = 2;
        options.Retry.NetworkTimeout = TimeSpan.FromSeconds(1);
        options.OperationTimeout = TimeSpan.FromSeconds(2);
        options.Transport = new HttpClientTransport(new HttpClient(new VaultFaultHandler(_faults) { InnerHandler = _vault }, disposeHandler: false));
        var key = new KeyVaultKey(_vault.KeyUri("user-kek"), new FakeTokenCredential("vault-tenant"), options);
        return TestHost.StartAsync(azurite.ConnectionString, prefix,
            new Dictionary<string, string?> { ["EventIngest:Encryption:KeyVaultTimeout"] = "00:00:03" },
            services: s =>
            {
                s.AddSingleton<IKeyEncryptionKey>(key);
                s.AddSingleton<IKeyEncryptionKeyResolver>(key);
            });
    }

    private static FakeKeyVault CreateVault()
    {
        var vault = new FakeKeyVault();
        vault.CreateKeyVersion("user-kek");
        return vault;
    }

    /// <summary>What the vault does wrong right now; cleared, it heals.</summary>
    private sealed class VaultFaults
    {
        public HttpStatusCode? Status { get; set; }
        public TimeSpan? RetryAfter { get; set; }
        public TimeSpan Delay { get; set; }
    }

    private sealed class VaultFaultHandler(VaultFaults faults) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (faults.Delay > TimeSpan.Zero) await Task.Delay(faults.Delay, cancellationToken);
            if (faults.Status is not { } status) return await base.SendAsync(request, cancellationToken);
            var response = new HttpResponseMessage(status) { Content = new StringContent("""{"error":{"code":"Injected","message":"Injected fault."}}""") };
            if (faults.RetryAfter is { } after) response.Headers.TryAddWithoutValidation("Retry-After", ((int)after.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture));
            return response;
        }
    }
}
