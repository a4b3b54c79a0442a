using System.Buffers.Text;
using System.Net;
using System.Text;
using System.Text.Json;
using Azure.Core.Pipeline;
using Azure.Data.Tables;
using EventIngest.Encryption;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using EventIngest.Encryption.KeyProviders;
using EventIngest.Storage;

namespace EventIngest.Tests.Encryption;

/// <summary>The protector end to end: key table in Azurite, key-encryption key in the fake vault.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class UserDataProtectorTests : IDisposable
{
    private const string Production = "production";
    private readonly AzuriteFixture _azurite;
    private readonly FakeKeyVault _vault = new();
    private readonly string _prefix;
    private readonly string _v1;

    public UserDataProtectorTests(AzuriteFixture azurite)
    {
        _azurite = azurite;
        _prefix = azurite.NewStorageNamePrefix();
        _v1 = _vault.CreateKeyVersion("user-kek");
    }

    public void Dispose() => _vault.Dispose();

    [Theory]
    [InlineData("""{"external_id":"user-1","email":"ada@example.com","name":"Ada"}""")]
    [InlineData("""{"email":"nobody@example.com"}""")]
    [InlineData("{}")]
    public async Task SealedUserOpensToTheSameJson(string user)
    {
        var protector = CreateProtector();
        const string id = "01JDQ3ZK7P4V6B8N2M5X9C1R3T";

        var sealedUser = await protector.SealAsync(Production, id, Encoding.UTF8.GetBytes(user));
        var opened = await protector.OpenAsync(Production, id, sealedUser);

        Assert.False(opened.IsErased);
        Assert.Equal(user, Encoding.UTF8.GetString(opened.UserJson!));
        Assert.DoesNotContain("example.com", sealedUser, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EveryFlippedByteFailsToOpen()
    {
        var protector = CreateProtector();
        var sealedUser = await protector.SealAsync(Production, "event-1", User("user-1"));
        var bytes = Base64Url.DecodeFromChars(sealedUser);

        for (var i = 0; i < bytes.Length; i++)
        {
            var altered = (byte[])bytes.Clone();
            altered[i] ^= 0x80;
            await Assert.ThrowsAsync<UserDataUnreadableException>(() => protector.OpenAsync(Production, "event-1", Base64Url.EncodeToString(altered)).AsTask());
        }

        Assert.False((await protector.OpenAsync(Production, "event-1", sealedUser)).IsErased);
    }

    [Fact]
    public async Task ValueMovedToAnotherEventOrEnvironmentFailsToOpen()
    {
        var protector = CreateProtector();
        var forPerson = await protector.SealAsync(Production, "event-1", User("user-1"));
        var forNobody = await protector.SealAsync(Production, "event-1", Encoding.UTF8.GetBytes("""{"plan":"pro"}"""));
        await protector.SealAsync("staging", "event-0", User("user-1"));

        foreach (var sealedUser in new[] { forPerson, forNobody })
        {
            await Assert.ThrowsAsync<UserDataUnreadableException>(() => protector.OpenAsync(Production, "event-2", sealedUser).AsTask());
            await Assert.ThrowsAsync<UserDataUnreadableException>(() => protector.OpenAsync("staging", "event-1", sealedUser).AsTask());
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("{\"external_id\":\"user-1\"}")]
    [InlineData("AQEBAAAA")]
    [InlineData("!!!!")]
    public async Task GarbageFailsToOpen(string garbage)
    {
        var protector = CreateProtector();

        await Assert.ThrowsAsync<UserDataUnreadableException>(() => protector.OpenAsync(Production, "event-1", garbage).AsTask());
    }

    [Fact]
    public async Task ValueSealedUnderTheOldKeyVersionOpensAfterRotationAndAfterRewrap()
    {
        var sealedUser = await CreateProtector().SealAsync(Production, "event-1", User("user-1"));
        var anonymous = await CreateProtector().SealAsync(Production, "event-2", Encoding.UTF8.GetBytes("{}"));
        var v2 = _vault.CreateKeyVersion("user-kek");

        var afterRotation = CreateProtector();
        Assert.False((await afterRotation.OpenAsync(Production, "event-1", sealedUser)).IsErased);
        Assert.Equal(_v1, _vault.UnwrappedWith.Last());

        await afterRotation.SealAsync("staging", "event-3", User("user-1"));
        Assert.Equal(v2, (await KeyRowAsync("environment", "staging"))["KeyEncryptionKeyId"]);

        Assert.Equal(v2, await afterRotation.RewrapEnvironmentKeyAsync(Production));
        _vault.DisableVersion(_v1);
        var afterRewrap = CreateProtector();
        Assert.False((await afterRewrap.OpenAsync(Production, "event-1", sealedUser)).IsErased);
        Assert.False((await afterRewrap.OpenAsync(Production, "event-2", anonymous)).IsErased);
        Assert.Equal(v2, _vault.UnwrappedWith.Last());
    }

    [Fact]
    public async Task RewrapUnderTheCurrentVersionChangesNothing()
    {
        var protector = CreateProtector();
        await protector.SealAsync(Production, "event-1", User("user-1"));
        var unwrapsBefore = _vault.Unwraps;

        Assert.Equal(_v1, await protector.RewrapEnvironmentKeyAsync(Production));
        Assert.Equal(unwrapsBefore, _vault.Unwraps);
    }

    [Fact]
    public async Task RewrapOfAnEnvironmentWithoutKeyIsRefused()
    {
        await Assert.ThrowsAsync<InvalidOperationException>(() => CreateProtector().RewrapEnvironmentKeyAsync("never-used"));
    }

    [Fact]
    public async Task ErasedPersonReadsAsErasedWhileOthersStillOpen()
    {
        var protector = CreateProtector();
        var ada1 = await protector.SealAsync(Production, "event-1", User("ada"));
        var ada2 = await protector.SealAsync(Production, "event-2", User("ada"));
        var bob = await protector.SealAsync(Production, "event-3", User("bob"));
        var nobody = await protector.SealAsync(Production, "event-4", Encoding.UTF8.GetBytes("""{"plan":"pro"}"""));
        var adaInStaging = await protector.SealAsync("staging", "event-5", User("ada"));

        var receipt = await protector.EraseAsync(Production, "ada");

        Assert.Equal("ada", receipt.ExternalId);
        Assert.InRange(receipt.ErasedAt, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddMinutes(1));
        Assert.True((await protector.OpenAsync(Production, "event-1", ada1)).IsErased);
        Assert.True((await CreateProtector().OpenAsync(Production, "event-2", ada2)).IsErased);
        Assert.False((await protector.OpenAsync(Production, "event-3", bob)).IsErased);
        Assert.False((await protector.OpenAsync(Production, "event-4", nobody)).IsErased);
        Assert.False((await protector.OpenAsync("staging", "event-5", adaInStaging)).IsErased);
    }

    [Fact]
    public async Task PersonWhoComesBackAfterErasureGetsFreshKeysAndOldEventsStayErased()
    {
        var protector = CreateProtector();
        var before = await protector.SealAsync(Production, "event-1", User("ada"));
        await protector.EraseAsync(Production, "ada");

        var after = await protector.SealAsync(Production, "event-2", User("ada"));

        var opened = await CreateProtector().OpenAsync(Production, "event-2", after);
        Assert.Equal(User("ada"), opened.UserJson);
        Assert.True((await protector.OpenAsync(Production, "event-1", before)).IsErased);
        Assert.True((await CreateProtector().OpenAsync(Production, "event-1", before)).IsErased);
        Assert.NotEqual(Base64Url.DecodeFromChars(before).AsSpan(19, 8).ToArray(), Base64Url.DecodeFromChars(after).AsSpan(19, 8).ToArray());
    }

    [Fact]
    public async Task NumericExternalIdIsErasedByItsText()
    {
        var protector = CreateProtector();
        var sealedUser = await protector.SealAsync(Production, "event-1", Encoding.UTF8.GetBytes("""{"external_id":12345}"""));

        await protector.EraseAsync(Production, "12345");

        Assert.True((await protector.OpenAsync(Production, "event-1", sealedUser)).IsErased);
    }

    [Fact]
    public async Task ErasureReachesOtherInstancesWithinThePersonKeyCacheDuration()
    {
        var time = new ShiftedTime { StopwatchStopped = true };
        var erasing = CreateProtector(time);
        var other = CreateProtector(time);
        var sealedUser = await erasing.SealAsync(Production, "event-1", User("ada"));
        Assert.False((await other.OpenAsync(Production, "event-1", sealedUser)).IsErased);

        await erasing.EraseAsync(Production, "ada");
        time.AdvanceStopwatch(TimeSpan.FromSeconds(30));
        var withinBound = await other.OpenAsync(Production, "event-1", sealedUser);
        time.AdvanceStopwatch(TimeSpan.FromSeconds(30));
        var afterBound = await other.OpenAsync(Production, "event-1", sealedUser);

        Assert.False(withinBound.IsErased);
        Assert.True(afterBound.IsErased);
    }

    [Fact]
    public async Task ErasingSomeoneUnknownSucceeds()
    {
        var receipt = await CreateProtector().EraseAsync(Production, "never-seen");

        Assert.Equal("never-seen", receipt.ExternalId);
    }

    [Fact]
    public async Task KeyTableHoldsNeitherExternalIdsNorUserDataNorKeysInTheClear()
    {
        var protector = CreateProtector();
        var externalIds = Enumerable.Range(0, 20).Select(i => $"person-{i}@example.org").ToArray();
        foreach (var externalId in externalIds)
        {
            await protector.SealAsync(Production, "event-" + externalId, Encoding.UTF8.GetBytes($$"""{"external_id":"{{externalId}}","secret":"distinctive-{{externalId}}"}"""));
        }

        var rows = await RowsAsync();
        var stored = string.Join("\n", rows.SelectMany(row => row.Select(p => $"{p.Key}={(p.Value is byte[] b ? Convert.ToBase64String(b) + Encoding.Latin1.GetString(b) : p.Value)}")));

        Assert.Equal(externalIds.Length + 1, rows.Count);
        Assert.DoesNotContain("person-", stored, StringComparison.Ordinal);
        Assert.DoesNotContain("example.org", stored, StringComparison.Ordinal);
        Assert.DoesNotContain("distinctive", stored, StringComparison.Ordinal);
        Assert.All(rows.Where(r => r.PartitionKey != "environment"), row => Assert.Equal(60, row.GetBinary("WrappedKey")!.Length));
    }

    [Fact]
    public async Task SealingTenThousandEventsOfDistinctPeopleTakesAHandfulOfKeyVaultOperations()
    {
        var protector = CreateProtector();
        var sealedUsers = new List<string>();
        for (var batch = 0; batch < 2; batch++)
        {
            var users = Enumerable.Range(batch * 5000, 5000)
                .Select(i => new UserToSeal($"event-{i}", i % 10 == 0 ? Encoding.UTF8.GetBytes("""{"plan":"free"}""") : User($"person-{i}")))
                .ToArray();
            sealedUsers.AddRange(await protector.SealBatchAsync(Production, users));
        }

        Assert.Equal(10_000, sealedUsers.Count);
        Assert.InRange(_vault.KeyOperations, 1, 3);
        Assert.Equal(User("person-9999"), (await protector.OpenAsync(Production, "event-9999", sealedUsers[9999])).UserJson);
        Assert.Equal(User("person-1"), (await CreateProtector().OpenAsync(Production, "event-1", sealedUsers[1])).UserJson);
        Assert.InRange(_vault.KeyOperations, 2, 4);
    }

    [Fact]
    public async Task BatchSealingKeepsOrderAndMatchesSingleSealing()
    {
        var protector = CreateProtector();
        var users = new[]
        {
            new UserToSeal("event-1", User("ada")),
            new UserToSeal("event-2", Encoding.UTF8.GetBytes("{}")),
            new UserToSeal("event-3", User("ada")),
            new UserToSeal("event-4", User("bob")),
        };

        var sealedUsers = await protector.SealBatchAsync(Production, users);
        var single = await protector.SealAsync(Production, "event-5", User("ada"));

        for (var i = 0; i < users.Length; i++)
        {
            Assert.Equal(users[i].UserJson.ToArray(), (await protector.OpenAsync(Production, users[i].InternalId, sealedUsers[i])).UserJson);
        }

        Assert.Equal(Base64Url.DecodeFromChars(sealedUsers[0]).AsSpan(0, 27).ToArray(), Base64Url.DecodeFromChars(single).AsSpan(0, 27).ToArray());
    }

    [Fact]
    public async Task ConcurrentColdStartUnwrapsTheEnvironmentKeyOnce()
    {
        await CreateProtector().SealAsync(Production, "event-0", User("warm-up"));
        var unwrapsBefore = _vault.Unwraps;
        var coldInstance = CreateProtector();

        await Task.WhenAll(Enumerable.Range(0, 64).Select(i => Task.Run(() => coldInstance.SealAsync(Production, $"event-{i}", User($"person-{i % 8}")).AsTask())));

        Assert.Equal(unwrapsBefore + 1, _vault.Unwraps);
    }

    [Fact]
    public async Task ConcurrentFirstEventsOfOnePersonOnTwoInstancesShareOneKey()
    {
        await CreateProtector().SealAsync(Production, "event-0", Encoding.UTF8.GetBytes("{}"));
        var first = CreateProtector();
        var second = CreateProtector();

        var sealedUsers = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(() =>
            (i % 2 == 0 ? first : second).SealAsync(Production, $"event-{i}", User("ada")).AsTask())));

        var versions = sealedUsers.Select(s => Convert.ToHexString(Base64Url.DecodeFromChars(s).AsSpan(19, 8))).Distinct();
        Assert.Single(versions);
        Assert.Equal(2, (await RowsAsync()).Count);
        for (var i = 0; i < sealedUsers.Length; i++)
        {
            Assert.False((await CreateProtector().OpenAsync(Production, $"event-{i}", sealedUsers[i])).IsErased);
        }
    }

    [Fact]
    public async Task KeyVaultOutageOnColdStartIsUnavailableAndLeavesNothingBehind()
    {
        await CreateProtector().SealAsync(Production, "event-0", Encoding.UTF8.GetBytes("{}"));
        var protector = CreateProtector();
        _vault.FailNext(HttpStatusCode.ServiceUnavailable, times: 4, retryAfter: TimeSpan.FromSeconds(1));

        var error = await Assert.ThrowsAsync<KeyManagementUnavailableException>(() => protector.SealAsync(Production, "event-1", User("ada")).AsTask());
        var rowsDuringOutage = (await RowsAsync()).Count;
        var sealedUser = await protector.SealAsync(Production, "event-1", User("ada"));

        Assert.Equal(TimeSpan.FromSeconds(1), error.RetryAfter);
        Assert.Equal(1, rowsDuringOutage);
        Assert.False((await protector.OpenAsync(Production, "event-1", sealedUser)).IsErased);
    }

    [Fact]
    public async Task ThrottledKeyVaultAsksToWaitIsUnavailableWithItsRetryAfter()
    {
        var protector = CreateProtector();
        _vault.FailNext(HttpStatusCode.TooManyRequests, retryAfter: TimeSpan.FromSeconds(20));

        var error = await Assert.ThrowsAsync<KeyManagementUnavailableException>(() => protector.SealAsync(Production, "event-1", User("ada")).AsTask());

        Assert.Equal(TimeSpan.FromSeconds(20), error.RetryAfter);
    }

    [Fact]
    public async Task UnreachableKeyTableIsUnavailable()
    {
        var options = new TableClientOptions();
        options.Retry.MaxRetries = 1;
        options.Retry.Delay = TimeSpan.FromMilliseconds(10);
        var unreachable = new TableServiceClient(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;",
            options);
        var protector = CreateProtector(tables: unreachable);

        await Assert.ThrowsAsync<KeyManagementUnavailableException>(() => protector.SealAsync(Production, "event-1", User("ada")).AsTask());
    }

    [Fact]
    public async Task SealingWithWarmKeysAllocatesLittleMoreThanTheResult()
    {
        var protector = CreateProtector();
        var user = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { external_id = "ada", bio = new string('x', 990) }));
        Assert.InRange(user.Length, 1000, 1024);
        await protector.SealAsync(Production, "01JDQ3ZK7P4V6B8N2M5X9C1R3T", user);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            var pending = protector.SealAsync(Production, "01JDQ3ZK7P4V6B8N2M5X9C1R3T", user);
            Assert.True(pending.IsCompletedSuccessfully);
        }

        var perEvent = (GC.GetAllocatedBytesForCurrentThread() - before) / 1000;
        var resultSize = 22 + 2 * Base64Url.GetEncodedLength(user.Length + SealedUserFormat.PersonHeaderSize + SealedUserFormat.Overhead);
        Assert.InRange(perEvent, resultSize, Math.Min(4096, resultSize + 64));
    }

    private static byte[] User(string externalId) =>
        Encoding.UTF8.GetBytes($$"""{"external_id":"{{externalId}}","email":"{{externalId}}@example.com"}""");

    private UserDataProtector CreateProtector(TimeProvider? time = null, TableServiceClient? tables = null)
    {
        var keyOptions = KeyVaultKeyTests.TestOptions(_vault);
        var key = new KeyVaultKey(_vault.KeyUri("user-kek"), new FakeTokenCredential("vault-tenant"), keyOptions);
        var encryption = new EncryptionOptions { KeyVaultKeyId = _vault.KeyUri("user-kek") };
        var storage = new StorageOptions { ConnectionString = _azurite.ConnectionString, Prefix = _prefix, OperationTimeout = TimeSpan.FromSeconds(5) };
        return new UserDataProtector(
            tables ?? new TableServiceClient(_azurite.ConnectionString),
            key,
            key,
            Options.Create(encryption),
            Options.Create(storage),
            time ?? TimeProvider.System,
            NullLogger<UserDataProtector>.Instance);
    }

    private async Task<List<TableEntity>> RowsAsync()
    {
        var rows = new List<TableEntity>();
        await foreach (var row in new TableServiceClient(_azurite.ConnectionString).GetTableClient(_prefix + "keys").QueryAsync<TableEntity>())
        {
            rows.Add(row);
        }

        return rows;
    }

    private async Task<TableEntity> KeyRowAsync(string partitionKey, string rowKey) =>
        (await new TableServiceClient(_azurite.ConnectionString).GetTableClient(_prefix + "keys").GetEntityAsync<TableEntity>(partitionKey, rowKey)).Value;
}
