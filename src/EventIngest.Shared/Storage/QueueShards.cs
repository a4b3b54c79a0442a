namespace EventIngest.Storage;

/// <summary>
/// Where an event goes among the shards of a queue. A queue of N shards is the N queues
/// <c>{queue}-0</c> … <c>{queue}-{N-1}</c> (one shard keeps the plain name), and an event is on shard
/// <c>Hash(internal id) mod N</c>: its internal id alone decides, so every send of it lands on the same shard.
/// </summary>
/// <remarks>The hash is fixed and documented (docs/message-format.md) rather than
/// <see cref="string.GetHashCode()"/>, which differs per process: FNV-1a (32 bit) over the id's characters,
/// finished with MurmurHash3's fmix32 so that ids differing only in their last character (the ids of one
/// request) spread over every shard count, not just odd ones.</remarks>
public static class QueueShards
{
    /// <summary>At about 2,000 messages/s per queue, 32 shards exceed a storage account's 20,000 requests/s.</summary>
    public const int MaxShards = 32;

    public static uint Hash(string internalId)
    {
        var hash = 2166136261u;
        foreach (var c in internalId)
        {
            hash = unchecked((hash ^ c) * 16777619u);
        }
        hash ^= hash >> 16;
        hash = unchecked(hash * 0x85EBCA6Bu);
        hash ^= hash >> 13;
        hash = unchecked(hash * 0xC2B2AE35u);
        hash ^= hash >> 16;
        return hash;
    }

    public static int ShardOf(string internalId, int shards) => shards <= 1 ? 0 : (int)(Hash(internalId) % (uint)shards);

    public static string NameOf(string queue, int shards, int shard) => shards <= 1 ? queue : $"{queue}-{shard}";

    /// <summary>The queue of <paramref name="queue"/>'s shards that the event <paramref name="internalId"/> goes to.</summary>
    public static string QueueFor(string queue, int shards, string internalId) => NameOf(queue, shards, ShardOf(internalId, shards));

    /// <summary>Every shard of <paramref name="queue"/>: what a consumer reads, and what a deployment creates.</summary>
    public static IReadOnlyList<string> Names(string queue, int shards) =>
        shards <= 1 ? [queue] : Enumerable.Range(0, shards).Select(i => NameOf(queue, shards, i)).ToArray();
}
