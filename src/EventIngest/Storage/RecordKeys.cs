namespace EventIngest.Storage;

/// <summary>
/// Keys of event records. Table Storage returns rows in ascending (PartitionKey, RowKey) order,
/// so both keys hold the internal id with every base32 digit inverted (d → 31 − d): a plain
/// range query then lists an environment's events newest first, and a point read needs only
/// the internal id. All ids of one request share their first 19 characters, so one request's
/// records share a partition and go into one transaction per 100.
/// </summary>
internal static class RecordKeys
{
    public const int PartitionChars = 19;
    private const string Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

    public static string Partition(string environment, string internalId) =>
        string.Concat(environment, "|", Invert(internalId.AsSpan(0, PartitionChars)));

    public static string Row(string internalId) => Invert(internalId);

    public static string InternalIdOf(string rowKey) => Invert(rowKey);

    /// <summary>The partition prefix shared by every record of the environment.</summary>
    public static string EnvironmentPrefix(string environment) => environment + "|";

    private static string Invert(ReadOnlySpan<char> id) => string.Create(id.Length, id.ToString(), static (chars, source) =>
    {
        for (var i = 0; i < source.Length; i++)
        {
            var digit = Alphabet.IndexOf(source[i]);
            chars[i] = digit < 0 ? source[i] : Alphabet[31 - digit];
        }
    });
}
