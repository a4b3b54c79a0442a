using System.Text;
using System.Text.Json;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;
using EventIngest.Encryption;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace EventIngest.Tests.Encryption;

/// <summary>Reads back everything the service stored — every entity of every table, every message (visible or
/// not) of every queue and every blob of every container under the host's prefix — and looks for the plain
/// text of <c>user</c>.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class NoPlaintextAtRestTests(AzuriteFixture azurite)
{
    private const string Secret = "zebra-secret-4711@example.com";
    private const string ExternalId = "person-xyz-777-external";

    [Fact]
    public async Task UserDataAndExternalIdNeverReachStorageInPlainText()
    {
        var prefix = azurite.NewStorageNamePrefix();
        // The host's own due poll waits an hour between passes: the scheduled event's marker stays on the due queue.
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, prefix,
            new Dictionary<string, string?> { ["EventIngest:Local:DuePollInterval"] = "01:00:00" });
        var user = $$"""{"email":"{{Secret}}","external_id":"{{ExternalId}}","name":"Ada"}""";
        var big = new string('x', 60_000);
        var far = new DateTimeOffset(2090, 1, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds();
        var soon = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 3_000;
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
        var messages = await ReadEveryMessageAsync(queues, prefix);
        texts.AddRange(messages.Select(m => ($"queue {m.Queue}", m.Text)));
        var blobs = new BlobServiceClient(azurite.ConnectionString);
        await foreach (var container in blobs.GetBlobContainersAsync(prefix: prefix))
        {
            var client = blobs.GetBlobContainerClient(container.Name);
            await foreach (var blob in client.GetBlobsAsync())
            {
                texts.Add(($"blob {blob.Name}", (await client.GetBlobClient(blob.Name).DownloadContentAsync()).Value.Content.ToString()));
            }
        }

        // Where each kind of event waits: records, claims and the schedule (index and parked rows) in tables,
        // messages on the event queue, the scheduled event's marker on the due queue, the large envelope in a blob.
        foreach (var where in new[] { $"table {host.Storage.Events.Name} ", $"table {host.Storage.Idempotency.Name} ", $"table {host.Storage.Schedule.Name} ",
            $"queue {host.DefaultQueue}", $"queue {host.Storage.DueQueueName}", "blob " })
        {
            Assert.Contains(texts, t => t.Where.StartsWith(where, StringComparison.Ordinal));
        }
        Assert.Equal(4, messages.Count(m => m.Queue == host.DefaultQueue));
        Assert.Single(messages, m => m.Queue == host.Storage.DueQueueName);
        foreach (var (where, text) in texts)
        {
            Assert.False(text.Contains(Secret, StringComparison.Ordinal), $"user data in plain text in {where}");
            Assert.False(text.Contains(ExternalId, StringComparison.Ordinal), $"external_id in plain text in {where}");
            Assert.False(text.Contains("\"Ada\"", StringComparison.Ordinal), $"user data in plain text in {where}");
        }

        // And the people who may read it still can.
        var protector = host.Services.GetRequiredService<UserDataProtector>();
        var message = messages.Where(m => m.Queue == host.DefaultQueue).Select(m => JsonDocument.Parse(m.Text).RootElement)
            .First(m => m.GetProperty("name").GetString() == "app/plain");
        var opened = await protector.OpenAsync("dev", message.GetProperty("internal_id").GetString()!, message.GetProperty("user").GetString()!);
        Assert.Contains(Secret, Encoding.UTF8.GetString(opened.UserJson!), StringComparison.Ordinal);
    }

    /// <summary>Every message of every queue under the prefix, visible or not. A peek shows only visible
    /// messages (32 at most), and a scheduled event's due marker is invisible until its due time: each queue
    /// is received from until as many messages have been read as it holds, waiting (<see cref="Waits.Generous"/>
    /// at most) for invisible ones to appear. A received message stays invisible for ten minutes, so each is read once.</summary>
    private static async Task<List<(string Queue, string Text)>> ReadEveryMessageAsync(QueueServiceClient queues, string prefix)
    {
        var read = new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
        var deadline = DateTime.UtcNow + Waits.Generous;
        while (true)
        {
            var unread = new List<string>();
            await foreach (var queue in queues.GetQueuesAsync(prefix: prefix))
            {
                var client = queues.GetQueueClient(queue.Name);
                if (!read.TryGetValue(queue.Name, out var seen)) read[queue.Name] = seen = new(StringComparer.Ordinal);
                QueueMessage[] batch;
                do
                {
                    batch = (await client.ReceiveMessagesAsync(32, TimeSpan.FromMinutes(10))).Value;
                    foreach (var m in batch) seen[m.MessageId] = m.Body.ToString();
                }
                while (batch.Length > 0);
                var held = (await client.GetPropertiesAsync()).Value.ApproximateMessagesCount;
                if (seen.Count < held) unread.Add($"{queue.Name}: {seen.Count} of {held} read");
            }
            if (unread.Count == 0) return [.. read.SelectMany(q => q.Value.Values.Select(text => (q.Key, text)))];
            Assert.True(DateTime.UtcNow < deadline, $"messages still invisible after {Waits.Generous.TotalSeconds} s: " + string.Join("; ", unread));
            await Task.Delay(200);
        }
    }
}
