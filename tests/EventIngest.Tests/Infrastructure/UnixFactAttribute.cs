namespace EventIngest.Tests.Infrastructure;

/// <summary>A fact about Unix file modes: reported as skipped, with the reason, on Windows, where they do not exist.</summary>
public sealed class UnixFactAttribute : FactAttribute
{
    public UnixFactAttribute()
    {
        if (OperatingSystem.IsWindows())
        {
            Skip = "Unix file modes do not exist on Windows.";
        }
    }
}
