using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text.Json;
using EventIngest.Ingest;
using EventIngest.Storage;
using EventIngest.Ids;

namespace EventIngest.Api;

/// <summary>
/// Where a list page ended, handed to the client as an opaque string. Either the row key of the
/// last event returned (the next page starts strictly after it), or — when a filtered scan ran out
/// of its storage-request budget before filling the page — the table service's continuation token
/// of that scan, which resumes the very same query. A cursor belongs to the filters that issued it.
/// </summary>
internal sealed record ListCursor(string? AfterRow, string? Continuation, string Query)
{
    private const int Version = 1;
    private const int MaxContinuationLength = 1024;

    public string Encode()
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(new Wire(Version, AfterRow, Continuation, Query), ApiResults.JsonOptions);
        return Base64Url.EncodeToString(json);
    }

    public static bool TryDecode(string text, string query, out ListCursor? cursor)
    {
        cursor = null;
        Wire? wire;
        try
        {
            wire = JsonSerializer.Deserialize<Wire>(Base64Url.DecodeFromChars(text), ApiResults.JsonOptions);
        }
        catch (Exception ex) when (ex is FormatException or JsonException)
        {
            return false;
        }
        if (wire is not { V: Version } || wire.Q != query) return false;
        if (wire.A is { } row && !Ulid.IsValid(RecordKeys.InternalIdOf(row))) return false;
        if (wire.C is { Length: 0 or > MaxContinuationLength }) return false;
        if (wire.A is null && wire.C is null) return false;
        cursor = new ListCursor(wire.A, wire.C, wire.Q);
        return true;
    }

    /// <summary>A short fingerprint of the filters, so a cursor is not reused with other ones.</summary>
    public static string QueryOf(string? name, string? id, long? receivedAfter, long? receivedBefore)
    {
        var text = JsonSerializer.SerializeToUtf8Bytes<object?[]>([name, id, receivedAfter, receivedBefore]);
        return Base64Url.EncodeToString(SHA256.HashData(text).AsSpan(0, 9));
    }

    private sealed record Wire(int V, string? A, string? C, string Q);
}
