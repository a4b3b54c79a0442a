namespace EventIngest.Encryption;

/// <summary>
/// <c>user.external_id</c> names the person whose <c>user</c> data can be erased. Ingest and erasure
/// accept the same ids, so everything that was sealed for a person can be erased by naming them:
/// a non-empty string of at most <see cref="MaxLength"/> characters, or a number (its JSON text, so
/// <c>42</c> and <c>"42"</c> are one person).
/// </summary>
public static class ExternalIds
{
    public const int MaxLength = 1024;

    public static string TooLong => $"external_id is longer than {MaxLength} characters";

    /// <summary>Characters are Unicode scalar values, as for event names.</summary>
    public static bool IsTooLong(string externalId)
    {
        if (externalId.Length <= MaxLength) return false;
        var count = 0;
        foreach (var _ in externalId.EnumerateRunes())
        {
            if (++count > MaxLength) return true;
        }
        return false;
    }
}
