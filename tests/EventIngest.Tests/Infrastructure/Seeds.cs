using EventIngest.Ingest;
using EventIngest.Ids;

namespace EventIngest.Tests.Infrastructure;

/// <summary>Id seeds (the <see cref="IdSeed.HeaderName"/> header) for tests that need known internal ids.</summary>
public static class Seeds
{
    /// <summary>The example of docs and tests: its ids are 01JQDAE4RQF8MBCR55T5AK4KXS, …KXT, …KXV.</summary>
    public const string Sample = "1743130137367,eii2YKXRVTJPuA==";

    /// <summary>A second seed, whose ids are not <see cref="Sample"/>'s.</summary>
    public const string Other = "1750000000000,AAECAwQFBgcICQ==";

    /// <summary>The header that sends <paramref name="seed"/>.</summary>
    public static Dictionary<string, string> Header(string seed = Sample) => new() { [IdSeed.HeaderName] = seed };
}
