using EventIngest.Ids;

namespace EventIngest.Storage;

/// <summary>A request's seed gives an id that already names a different event: refused with 409, nothing kept.</summary>
internal sealed class SeedReusedException(int index) : Exception($"event {index}: {Reason}")
{
    public const string Reason = "the " + IdSeed.HeaderName + " header was already used for different events; send new events with a new seed";

    public int Index { get; } = index;
}
