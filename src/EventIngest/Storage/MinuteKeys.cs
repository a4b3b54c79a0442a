using System.Globalization;

namespace EventIngest.Storage;

/// <summary>The minute of a time as keys hold it (<c>yyyyMMddHHmm</c>, UTC): outbox partitions and the
/// claims' expiry rows sort by it, so a job reads the minutes older than its cutoff as one key range.</summary>
internal static class MinuteKeys
{
    public static string Of(long millis) =>
        DateTimeOffset.FromUnixTimeMilliseconds(millis).UtcDateTime.ToString("yyyyMMddHHmm", CultureInfo.InvariantCulture);
}
