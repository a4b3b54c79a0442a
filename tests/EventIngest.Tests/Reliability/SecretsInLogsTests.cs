using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Azure.Core.Cryptography;
using Azure.Core.Pipeline;
using EventIngest.Encryption;
using EventIngest.Ingest;
using EventIngest.StorageFaults;
using EventIngest.Tests.Encryption;
using EventIngest.Tests.Infrastructure;
using EventIngest.Tests.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static EventIngest.Tests.Infrastructure.KeyHashes;
using EventIngest.Encryption.KeyProviders;
using EventIngest.Ids;

namespace EventIngest.Tests.Reliability;

/// <summary>
/// Every log entry written while events are ingested — successes, refusals and failures of
/// storage and key management, and an erasure by <c>external_id</c> while storage is down — is
/// captured with its message, structured values and exception, and searched for event keys,
/// signing keys and the content of <c>user</c>. So is every span and metric recorded meanwhile.
/// </summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class SecretsInLogsTests(AzuriteFixture azurite)
{
    private const string EventKey = "evtkey-7f3a9c0e5b1d44";
    private const string WrongEventKey = "evtkey-wrong-48c2e913";
    private const string SigningKey = "signkey-prod-91b7d2c4";
    private const string WrongSigningKey = "signkey-wrong-00aa7e1";
    private const string Email = "zebra-4711@example.com";
    private const string ExternalId = "person-secret-0815";
    private const string PersonName = "Ada-Secret-Lovelace";

    private static readonly string User = $$"""{"external_id":"{{ExternalId}}","email":"{{Email}}","name":"{{PersonName}}"}""";

    [Fact]
    public async Task KeysAndUserDataNeverReachTheLogsOrTelemetryEvenOnErrors()
    {
        var logs = new CapturedLogs();
        using var telemetry = new CapturedTelemetry();
        await using var proxy = await StorageFaultProxy.StartAsync(azurite.ConnectionString);
        var prefix = azurite.NewStorageNamePrefix();

        await using (var host = await TestHost.StartAsync(proxy.ConnectionString, prefix, Settings(), s => s.AddSingleton<ILoggerProvider>(logs).AddSingleton<TimeProvider>(new ShiftedTime { StopwatchStopped = true })))
        {
            var due = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds();
            await ExpectAsync(host, 200, $$"""[{"name":"app/a","id":"order-1","user":{{User}}},{"name":"app/b","ts":{{due}},"user":{{User}}}]""");
            await ExpectAsync(host, 200, $$"""{"name":"app/a","id":"order-1","user":{{User}}}""");
            await ExpectAsync(host, 401, $$"""{"name":"app/a","user":{{User}}}""", key: WrongEventKey);
            await ExpectAsync(host, 400, $$"""{"name":"app/a","user":{{User}}}""", env: "other-env");
            await ExpectAsync(host, 400, $$"""[{"name":"","user":{{User}}}]""");
            await ExpectAsync(host, 400, $$"""{"name":"app/a","user":{{User}}""");
            await ExpectAsync(host, 400, $$"""{"name":"app/\ud800","user":{{User}}}""");
            await ExpectAsync(host, 413, "{\"name\":\"app/a\",\"user\":" + User + ",\"data\":{\"s\":\"" + new string('x', 600_000) + "\"}}");
            await ExpectAsync(host, 400, "{\"name\":\"app/a\",\"user\":{\"external_id\":\"" + ExternalId + "\",\"x\":\"\\udc00\"},\"id\":\"\\udc00\"}");

            Assert.Equal(HttpStatusCode.OK, (await GetScheduledAsync(host, SigningKey)).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await GetScheduledAsync(host, WrongSigningKey)).StatusCode);

            // Storage goes away after the keys are in memory: the store-and-enqueue path fails.
            proxy.IsCut = true;
            await ExpectAsync(host, 503, $$"""{"name":"app/a","id":"order-2","user":{{User}}}""");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await GetScheduledAsync(host, SigningKey)).StatusCode);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await EraseAsync(host, SigningKey)).StatusCode);
            proxy.IsCut = false;
            Assert.Equal(HttpStatusCode.OK, (await EraseAsync(host, SigningKey)).StatusCode);

            // Over the rate limit.
            await ExpectAsync(host, 200, "[" + string.Join(',', Enumerable.Repeat($$"""{"name":"app/many","user":{{User}}}""", 200)) + "]");
            await ExpectAsync(host, 429, $$"""{"name":"app/a","user":{{User}}}""");
        }

        // A fresh instance whose storage is down.
        await using (var host = await TestHost.StartAsync(proxy.ConnectionString, prefix, Settings(), s => s.AddSingleton<ILoggerProvider>(logs).AddSingleton<TimeProvider>(new ShiftedTime { StopwatchStopped = true })))
        {
            proxy.IsCut = true;
            await ExpectAsync(host, 503, $$"""{"name":"app/a","user":{{User}}}""");
            proxy.IsCut = false;
        }

        // Key Vault failing (503, then refusing the credential outright) on a fresh instance.
        using var vault = new FakeKeyVault();
        vault.CreateKeyVersion("user-kek");
        var key = new KeyVaultKey(vault.KeyUri("user-kek"), new FakeTokenCredential("vault-tenant"), KeyVaultKeyTests.TestOptions(vault));
        await using (var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(), Settings(), s =>
        {
            s.AddSingleton<ILoggerProvider>(logs);
            s.AddSingleton<IKeyEncryptionKey>(key);
            s.AddSingleton<IKeyEncryptionKeyResolver>(key);
        }))
        {
            vault.FailNext(HttpStatusCode.ServiceUnavailable, times: 100);
            await ExpectAsync(host, 503, $$"""{"name":"app/a","user":{{User}}}""");
            vault.RefuseAllTokens = true;
            await ExpectAsync(host, 500, $$"""{"name":"app/a","user":{{User}}}""");
        }

        var entries = logs.Entries.ToList();
        // The failures were logged, with their exceptions, so there was something to leak.
        Assert.Contains(entries, e => e.Level == LogLevel.Warning && e.Text.Contains("Storage unavailable", StringComparison.Ordinal) && e.Text.Contains("Exception", StringComparison.Ordinal));
        Assert.Contains(entries, e => e.Level == LogLevel.Warning && e.Text.Contains("Key management unavailable", StringComparison.Ordinal));
        Assert.Contains(entries, e => e.Level == LogLevel.Error && e.Text.Contains("credential was refused", StringComparison.Ordinal));
        var recorded = telemetry.Texts;
        // Refusals of each kind and the spans of the requests were recorded, so there was something to leak.
        Assert.Contains(recorded, t => t.Contains("eventingest.refusal.reason=key_vault", StringComparison.Ordinal));
        Assert.Contains(recorded, t => t.Contains("eventingest.refusal.reason=auth", StringComparison.Ordinal));
        Assert.Contains(recorded, t => t.Contains("metric eventingest.erasures", StringComparison.Ordinal));
        Assert.Contains(recorded, t => t.StartsWith("span eventingest.seal", StringComparison.Ordinal));
        foreach (var secret in new[] { EventKey, WrongEventKey, SigningKey, WrongSigningKey, Email, ExternalId, PersonName })
        {
            var leak = entries.FirstOrDefault(e => e.Text.Contains(secret, StringComparison.Ordinal));
            Assert.True(leak is null, $"'{secret}' logged by {leak?.Category}: {leak?.Text}");
            var inTelemetry = recorded.FirstOrDefault(t => t.Contains(secret, StringComparison.Ordinal));
            Assert.True(inTelemetry is null, $"'{secret}' recorded in telemetry: {inTelemetry}");
        }
    }

    private static Dictionary<string, string?> Settings() => new()
    {
        ["EventIngest:Auth:RequireEventKeys"] = "true",
        ["EventIngest:Auth:EventKeys:0:Hash"] = Hash(EventKey),
        ["EventIngest:Auth:EventKeys:0:Environment"] = "production",
        ["EventIngest:Auth:RequireSigningKeys"] = "true",
        ["EventIngest:Auth:SigningKeys:0:Hash"] = Hash(SigningKey),
        ["EventIngest:Auth:SigningKeys:0:Environment"] = "production",
        ["EventIngest:Auth:SigningKeys:0:Scopes"] = "read,erase",
        ["EventIngest:RateLimit:EventsPerSecond"] = "1",
        ["EventIngest:RateLimit:Burst"] = "200",
        ["EventIngest:Storage:OperationTimeout"] = "00:00:10",
        // ASP.NET Core's request log and request scope print the path, which holds the event key or
        // an external_id: whatever the configuration asks for, the hosts keep them out.
        ["Logging:LogLevel:Default"] = "Trace",
        ["Logging:LogLevel:Microsoft.AspNetCore"] = "Trace",
        ["Logging:LogLevel:Microsoft.AspNetCore.Hosting.Diagnostics"] = "Trace",
        ["Logging:LogLevel:EventIngest"] = "Trace",
    };

    private static async Task ExpectAsync(TestHost host, int status, string body, string key = EventKey, string? env = null)
    {
        // The SDKs' way: a new seed for each send (a seed names the ids of one request's events).
        var headers = new Dictionary<string, string> { [IdSeed.HeaderName] = "1743130137367," + Convert.ToBase64String(RandomNumberGenerator.GetBytes(10)) };
        if (env is not null) headers["x-inngest-env"] = env;
        var response = await host.SendAsync(body, key, headers);
        Assert.True(status == (int)response.StatusCode, $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    private static Task<HttpResponseMessage> GetScheduledAsync(TestHost host, string signingKey)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "v1/scheduled");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", signingKey);
        return host.Client.SendAsync(request);
    }

    private static Task<HttpResponseMessage> EraseAsync(TestHost host, string signingKey)
    {
        var request = new HttpRequestMessage(HttpMethod.Delete, "v1/users/" + ExternalId);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", signingKey);
        return host.Client.SendAsync(request);
    }
}
