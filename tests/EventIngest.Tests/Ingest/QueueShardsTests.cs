using EventIngest.Ingest;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.Options;
using EventIngest.Ids;
using EventIngest.Storage;

namespace EventIngest.Tests.Ingest;

public class QueueShardsTests
{
    // Computed outside .NET from the definition in docs/message-format.md (FNV-1a 32-bit, then
    // MurmurHash3's fmix32): a change here moves events of a retried request to another shard.
    [Theory]
    [InlineData("01JQDAE4RQF8MBCR55T5AK4KXS", 0x754aaa31u)]
    [InlineData("01JQDHZ3VN2W8C4Q1D6T0M5R7K", 0x6a157361u)]
    [InlineData("01K0000000000000000000000A", 0x3928dfa5u)]
    public void TheHashIsTheDocumentedOne(string internalId, uint hash) =>
        Assert.Equal(hash, QueueShards.Hash(internalId));

    [Theory]
    [InlineData("01K0000000000000000000000A", 8, 5)]
    [InlineData("01K0000000000000000000000A", 3, 2)]
    [InlineData("01JQDHZ3VN2W8C4Q1D6T0M5R7K", 3, 0)]
    [InlineData("01JQDHZ3VN2W8C4Q1D6T0M5R7K", 1, 0)]
    public void TheShardIsTheHashModuloTheShardCount(string internalId, int shards, int shard) =>
        Assert.Equal(shard, QueueShards.ShardOf(internalId, shards));

    [Fact]
    public void OneShardKeepsThePlainQueueName()
    {
        Assert.Equal(["events"], QueueShards.Names("events", 1));
        Assert.Equal("events", QueueShards.QueueFor("events", 1, "01K0000000000000000000000A"));
    }

    [Fact]
    public void ShardsAreNumberedFromZero()
    {
        Assert.Equal(["orders-0", "orders-1", "orders-2"], QueueShards.Names("orders", 3));
        Assert.Equal("orders-5", QueueShards.QueueFor("orders", 8, "01K0000000000000000000000A"));
    }

    [Fact]
    public void TheIdsOfOneRequestSpreadEvenlyOverTheShards()
    {
        // The ids of one request differ only in their last characters (the seed counter).
        var seed = IdSeed.Parse(Seeds.Sample)!;
        var counts = new int[8];
        for (var i = 0; i < 8_000; i++) counts[QueueShards.ShardOf(seed.IdFor(i), 8)]++;

        Assert.All(counts, c => Assert.InRange(c, 850, 1150));
    }

    [Fact]
    public void IdsOfManyRequestsSpreadEvenlyOverTheShards()
    {
        var counts = new int[5];
        for (var i = 0; i < 10_000; i++) counts[QueueShards.ShardOf(IdSeed.Random(1743130137367 + i).IdFor(0), 5)]++;

        Assert.All(counts, c => Assert.InRange(c, 1700, 2300));
    }

    [Fact]
    public void ARouteWithShardsSendsEachEventToTheShardOfItsId()
    {
        var router = new QueueRouter(Options.Create(new RoutingOptions
        {
            DefaultQueue = "events",
            DefaultShards = 3,
            Routes = [new Route { Pattern = "app/order.*", Queue = "orders", Shards = 8 }, new Route { Pattern = "app/*", Queue = "audit" }],
        }));
        const string id = "01K0000000000000000000000A";

        Assert.Equal(["orders-5", "audit"], router.QueuesFor("app/order.placed", id));
        Assert.Equal(["events-2"], router.QueuesFor("billing/invoice.sent", id));
        Assert.Equal(["events-0"], router.QueuesFor("billing/invoice.sent", "01JQDHZ3VN2W8C4Q1D6T0M5R7K"));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(33)]
    public void AShardCountOutsideOneToThirtyTwoIsRefused(int shards)
    {
        var errors = RoutingOptions.Check(new RoutingOptions { Routes = [new Route { Pattern = "*", Queue = "orders", Shards = shards }] });
        Assert.Contains(errors, e => e.Contains("Shards", StringComparison.Ordinal));
        Assert.NotEmpty(RoutingOptions.Check(new RoutingOptions { DefaultShards = shards }));
    }

    [Fact]
    public void AQueueNamedTwiceMustHaveOneShardCount()
    {
        var errors = RoutingOptions.Check(new RoutingOptions
        {
            DefaultQueue = "events",
            DefaultShards = 4,
            Routes = [new Route { Pattern = "audit/*", Queue = "events", Shards = 1 }],
        });
        Assert.Contains(errors, e => e.Contains("'events'", StringComparison.Ordinal));
    }

    [Fact]
    public void AShardNameMustNotBeAnotherQueuesName()
    {
        var errors = RoutingOptions.Check(new RoutingOptions
        {
            DefaultQueue = "events",
            DefaultShards = 2,
            Routes = [new Route { Pattern = "audit/*", Queue = "events-1" }],
        });
        Assert.Contains(errors, e => e.Contains("'events-1'", StringComparison.Ordinal));
    }

    [Fact]
    public void AShardNameMustBeAValidQueueName()
    {
        var longest = new string('q', 62);
        Assert.Empty(RoutingOptions.Check(new RoutingOptions { DefaultQueue = longest }));
        Assert.NotEmpty(RoutingOptions.Check(new RoutingOptions { DefaultQueue = longest, DefaultShards = 2 }));
    }
}
