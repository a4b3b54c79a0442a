using System.Globalization;
using System.Text;

namespace EventIngest.StorageFaults;

/// <summary>The head of an HTTP/1.1 message: its raw bytes (forwarded verbatim) and the parsed parts the proxy needs.</summary>
internal sealed class HttpHead
{
    private HttpHead(byte[] raw, string startLine, List<KeyValuePair<string, string>> headers)
    {
        Raw = raw;
        StartLine = startLine;
        Headers = headers;
    }

    public byte[] Raw { get; }

    public string StartLine { get; }

    public List<KeyValuePair<string, string>> Headers { get; }

    public static HttpHead Parse(byte[] raw)
    {
        var lines = Encoding.Latin1.GetString(raw).Split("\r\n");
        var headers = new List<KeyValuePair<string, string>>();
        foreach (var line in lines.Skip(1))
        {
            if (line.Length == 0) continue;
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0) throw new InvalidDataException($"malformed header line: {line}");
            headers.Add(new(line[..colon].Trim(), line[(colon + 1)..].Trim()));
        }
        return new HttpHead(raw, lines[0], headers);
    }

    public string? Get(string name) =>
        Headers.FirstOrDefault(h => h.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Value;

    public bool HasToken(string name, string token) =>
        Headers.Where(h => h.Key.Equals(name, StringComparison.OrdinalIgnoreCase))
            .SelectMany(h => h.Value.Split(','))
            .Any(v => v.Trim().Equals(token, StringComparison.OrdinalIgnoreCase));

    public bool IsChunked => HasToken("Transfer-Encoding", "chunked");

    public long? ContentLength => Get("Content-Length") is { } value
        ? long.Parse(value, NumberStyles.None, CultureInfo.InvariantCulture)
        : null;

    /// <summary>The same head without the named header (the raw bytes of every other line kept).</summary>
    public HttpHead Without(string name)
    {
        var text = Encoding.Latin1.GetString(Raw);
        var kept = text.Split("\r\n").Where(line =>
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            return colon <= 0 || !line[..colon].Trim().Equals(name, StringComparison.OrdinalIgnoreCase);
        });
        return Parse(Encoding.Latin1.GetBytes(string.Join("\r\n", kept)));
    }
}

/// <summary>Reads HTTP/1.1 message heads and bodies off a stream, keeping the bytes exactly as they came.</summary>
internal sealed class HttpReader(Stream stream)
{
    private const int MaxHeadBytes = 256 * 1024;
    private readonly byte[] buffer = new byte[64 * 1024];
    private int start;
    private int end;

    /// <summary>The head up to and including the empty line; <see langword="null"/> if the stream ended before a byte of it.</summary>
    public async Task<byte[]?> ReadHeadAsync(CancellationToken cancellationToken)
    {
        var head = new MemoryStream();
        var matched = 0; // of "\r\n\r\n"
        while (true)
        {
            if (start == end && !await FillAsync(cancellationToken))
            {
                if (head.Length == 0) return null;
                throw new EndOfStreamException("the connection closed in the middle of a message head");
            }
            while (start < end)
            {
                var b = buffer[start++];
                // Blank lines before a request line are allowed (RFC 9112 2.2); skip them.
                if (head.Length == 0 && b is (byte)'\r' or (byte)'\n') continue;
                head.WriteByte(b);
                matched = b switch
                {
                    (byte)'\r' => matched == 2 ? 3 : 1,
                    (byte)'\n' when matched is 1 or 3 => matched + 1,
                    _ => 0,
                };
                if (matched == 4) return head.ToArray();
                if (head.Length > MaxHeadBytes) throw new InvalidDataException("message head too large");
            }
        }
    }

    /// <summary>Copies a body framed by <paramref name="head"/> into <paramref name="into"/> as raw bytes (chunk framing kept).</summary>
    public async Task ReadBodyAsync(HttpHead head, bool untilClose, MemoryStream into, CancellationToken cancellationToken)
    {
        if (head.IsChunked)
        {
            while (true)
            {
                var line = await ReadLineAsync(cancellationToken);
                into.Write(line);
                var text = Encoding.Latin1.GetString(line).Trim();
                var semicolon = text.IndexOf(';', StringComparison.Ordinal);
                var size = long.Parse(semicolon < 0 ? text : text[..semicolon], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                if (size == 0)
                {
                    // Trailers, then the empty line.
                    while (true)
                    {
                        var trailer = await ReadLineAsync(cancellationToken);
                        into.Write(trailer);
                        if (trailer.Length <= 2) return;
                    }
                }
                await CopyAsync(size + 2, into, cancellationToken);
            }
        }
        if (head.ContentLength is { } length)
        {
            await CopyAsync(length, into, cancellationToken);
            return;
        }
        if (untilClose)
        {
            while (true)
            {
                if (start == end && !await FillAsync(cancellationToken)) return;
                into.Write(buffer, start, end - start);
                start = end;
            }
        }
    }

    /// <summary>Reads and drops whatever arrives until the peer closes (or the connection breaks).</summary>
    public async Task DrainUntilClosedAsync(CancellationToken cancellationToken)
    {
        start = end;
        while (await FillAsync(cancellationToken)) start = end;
    }

    private async Task CopyAsync(long count, MemoryStream into, CancellationToken cancellationToken)
    {
        while (count > 0)
        {
            if (start == end && !await FillAsync(cancellationToken)) throw new EndOfStreamException("the connection closed in the middle of a body");
            var n = (int)Math.Min(count, end - start);
            into.Write(buffer, start, n);
            start += n;
            count -= n;
        }
    }

    private async Task<byte[]> ReadLineAsync(CancellationToken cancellationToken)
    {
        var line = new MemoryStream();
        while (true)
        {
            if (start == end && !await FillAsync(cancellationToken)) throw new EndOfStreamException("the connection closed in the middle of a chunked body");
            var b = buffer[start++];
            line.WriteByte(b);
            if (b == '\n') return line.ToArray();
            if (line.Length > 16 * 1024) throw new InvalidDataException("chunk line too long");
        }
    }

    private async Task<bool> FillAsync(CancellationToken cancellationToken)
    {
        start = 0;
        end = await stream.ReadAsync(buffer, cancellationToken);
        return end > 0;
    }
}
