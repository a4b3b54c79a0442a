using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EventIngest.Tests.Telemetry;

/// <summary>
/// A collector for the test: accepts OTLP/HTTP protobuf exports on <c>POST /v1/traces</c> and
/// <c>/v1/metrics</c> and decodes the little the tests look at (span tree, metric names, every string).
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedSpan> _spans = new();
    private readonly ConcurrentQueue<string> _metricNames = new();
    private readonly ConcurrentQueue<string> _strings = new();
    private int _exports;

    public sealed record ReceivedSpan(string Scope, string Name, string TraceId, string SpanId, string ParentSpanId, IReadOnlyDictionary<string, string> Attributes);

    private OtlpReceiver(WebApplication app) => _app = app;

    public Uri Endpoint { get; private set; } = null!;
    public int Exports => Volatile.Read(ref _exports);
    public IReadOnlyList<ReceivedSpan> Spans => [.. _spans];
    public IReadOnlySet<string> MetricNames => _metricNames.ToHashSet(StringComparer.Ordinal);
    /// <summary>Every string in every export (names, attribute keys and values, resource).</summary>
    public IReadOnlyList<string> Strings => [.. _strings];

    public static async Task<OtlpReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new OtlpReceiver(app);
        app.MapPost("/v1/traces", async (HttpRequest request) => { receiver.Traces(await BodyAsync(request)); return Results.Ok(); });
        app.MapPost("/v1/metrics", async (HttpRequest request) => { receiver.Metrics(await BodyAsync(request)); return Results.Ok(); });
        await app.StartAsync();
        receiver.Endpoint = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return receiver;
    }

    private static async Task<byte[]> BodyAsync(HttpRequest request)
    {
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer);
        return buffer.ToArray();
    }

    private void Traces(byte[] body)
    {
        Interlocked.Increment(ref _exports);
        CollectStrings(body);
        foreach (var resourceSpans in Fields(body, 1))
        foreach (var scopeSpans in Fields(resourceSpans, 2))
        {
            var scope = Fields(scopeSpans, 1).Select(s => Text(Fields(s, 1).FirstOrDefault())).FirstOrDefault() ?? "";
            foreach (var span in Fields(scopeSpans, 2))
            {
                var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var kv in Fields(span, 9))
                {
                    attributes[Text(Fields(kv, 1).FirstOrDefault())] = Fields(kv, 2).Select(AnyValue).FirstOrDefault() ?? "";
                }
                _spans.Enqueue(new ReceivedSpan(scope, Text(Fields(span, 5).FirstOrDefault()),
                    Hex(Fields(span, 1).FirstOrDefault()), Hex(Fields(span, 2).FirstOrDefault()), Hex(Fields(span, 4).FirstOrDefault()), attributes));
            }
        }
    }

    private void Metrics(byte[] body)
    {
        Interlocked.Increment(ref _exports);
        CollectStrings(body);
        foreach (var resourceMetrics in Fields(body, 1))
        foreach (var scopeMetrics in Fields(resourceMetrics, 2))
        foreach (var metric in Fields(scopeMetrics, 2))
        {
            _metricNames.Enqueue(Text(Fields(metric, 1).FirstOrDefault()));
        }
    }

    // AnyValue: string_value = 1, bool_value = 2, int_value = 3, double_value = 4.
    private static string AnyValue(ReadOnlyMemory<byte> value)
    {
        var reader = new Reader(value);
        while (reader.Next(out var field, out var wire, out var bytes, out var number))
        {
            if (field == 1 && wire == 2) return Text(bytes);
            if (wire == 0) return number.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        return "";
    }

    /// <summary>Every length-delimited field that reads as text, at any depth.</summary>
    private void CollectStrings(ReadOnlyMemory<byte> message, int depth = 0)
    {
        var reader = new Reader(message);
        try
        {
            while (reader.Next(out _, out var wire, out var bytes, out _))
            {
                if (wire != 2) continue;
                if (IsText(bytes.Span)) _strings.Enqueue(Text(bytes));
                if (depth < 12) CollectStrings(bytes, depth + 1);
            }
        }
        catch (FormatException)
        {
            // Not a message: a string or bytes field, collected above.
        }
    }

    private static IEnumerable<ReadOnlyMemory<byte>> Fields(ReadOnlyMemory<byte> message, int wanted)
    {
        var reader = new Reader(message);
        var found = new List<ReadOnlyMemory<byte>>();
        while (reader.Next(out var field, out var wire, out var bytes, out _))
        {
            if (field == wanted && wire == 2) found.Add(bytes);
        }
        return found;
    }

    private static string Text(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);
    private static string Hex(ReadOnlyMemory<byte> bytes) => Convert.ToHexStringLower(bytes.Span);

    private static bool IsText(ReadOnlySpan<byte> bytes) =>
        bytes.Length > 0 && !bytes.ContainsAnyInRange((byte)0, (byte)8) && System.Text.Unicode.Utf8.IsValid(bytes);

    /// <summary>The protobuf wire format, as far as reading fields goes.</summary>
    private struct Reader(ReadOnlyMemory<byte> data)
    {
        private int _position;

        public bool Next(out int field, out int wire, out ReadOnlyMemory<byte> bytes, out ulong number)
        {
            bytes = default;
            number = 0;
            field = 0;
            wire = 0;
            if (_position >= data.Length) return false;
            var tag = Varint();
            field = (int)(tag >> 3);
            wire = (int)(tag & 7);
            switch (wire)
            {
                case 0: number = Varint(); break;
                case 1: Skip(8); break;
                case 5: Skip(4); break;
                case 2:
                    var length = (int)Varint();
                    if (length < 0 || _position + length > data.Length) throw new FormatException("length past the end");
                    bytes = data.Slice(_position, length);
                    _position += length;
                    break;
                default: throw new FormatException($"wire type {wire}");
            }
            if (field == 0) throw new FormatException("field 0");
            return true;
        }

        private void Skip(int count)
        {
            if (_position + count > data.Length) throw new FormatException("past the end");
            _position += count;
        }

        private ulong Varint()
        {
            ulong value = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                if (_position >= data.Length) throw new FormatException("varint past the end");
                var b = data.Span[_position++];
                value |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0) return value;
            }
            throw new FormatException("varint too long");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
