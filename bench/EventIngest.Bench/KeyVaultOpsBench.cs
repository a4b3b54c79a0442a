using System.Diagnostics;
using System.Text;
using EventIngest.DevServer.Azurite;
using EventIngest.Encryption;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using EventIngest.Encryption.KeyProviders;
using EventIngest.Storage;

namespace EventIngest.Bench;

/// <summary>
/// Key Vault operations per 10,000 events: the real <see cref="UserDataProtector"/> over a key table
/// in a fresh in-memory Azurite, with a local key-encryption key that counts lookups, wraps and
/// unwraps. Events are sealed in requests of 100, as the ingest pipeline seals them.
/// </summary>
internal static class KeyVaultOpsBench
{
    private const int Events = 10_000;
    private const int RequestSize = 100;
    private const string Environment = "production";

    public static async Task RunAsync()
    {
        await using var azurite = await AzuriteProcess.StartAsync();
        var keyDirectory = Directory.CreateTempSubdirectory("eventingest-bench-").FullName;
        try
        {
            using var local = LocalKeyEncryptionKey.LoadOrCreate(Path.Combine(keyDirectory, "kek.pem"));
            var tables = new Azure.Data.Tables.TableServiceClient(azurite.ConnectionString);
            // Each scenario has its own key table: Azurite's table reads slow down as a table grows.
            UserDataProtector NewInstance(string table, CountingKeyEncryptionKey key) =>
                new(tables, key, key, Options.Create(new EncryptionOptions()),
                    Options.Create(new StorageOptions { ConnectionString = azurite.ConnectionString, Prefix = table }), TimeProvider.System, NullLogger<UserDataProtector>.Instance);

            Console.WriteLine($"Key Vault operations (key lookups + wraps + unwraps) per {Events:N0} events, sealed in requests of {RequestSize}");
            Console.WriteLine($"{"scenario",-70} {"lookups",7} {"wraps",5} {"unwraps",7} {"ops/10k",7} {"time",7}");

            var cold = new CountingKeyEncryptionKey(local, local);
            await Row("new instance, new environment, 10,000 distinct new people", cold, NewInstance("kva", cold), i => $"a-{i}");

            // Another instance (a restart, a scale-out) finds the environment key that a first one created.
            var creator = new CountingKeyEncryptionKey(local, local);
            await NewInstance("kvb", creator).SealAsync(Environment, "event-0", User("someone"));
            var restarted = new CountingKeyEncryptionKey(local, local);
            var instance = NewInstance("kvb", restarted);
            await Row("new instance, known environment, 10,000 distinct new people", restarted, instance, i => $"b-{i}");

            // Steady state: the instance holds the environment key (reloaded once per EnvironmentKeyCacheDuration).
            await Row("steady state, 10,000 events of 500 people seen before", restarted, instance, i => $"b-{i % 500}");
            await Row("steady state, 10,000 events without external_id", restarted, instance, _ => null);
            var steady = new CountingKeyEncryptionKey(local, local);
            var warm = NewInstance("kvc", steady);
            await warm.SealAsync(Environment, "event-0", User("someone"));
            await Row("steady state, 10,000 distinct new people", steady, warm, i => $"c-{i}");
        }
        finally
        {
            Directory.Delete(keyDirectory, recursive: true);
        }
    }

    private static async Task Row(string label, CountingKeyEncryptionKey key, UserDataProtector protector, Func<int, string?> person)
    {
        var (lookups, wraps, unwraps) = (key.Lookups, key.Wraps, key.Unwraps);
        var started = Stopwatch.StartNew();
        for (var request = 0; request < Events / RequestSize; request++)
        {
            var users = new UserToSeal[RequestSize];
            for (var j = 0; j < RequestSize; j++)
            {
                var i = request * RequestSize + j;
                users[j] = new UserToSeal($"event-{i}", User(person(i)));
            }

            var sealedUsers = await protector.SealBatchAsync(Environment, users);
            if (sealedUsers.Length != RequestSize) throw new InvalidOperationException("Sealing returned the wrong number of values.");
        }

        var (l, w, u) = (key.Lookups - lookups, key.Wraps - wraps, key.Unwraps - unwraps);
        var perTenThousand = (l + w + u) * 10_000.0 / Events;
        Console.WriteLine($"{label,-72} {l,7} {w,5} {u,7} {perTenThousand,7:0.##} {started.Elapsed.TotalSeconds,6:0.0}s");
    }

    private static byte[] User(string? externalId) => externalId is null
        ? Encoding.UTF8.GetBytes("""{"email":"someone@example.com","plan":"pro"}""")
        : Encoding.UTF8.GetBytes($$"""{"external_id":"{{externalId}}","email":"{{externalId}}@example.com"}""");
}
