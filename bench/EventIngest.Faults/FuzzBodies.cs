using System.Globalization;
using System.Text;

namespace EventIngest.Faults;

/// <summary>One generated request: its body and headers, and what kind of input it is.</summary>
internal sealed record FuzzRequest(string Kind, byte[] Body, string? Seed, string? Environment, string Key);

/// <summary>
/// Generates request bodies from a seed: valid events with odd but legal content, events with
/// one field wrong, and syntactic damage (truncation, flipped bytes, invalid UTF-8, unpaired
/// surrogate escapes, deep nesting, huge literals, trailing garbage). The same seed gives the
/// same sequence, so a failure can be replayed.
/// </summary>
internal sealed class FuzzBodies(int seed)
{
    private static readonly string[] Names = ["app/user.created", "app/ü/名前", "a", "app/" + new string('n', 252), "app/😀", "billing/invoice.paid", "x/\\\"quoted\\\"", "inngest", "inngest-ish/x", "app/\\u0041"];
    private static readonly string[] OddValues =
    [
        "null", "true", "false", "0", "-0", "1", "-1", "1.5", "1e308", "1e400", "-1e400", "123456789012345678901234567890", "0.0000000000001",
        "\"\"", "\"s\"", "\"\\u0000\"", "\"\\ud800\"", "\"\\udc00\\ud800\"", "\"\\ud83d\\ude00\"", "\"\\\\\"", "\"\\/\"", "[]", "{}", "[[]]", "{\"\":{}}",
        "[1,\"a\",null,{}]", "{\"_inngest\":{\"x\":1}}", "\"" + new string('x', 1000) + "\"",
    ];
    private static readonly string[] Fields = ["name", "data", "user", "id", "ts", "v", "NAME", "Data", "Ts", "extra", "_inngest", ""];

    private readonly Random _random = new(seed);

    public FuzzRequest Next()
    {
        var r = _random;
        var kind = r.Next(100) switch
        {
            < 25 => "valid",
            < 50 => "wrong field",
            < 62 => "mutated",
            < 70 => "truncated",
            < 76 => "invalid utf-8",
            < 82 => "structure",
            < 88 => "literal",
            < 94 => "noise",
            _ => "headers",
        };
        var body = kind switch
        {
            "valid" => Utf8(ValidBatch()),
            "wrong field" => Utf8(WrongField()),
            "mutated" => Mutate(Utf8(ValidBatch())),
            "truncated" => Truncate(Utf8(ValidBatch())),
            "invalid utf-8" => InvalidUtf8(Utf8(ValidBatch())),
            "structure" => Utf8(Structure()),
            "literal" => Utf8(Literal()),
            "noise" => Noise(),
            _ => Utf8(ValidBatch()),
        };
        var headers = kind == "headers" || r.Next(10) == 0;
        return new FuzzRequest(kind, body, headers ? Seed() : r.Next(3) == 0 ? ValidSeed() : null, headers ? Environment() : null, headers ? Key() : "fuzz-key");
    }

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    private string ValidBatch()
    {
        var r = _random;
        var count = r.Next(10) switch { < 6 => 1, < 9 => r.Next(2, 6), _ => r.Next(6, 40) };
        var events = Enumerable.Range(0, count).Select(_ => ValidEvent()).ToList();
        return count == 1 && r.Next(2) == 0 ? events[0] : "[" + string.Join(r.Next(2) == 0 ? "," : " ,\n ", events) + "]";
    }

    private string ValidEvent()
    {
        var r = _random;
        var parts = new List<string> { $"\"{(r.Next(4) == 0 ? "Name" : "name")}\":\"{Names[r.Next(Names.Length)].Replace("inngest", "app/inngest", StringComparison.Ordinal)}\"" };
        if (r.Next(3) > 0) parts.Add("\"data\":" + DataObject(r.Next(1, 6)));
        if (r.Next(4) == 0) parts.Add($"\"user\":{{\"external_id\":{(r.Next(3) == 0 ? r.Next(1000).ToString(CultureInfo.InvariantCulture) : $"\"person-{r.Next(1000)}\"")},\"email\":\"e{r.Next(1000)}@example.com\"}}");
        if (r.Next(4) == 0) parts.Add($"\"id\":\"{(r.Next(10) == 0 ? new string('i', 512) : "fuzz-" + r.Next(5000))}\"");
        if (r.Next(4) == 0)
        {
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            long[] choices = [0, 315532800000, 4102444800000, now, now - 86_400_000, now + 500, now + 60_000, now + 10L * 86_400_000];
            parts.Add("\"ts\":" + choices[r.Next(choices.Length)].ToString(CultureInfo.InvariantCulture));
        }
        if (r.Next(5) == 0) parts.Add($"\"v\":\"{(r.Next(5) == 0 ? new string('v', 512) : "2024-01-01." + r.Next(10))}\"");
        if (r.Next(6) == 0) parts.Add($"\"unknown_{r.Next(100)}\":{OddValues[r.Next(OddValues.Length)]}");
        if (r.Next(8) == 0) parts.Add(parts[0]); // a repeated key: the last one counts
        Shuffle(parts);
        return "{" + string.Join(r.Next(2) == 0 ? "," : " , ", parts) + "}";
    }

    private string DataObject(int depth)
    {
        var r = _random;
        var members = Enumerable.Range(0, r.Next(0, 5)).Select(i =>
        {
            var key = r.Next(6) switch { 0 => "", 1 => "_inngest", 2 => "\\ud800", 3 => "ü😀", _ => "k" + i };
            var value = depth > 1 && r.Next(3) == 0
                ? (r.Next(2) == 0 ? DataObject(depth - 1) : "[" + DataObject(depth - 1) + "]")
                : OddValues[r.Next(OddValues.Length)];
            return $"\"{key}\":{value}";
        });
        return "{" + string.Join(",", members) + "}";
    }

    private string WrongField()
    {
        var r = _random;
        var field = Fields[r.Next(Fields.Length)];
        var value = r.Next(5) switch
        {
            0 => "\"" + new string('x', r.Next(257, 2_000)) + "\"",
            1 => "\"inngest/" + r.Next(100) + "\"",
            2 => r.Next(2) == 0 ? "1750000000" : "1750000000000.5",
            3 => "\"" + new string('v', 513) + "\"",
            _ => OddValues[r.Next(OddValues.Length)],
        };
        var e = field is "name" or "NAME" ? $"{{\"{field}\":{value}}}" : $"{{\"name\":\"app/x\",\"{field}\":{value}}}";
        return r.Next(3) == 0 ? "[{\"name\":\"app/ok\"}," + e + "]" : e;
    }

    private byte[] Mutate(byte[] body)
    {
        var r = _random;
        for (var n = r.Next(1, 4); n > 0 && body.Length > 0; n--)
        {
            var at = r.Next(body.Length);
            switch (r.Next(4))
            {
                case 0: body[at] = (byte)r.Next(256); break;
                case 1: body[at] = "{}[]\",:\\"u8[r.Next(8)]; break;
                case 2: body = [.. body[..at], .. body[(at + 1)..]]; break;
                default: body = [.. body[..at], .. Utf8(OddValues[r.Next(OddValues.Length)]), .. body[at..]]; break;
            }
        }
        return body;
    }

    private byte[] Truncate(byte[] body) => body.Length <= 1 ? body : body[.._random.Next(1, body.Length)];

    private byte[] InvalidUtf8(byte[] body)
    {
        byte[][] sequences = [[0x80], [0xC0, 0xAF], [0xE2, 0x82], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xFF], [0xFE, 0xFF], [0xC3]];
        var quote = Array.IndexOf(body, (byte)'"', _random.Next(body.Length));
        var at = quote < 0 ? _random.Next(body.Length) : quote + 1;
        return [.. body[..at], .. sequences[_random.Next(sequences.Length)], .. body[at..]];
    }

    private string Structure()
    {
        var r = _random;
        var depth = r.Next(10) == 0 ? r.Next(10_000, 100_000) : r.Next(60, 200);
        return r.Next(6) switch
        {
            0 => new string('[', depth) + new string(']', depth),
            1 => "{\"name\":\"app/x\",\"data\":{\"d\":" + new string('[', depth) + new string(']', depth) + "}}",
            2 => "{\"name\":\"app/x\",\"data\":" + string.Concat(Enumerable.Repeat("{\"a\":", depth)) + "1" + new string('}', depth + 1),
            3 => "[" + string.Join(',', Enumerable.Repeat("{\"name\":\"app/x\"}", 5_001)) + "]",
            4 => new string('[', depth),
            _ => "{\"name\":\"app/x\"}" + new string(']', r.Next(1, 5)),
        };
    }

    private string Literal() => _random.Next(12) switch
    {
        0 => "{'name':'app/x'}",
        1 => "{name:\"app/x\"}",
        2 => "{\"name\":\"app/x\",}",
        3 => "{\"name\":\"app/x\" /* c */}",
        4 => "{\"name\":\"app/x\",\"ts\":NaN}",
        5 => "{\"name\":\"app/x\",\"ts\":+1750000000000}",
        6 => "{\"name\":\"app/x\",\"ts\":01750000000000}",
        7 => "{\"name\":\"app/x\",\"data\":{\"n\":.5}}",
        8 => "{\"name\":\"app/x\",\"data\":{\"s\":\"raw\ttab\"}}",
        9 => "\ufeff{\"name\":\"app/x\"}",
        10 => "{\"name\":\"app/x\",\"ts\":" + new string('9', _random.Next(20, 2_000)) + "}",
        _ => "name=app%2Fx&data=1",
    };

    private byte[] Noise()
    {
        var bytes = new byte[_random.Next(0, 300)];
        _random.NextBytes(bytes);
        return bytes;
    }

    private string? Seed() => _random.Next(6) switch
    {
        0 => null,
        1 => ValidSeed(),
        2 => "0," + Convert.ToBase64String(new byte[10]),
        3 => "1750000000000,AAAA",
        4 => "not a seed",
        _ => "1750000000000," + Convert.ToBase64String(new byte[10]) + ",x",
    };

    private string ValidSeed()
    {
        var entropy = new byte[10];
        _random.NextBytes(entropy);
        return string.Create(CultureInfo.InvariantCulture, $"{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()},{Convert.ToBase64String(entropy)}");
    }

    private string? Environment() => _random.Next(5) switch
    {
        0 => null,
        1 => "branch-" + _random.Next(3),
        2 => "bad env!",
        3 => new string('e', 65),
        _ => "dev",
    };

    private string Key() => _random.Next(4) switch
    {
        0 => "k",
        1 => Uri.EscapeDataString("ключ/?#%"),
        2 => new string('k', 2_000),
        _ => "fuzz-key",
    };

    private void Shuffle(List<string> items)
    {
        for (var i = items.Count - 1; i > 0; i--)
        {
            var j = _random.Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
