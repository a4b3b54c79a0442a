using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;

namespace EventIngest.Tests.Infrastructure;

[Collection(AzuriteFixture.CollectionName)]
public sealed class AzuriteFixtureTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task TablesQueuesAndBlobsWorkThroughTheSdkClients()
    {
        var prefix = azurite.NewStorageNamePrefix();

        var table = new TableClient(azurite.ConnectionString, prefix + "events");
        await table.CreateAsync();
        await table.AddEntityAsync(new TableEntity("p", "r") { ["Name"] = "created" });
        var entity = await table.GetEntityAsync<TableEntity>("p", "r");
        Assert.Equal("created", entity.Value.GetString("Name"));

        var queue = new QueueClient(azurite.ConnectionString, prefix + "-work");
        await queue.CreateAsync();
        await queue.SendMessageAsync("hello");
        var received = await queue.ReceiveMessageAsync();
        Assert.Equal("hello", received.Value.MessageText);

        var container = new BlobContainerClient(azurite.ConnectionString, prefix + "-blobs");
        await container.CreateAsync();
        var blob = container.GetBlobClient("a/b.txt");
        await blob.UploadAsync(BinaryData.FromString("payload"));
        var downloaded = await blob.DownloadContentAsync();
        Assert.Equal("payload", downloaded.Value.Content.ToString());
    }

    [Fact]
    public void StorageNamePrefixesAreFreshValidNames()
    {
        var prefixes = Enumerable.Range(0, 100).Select(_ => azurite.NewStorageNamePrefix()).ToList();

        Assert.All(prefixes, prefix => Assert.Matches("^t[a-z0-9]{8}$", prefix));
        Assert.Equal(prefixes.Count, prefixes.Distinct().Count());
    }
}
