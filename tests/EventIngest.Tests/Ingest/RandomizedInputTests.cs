using System.Net;
using System.Text;
using EventIngest.Tests.Infrastructure;

namespace EventIngest.Tests.Ingest;

/// <summary>
/// Garbled, truncated and oddly typed bodies: every answer is 200 or a clear 4xx, never a 5xx,
/// and exactly the events answered 200 are stored and enqueued.
/// </summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class RandomizedInputTests(AzuriteFixture azurite)
{
    private static readonly string[] Valid =
    [
        """{"name":"app/a","data":{"x":1,"y":[1,2,{"z":null}]},"user":{"external_id":"u1"},"v":"1"}""",
        """[{"name":"app/a"},{"name":"app/b","id":"k-1","ts":1750000000000}]""",
        """{"name":"app/ü","data":{"s":"\u00e9\ud83d\ude00"}}""",
    ];

    [Fact]
    public async Task MalformedBodiesGetA4xxAndStoreNothing()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(),
            new Dictionary<string, string?> { ["EventIngest:Ingest:MaxEventBytes"] = "65536" });
        var random = new Random(20261126);
        var acceptedEvents = 0;
        for (var i = 0; i < 300; i++)
        {
            var body = Mutate(random, Valid[random.Next(Valid.Length)]);
            using var content = new ByteArrayContent(body);
            var response = await host.Client.PostAsync("e/k", content);
            var status = (int)response.StatusCode;
            Assert.True(status is 200 or 400 or 413, $"status {status} for body {Convert.ToBase64String(body)}");
            var json = await TestHost.JsonAsync(response);
            Assert.Equal(status, json.GetProperty("status").GetInt32());
            if (status == 200)
            {
                acceptedEvents += json.GetProperty("events").EnumerateArray().Count(e => e.GetProperty("outcome").GetString() == "accepted");
            }
            else Assert.False(string.IsNullOrWhiteSpace(json.GetProperty("error").GetString()));
        }

        var messages = await host.ReceiveAllAsync();
        Assert.Equal(acceptedEvents, messages.Count);
        Assert.Equal(acceptedEvents, (await host.RowsAsync(host.Storage.Events)).Count);
        Assert.Empty(await host.RowsAsync(host.Storage.Outbox));
    }

    private static byte[] Mutate(Random random, string valid)
    {
        var bytes = Encoding.UTF8.GetBytes(valid);
        switch (random.Next(8))
        {
            case 0: // truncated
                return bytes[..random.Next(1, bytes.Length)];
            case 1: // one byte replaced by anything, including invalid UTF-8
                bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                return bytes;
            case 2: // a field given the wrong type
                string[] fields = ["name", "data", "user", "id", "ts", "v"];
                string[] values = ["1", "1.5", "\"s\"", "[]", "{}", "true", "null", "-1", "1e400", "\"\""];
                return Encoding.UTF8.GetBytes($$"""{"name":"app/x","{{fields[random.Next(fields.Length)]}}":{{values[random.Next(values.Length)]}}}""");
            case 3: // huge string
                return Encoding.UTF8.GetBytes("{\"name\":\"app/x\",\"data\":{\"s\":\"" + new string('x', random.Next(60_000, 120_000)) + "\"}}");
            case 4: // deep nesting
                var depth = random.Next(50, 5000);
                return Encoding.UTF8.GetBytes("""{"name":"app/x","data":{"d":""" + new string('[', depth) + new string(']', depth) + "}}");
            case 5: // trailing garbage
                return [.. bytes, .. Encoding.UTF8.GetBytes(random.Next(2) == 0 ? " x" : "{}")];
            case 6: // random bytes
                var noise = new byte[random.Next(1, 200)];
                random.NextBytes(noise);
                return noise;
            default: // duplicate keys and odd spacing
                return Encoding.UTF8.GetBytes(" {\"name\":\"app/x\", \"name\" : \"app/y\",\"data\":{\"a\":1,\"a\":2}}\n");
        }
    }
}
