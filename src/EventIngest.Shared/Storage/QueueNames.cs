namespace EventIngest.Storage;

/// <summary>The storage service's rule for queue names.</summary>
public static class QueueNames
{
    public static bool IsValid(string? name) =>
        name is { Length: >= 3 and <= 63 } && char.IsAsciiLetterOrDigit(name[0]) && char.IsAsciiLetterOrDigit(name[^1])
        && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-') && !name.Contains("--", StringComparison.Ordinal);
}
