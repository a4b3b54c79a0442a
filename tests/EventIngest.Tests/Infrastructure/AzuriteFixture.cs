using System.Security.Cryptography;
using EventIngest.DevServer.Azurite;

namespace EventIngest.Tests.Infrastructure;

/// <summary>
/// One in-memory Azurite on free ports, shared by every test class in the
/// <see cref="CollectionName"/> collection. Tests keep apart by naming their tables, queues and
/// containers with <see cref="NewStorageNamePrefix"/>.
/// </summary>
public sealed class AzuriteFixture : IAsyncLifetime
{
    public const string CollectionName = "azurite";

    private AzuriteProcess? azurite;

    public string ConnectionString =>
        azurite?.ConnectionString ?? throw new InvalidOperationException("Azurite has not been started.");

    /// <summary>
    /// A fresh prefix such as "t3k9x0q2a": a lower-case letter then 8 letters or digits, valid at
    /// the start of table, queue and blob container names.
    /// </summary>
    public string NewStorageNamePrefix() =>
        "t" + RandomNumberGenerator.GetString("abcdefghijklmnopqrstuvwxyz0123456789", 8);

    public async Task InitializeAsync() => azurite = await AzuriteProcess.StartAsync();

    public async Task DisposeAsync()
    {
        if (azurite is not null)
        {
            await azurite.DisposeAsync();
        }
    }
}

[CollectionDefinition(AzuriteFixture.CollectionName)]
public sealed class AzuriteCollection : ICollectionFixture<AzuriteFixture>;
