using System.Buffers;
using System.Text.Json;

namespace EventIngest.Encryption;

/// <summary>Finds <c>external_id</c> among the top-level properties of a <c>user</c> object without building a DOM.</summary>
internal static class ExternalIdReader
{
    /// <summary>
    /// The subject id of the person a <c>user</c> object names: the keyed hash of its
    /// <c>external_id</c> when that is a non-empty string (its unescaped UTF-8) or a number (its
    /// JSON text, so <c>42</c> and <c>"42"</c> are the same person). Any other value, or none,
    /// means the object names nobody. A duplicated property counts by its last occurrence, as Go's
    /// decoder (and so Inngest) reads it.
    /// </summary>
    /// <exception cref="ArgumentException">The bytes are not one JSON object.</exception>
    public static bool TryGetSubjectId(ReadOnlySpan<byte> userJson, EnvironmentKeys keys, out UInt128 subjectId)
    {
        subjectId = default;
        var found = false;
        try
        {
            var reader = new Utf8JsonReader(userJson, new JsonReaderOptions { MaxDepth = 256 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw new ArgumentException("The user value must be a JSON object.", nameof(userJson));
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isExternalId = reader.ValueTextEquals("external_id"u8);
                reader.Read();
                if (isExternalId)
                {
                    found = TryHash(ref reader, keys, out subjectId);
                }

                reader.Skip();
            }

            if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
            {
                throw new ArgumentException("The user value must be exactly one JSON object.", nameof(userJson));
            }
        }
        catch (JsonException ex)
        {
            throw new ArgumentException("The user value is not valid JSON.", nameof(userJson), ex);
        }

        return found;
    }

    private static bool TryHash(ref Utf8JsonReader reader, EnvironmentKeys keys, out UInt128 subjectId)
    {
        subjectId = default;
        if (reader.TokenType == JsonTokenType.Number)
        {
            subjectId = keys.ComputeSubjectId(reader.ValueSpan);
            return true;
        }

        if (reader.TokenType != JsonTokenType.String || reader.ValueSpan.IsEmpty)
        {
            return false;
        }

        if (!reader.ValueIsEscaped)
        {
            subjectId = keys.ComputeSubjectId(reader.ValueSpan);
            return true;
        }

        // Unescaping never lengthens a string, so its escaped length is enough room.
        var length = reader.ValueSpan.Length;
        var rented = length > 256 ? ArrayPool<byte>.Shared.Rent(length) : null;
        try
        {
            Span<byte> buffer = rented ?? stackalloc byte[256];
            var written = reader.CopyString(buffer);
            if (written == 0)
            {
                return false;
            }

            subjectId = keys.ComputeSubjectId(buffer[..written]);
            return true;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }
}
