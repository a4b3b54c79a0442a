using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;

namespace EventIngest.Tests.Reliability;

/// <summary>Counts the request-body bytes the application reads, below every middleware of the host.</summary>
internal sealed class BodyReadCounter : IStartupFilter
{
    private long _bytes;

    public long Bytes => Interlocked.Read(ref _bytes);

    public void Reset() => Interlocked.Exchange(ref _bytes, 0);

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use((context, nextMiddleware) =>
        {
            context.Request.Body = new CountingStream(context.Request.Body, this);
            return nextMiddleware(context);
        });
        next(app);
    };

    private sealed class CountingStream(Stream inner, BodyReadCounter counter) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

        public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Count(await inner.ReadAsync(buffer.AsMemory(offset, count), cancellationToken));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Count(await inner.ReadAsync(buffer, cancellationToken));

        private int Count(int read)
        {
            Interlocked.Add(ref counter._bytes, read);
            return read;
        }
    }
}

/// <summary>
/// Sends a request body of any length over a raw connection, generating it as it goes (never
/// held in memory): the start of a valid event whose <c>data</c> string never ends. Stops writing
/// as soon as the response's status line arrives and reports how much had been written by then.
/// </summary>
internal static class EndlessBody
{
    private static readonly byte[] Prefix = "[{\"name\":\"app/huge\",\"data\":{\"s\":\""u8.ToArray();

    public static async Task<(int Status, long BytesWritten)> SendAsync(Uri baseAddress, string path, long length, bool declareLength, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(baseAddress.Host, baseAddress.Port, cts.Token);
        var stream = tcp.GetStream();
        var framing = declareLength ? $"Content-Length: {length}" : "Transfer-Encoding: chunked";
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST {path} HTTP/1.1\r\nHost: {baseAddress.Authority}\r\n{framing}\r\n\r\n"), cts.Token);

        var status = ReadStatusAsync(stream, cts.Token);
        var chunk = new byte[64 * 1024];
        chunk.AsSpan().Fill((byte)'x');
        Prefix.CopyTo(chunk, 0);
        var written = 0L;
        while (written < length && !status.IsCompleted)
        {
            var count = (int)Math.Min(chunk.Length, length - written);
            var write = WriteAsync(stream, chunk.AsMemory(0, count), declareLength, cts.Token);
            if (await Task.WhenAny(write, status) == status) break;
            try
            {
                await write;
            }
            catch (IOException)
            {
                break; // the server closed the connection after answering
            }
            written += count;
            if (written == count) chunk.AsSpan(0, Prefix.Length).Fill((byte)'x');
        }
        return (await status, written);
    }

    private static async Task WriteAsync(Stream stream, ReadOnlyMemory<byte> data, bool raw, CancellationToken ct)
    {
        if (!raw) await stream.WriteAsync(Encoding.ASCII.GetBytes($"{data.Length:X}\r\n"), ct);
        await stream.WriteAsync(data, ct);
        if (!raw) await stream.WriteAsync("\r\n"u8.ToArray(), ct);
    }

    private static async Task<int> ReadStatusAsync(Stream stream, CancellationToken ct)
    {
        var line = new StringBuilder();
        var one = new byte[1];
        while (!line.ToString().EndsWith("\r\n", StringComparison.Ordinal))
        {
            if (await stream.ReadAsync(one, ct) == 0) throw new IOException("closed before a status line: " + line);
            line.Append((char)one[0]);
        }
        // "HTTP/1.1 413 Payload Too Large"
        return int.Parse(line.ToString().Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }
}
