using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using EventIngest.Tests.Infrastructure;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace EventIngest.Tests.Ingest;

/// <summary>
/// One body limit, the service's own, whatever the server under it defaults to; and a body that
/// is too large or ends early is answered in the route's JSON error format, never an empty response.
/// </summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class BodyLimitTests(AzuriteFixture azurite)
{
    private const int KestrelDefault = 30_000_000;

    /// <summary>The local host as the Functions worker runs it: Kestrel keeps its default body limit.</summary>
    private Task<TestHost> StartWithKestrelDefaultAsync(long maxRequestBytes) =>
        TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix(),
            new Dictionary<string, string?> { ["EventIngest:Ingest:MaxRequestBytes"] = maxRequestBytes.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            s => s.PostConfigure<KestrelServerOptions>(k => k.Limits.MaxRequestBodySize = KestrelDefault));

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task MaxRequestBytesAboveTheServersDefaultIsTheLimit(bool declareLength)
    {
        await using var host = await StartWithKestrelDefaultAsync(40_000_000);
        // 31 MB: over Kestrel's default, under the setting; whitespace around an empty batch is zero events.
        var body = "[" + new string(' ', 31_000_000) + "]";
        var (status, json) = await RawPostAsync(host, "/e/k", Encoding.ASCII.GetBytes(body), declareLength);
        Assert.Equal(200, status);
        Assert.Equal(200, json.GetProperty("status").GetInt32());
        Assert.Equal(0, json.GetProperty("ids").GetArrayLength());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task OverTheLimitIs413InTheEnvelope(bool declareLength)
    {
        await using var host = await StartWithKestrelDefaultAsync(2048);
        var (status, json) = await RawPostAsync(host, "/e/k", Encoding.ASCII.GetBytes("[" + new string(' ', 4096) + "]"), declareLength);
        Assert.Equal(413, status);
        Assert.Equal(413, json.GetProperty("status").GetInt32());
        Assert.Contains("2048", json.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ABodyBrokenOffMidReadIs400InTheEnvelope()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        await StoredState.CreateAsync(host);
        var (status, json) = await BrokenChunkedPostAsync(host, "POST", "/e/k", """[{"name":"app/x"}""");
        Assert.Equal(400, status);
        Assert.Equal(400, json.GetProperty("status").GetInt32());
        Assert.Contains("body", json.GetProperty("error").GetString(), StringComparison.OrdinalIgnoreCase);
        await StoredState.AssertNothingStoredAsync(host);
    }

    [Fact]
    public async Task RestBodiesThatAreTooLargeOrEndEarlyGetProblemDetails()
    {
        await using var host = await StartWithKestrelDefaultAsync(16 * 1024 * 1024);
        var id = "01JQDAE4RQF8MBCR55T5AK4KXS";

        var (status, json) = await RawPostAsync(host, "/v1/users/erase", Encoding.ASCII.GetBytes("{\"external_id\":\"" + new string('a', 1_000_000) + "\"}"), declareLength: false);
        Assert.Equal(413, status);
        Assert.Equal(413, json.GetProperty("status").GetInt32());

        (status, json) = await BrokenChunkedPostAsync(host, "PATCH", "/v1/events/" + id, """{"ts":""");
        Assert.Equal(400, status);
        Assert.Equal(400, json.GetProperty("status").GetInt32());
        Assert.Contains("body", json.GetProperty("detail").GetString(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task InternalIdsAreCaseInsensitiveOnEveryRoute()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var due = DateTimeOffset.UtcNow.AddHours(2).ToUnixTimeMilliseconds();
        var ids = (await TestHost.JsonAsync(await host.SendAsync($$"""[{"name":"app/a","ts":{{due}}},{"name":"app/b","ts":{{due}}}]"""))).GetProperty("ids");
        var first = ids[0].GetString()!.ToLowerInvariant();
        var second = ids[1].GetString()!.ToLowerInvariant();

        Assert.Equal(HttpStatusCode.OK, (await host.Client.GetAsync("v1/events/" + first)).StatusCode);
        var patched = await host.Client.PatchAsync("v1/events/" + first, new StringContent($$"""{"ts":{{due + 60_000}}}"""));
        Assert.Equal(HttpStatusCode.OK, patched.StatusCode);
        Assert.Equal(ids[0].GetString(), (await TestHost.JsonAsync(patched)).GetProperty("data").GetProperty("internal_id").GetString());
        var cancelled = await host.Client.DeleteAsync("v1/events/" + second);
        Assert.Equal(HttpStatusCode.OK, cancelled.StatusCode);
        Assert.Equal(ids[1].GetString(), (await TestHost.JsonAsync(cancelled)).GetProperty("data").GetProperty("internal_id").GetString());
    }

    /// <summary>A POST over a raw connection, with Content-Length or chunked; the status and JSON body of the answer.</summary>
    private static async Task<(int Status, JsonElement Body)> RawPostAsync(TestHost host, string path, byte[] body, bool declareLength)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(host.BaseAddress.Host, host.BaseAddress.Port);
        var stream = tcp.GetStream();
        var framing = declareLength ? $"Content-Length: {body.Length}" : "Transfer-Encoding: chunked";
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST {path} HTTP/1.1\r\nHost: {host.BaseAddress.Authority}\r\n{framing}\r\nConnection: close\r\n\r\n"));
        var reading = ReadResponseAsync(stream);
        try
        {
            for (var offset = 0; offset < body.Length && !reading.IsCompleted; offset += 64 * 1024)
            {
                var count = Math.Min(64 * 1024, body.Length - offset);
                if (!declareLength) await stream.WriteAsync(Encoding.ASCII.GetBytes($"{count:X}\r\n"));
                await stream.WriteAsync(body.AsMemory(offset, count));
                if (!declareLength) await stream.WriteAsync("\r\n"u8.ToArray());
            }
            if (!declareLength && !reading.IsCompleted) await stream.WriteAsync("0\r\n\r\n"u8.ToArray());
        }
        catch (IOException)
        {
            // The server answered and closed while we were still sending.
        }
        return await reading;
    }

    /// <summary>Sends the start of a chunked body, then a chunk header that is not one: the server
    /// stops reading mid-body. (A client that hangs up instead gets no answer: nobody is there to read it.)</summary>
    private static async Task<(int Status, JsonElement Body)> BrokenChunkedPostAsync(TestHost host, string method, string path, string start)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(host.BaseAddress.Host, host.BaseAddress.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            $"{method} {path} HTTP/1.1\r\nHost: {host.BaseAddress.Authority}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{start.Length:X}\r\n{start}\r\nnot-a-chunk-size\r\n"));
        return await ReadResponseAsync(stream);
    }

    private static async Task<(int Status, JsonElement Body)> ReadResponseAsync(NetworkStream stream)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var bytes = new MemoryStream();
        var buffer = new byte[64 * 1024];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, cts.Token)) > 0) bytes.Write(buffer, 0, read);
        }
        catch (IOException)
        {
            // A reset after the answer: what arrived is what there is.
        }
        var text = Encoding.UTF8.GetString(bytes.ToArray());
        Assert.True(text.Length > 0, "the connection closed without an answer");
        var status = int.Parse(text.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var head = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        var content = head < 0 ? "" : text[(head + 4)..];
        if (text.Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase)) content = Unchunk(content);
        Assert.True(content.Length > 0, "empty answer: " + text);
        return (status, JsonDocument.Parse(content).RootElement.Clone());
    }

    private static string Unchunk(string chunked)
    {
        var result = new StringBuilder();
        var position = 0;
        while (true)
        {
            var lineEnd = chunked.IndexOf("\r\n", position, StringComparison.Ordinal);
            var size = Convert.ToInt32(chunked[position..lineEnd], 16);
            if (size == 0) return result.ToString();
            result.Append(chunked, lineEnd + 2, size);
            position = lineEnd + 2 + size + 2;
        }
    }
}
