using System.Text;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using EventIngest.Encryption;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace EventIngest.Tests.Encryption;

/// <summary>Reads back everything the service stored — every table entity, queue message and blob —
/// and looks for the plain text of <c>user</c>.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class NoPlaintextAtRestTests(AzuriteFixture azurite)
{
    private const string Secret = "zebra-secret-4711@example.com";
    private const string ExternalId = "person-xyz-777-external";

    [Fact]
    public async Task UserDataAndExternalIdNeverReachStorageInPlainText()
    {
        var prefix = azurite.NewStorageNamePrefix();
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, prefix);
        var user = $$"""{"email":"{{Secret}}","external_id":"{{ExternalId}}","name":"Ada"}""";
        var big = new string('x', 60_000);
        var far = new DateTimeOffset(2090, 1, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds();
        var soon = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 3_600_000;
        var body = "[" + string.Join(',',
            "{\"name\":\"app/plain\",\"user\":" + user + "}",
            "{\"name\":\"app/with-id\",\"id\":\"order-1\",\"user\":" + user + "}",
            "{\"name\":\"app/big\",\"data\":{\"b\":\"" + big + "\"},\"user\":" + user + "}",
            "{\"name\":\"app/soon\",\"ts\":" + soon + ",\"user\":" + user + "}",
            "{\"name\":\"app/far\",\"ts\":" + far + ",\"user\":" + user + "}",
            "{\"name\":\"app/no-external-id\",\"user\":{\"email\":\"" + Secret + "\"}}") + "]";
        var response = await host.SendAsync(body);
        Assert.Equal(200, (int)response.StatusCode);

        var texts = new List<(string Where, string Text)>();
        var tables = new TableServiceClient(azurite.ConnectionString);
        await foreach (var table in tables.QueryAsync(t => t.Name.CompareTo(prefix) >= 0 && t.Name.CompareTo(prefix + "~") < 0))
        {
            await foreach (var entity in tables.GetTableClient(table.Name).QueryAsync<TableEntity>())
            {
                foreach (var (key, value) in entity)
                {
                    texts.Add(($"table {table.Name} {key}", value is byte[] bytes ? Encoding.UTF8.GetString(bytes) : value?.ToString() ?? ""));
                }
                texts.Add(($"table {table.Name} keys", entity.PartitionKey + entity.RowKey));
            }
        }
        var queues = new QueueServiceClient(azurite.ConnectionString, new QueueClientOptions { MessageEncoding = QueueMessageEncoding.Base64 });
        await foreach (var queue in queues.GetQueuesAsync(prefix: prefix))
        {
            var client = queues.GetQueueClient(queue.Name);
            foreach (var peeked in (await client.PeekMessagesAsync(32)).Value) texts.Add(($"queue {queue.Name}", peeked.Body.ToString()));
        }
        var blobs = new BlobServiceClient(azurite.ConnectionString);
        await foreach (var container in blobs.GetBlobContainersAsync(prefix: prefix))
        {
            var client = blobs.GetBlobContainerClient(container.Name);
            await foreach (var blob in client.GetBlobsAsync())
            {
                texts.Add(($"blob {blob.Name}", (await client.GetBlobClient(blob.Name).DownloadContentAsync()).Value.Content.ToString()));
            }
        }

        Assert.Contains(texts, t => t.Where.StartsWith("blob", StringComparison.Ordinal));
        Assert.Contains(texts, t => t.Where.StartsWith("queue", StringComparison.Ordinal));
        Assert.True(texts.Count > 10, $"only {texts.Count} stored values found");
        foreach (var (where, text) in texts)
        {
            Assert.False(text.Contains(Secret, StringComparison.Ordinal), $"user data in plain text in {where}");
            Assert.False(text.Contains(ExternalId, StringComparison.Ordinal), $"external_id in plain text in {where}");
            Assert.False(text.Contains("\"Ada\"", StringComparison.Ordinal), $"user data in plain text in {where}");
        }

        // And the people who may read it still can.
        var protector = host.Services.GetRequiredService<UserDataProtector>();
        var message = (await host.ReceiveAllAsync()).First(m => m.GetProperty("name").GetString() == "app/plain");
        var opened = await protector.OpenAsync("dev", message.GetProperty("internal_id").GetString()!, message.GetProperty("user").GetString()!);
        Assert.Contains(Secret, Encoding.UTF8.GetString(opened.UserJson!), StringComparison.Ordinal);
    }
}
