using EventIngest.Ingest;
using EventIngest.Tests.Infrastructure;
using EventIngest.Ids;

namespace EventIngest.Tests.Ingest;

public class IdSeedTests
{
    [Theory]
    [InlineData(0, "01JQDAE4RQF8MBCR55T5AK4KXS")]
    [InlineData(1, "01JQDAE4RQF8MBCR55T5AK4KXT")]
    [InlineData(2, "01JQDAE4RQF8MBCR55T5AK4KXV")]
    public void SeededIdsAddPositionPlusOneToTheLastFourEntropyBytes(int index, string expected)
    {
        var seed = IdSeed.Parse(Seeds.Sample);
        Assert.NotNull(seed);
        Assert.True(seed.FromHeader);
        Assert.Equal(expected, seed.IdFor(index));
    }

    [Fact]
    public void CounterWrapsAroundWithoutTouchingTheOtherBytes()
    {
        var seed = IdSeed.Parse("1,AAAAAAAA/////w==");
        Assert.Equal("00000000010000000000000000", seed!.IdFor(0));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("1743130137367")]
    [InlineData("1743130137367,eii2YKXRVTJPuA==,x")]
    [InlineData("0,eii2YKXRVTJPuA==")]
    [InlineData("-5,eii2YKXRVTJPuA==")]
    [InlineData("abc,eii2YKXRVTJPuA==")]
    [InlineData("1743130137367,not base64!")]
    [InlineData("1743130137367,AAAAAAAAAAA=")]
    [InlineData("1743130137367,eii2YKXRVTJPuA")]
    [InlineData("281474976710656,eii2YKXRVTJPuA==")]
    public void MalformedSeedsAreIgnored(string? header) => Assert.Null(IdSeed.Parse(header));

    [Fact]
    public void RandomSeedKeepsTheIdsOfOneRequestInOnePartition()
    {
        var seed = IdSeed.Random(1_700_000_000_000);
        Assert.False(seed.FromHeader);
        var ids = Enumerable.Range(0, 5000).Select(seed.IdFor).ToList();
        Assert.Equal(5000, ids.Distinct().Count());
        Assert.Single(ids.Select(id => id[..19]).Distinct());
        Assert.All(ids, id => Assert.True(Ulid.IsValid(id)));
        Assert.Equal(1_700_000_000_000, Ulid.GetTimestamp(ids[0]));
    }

    [Theory]
    [InlineData("01JQDAE4RQF8MBCR55T5AK4KXS", true)]
    [InlineData("01jqdae4rqf8mbcr55t5ak4kxs", false)]
    [InlineData("81JQDAE4RQF8MBCR55T5AK4KXS", false)]
    [InlineData("01JQDAE4RQF8MBCR55T5AK4KXU", false)]
    [InlineData("01JQDAE4RQF8MBCR55T5AK4KX", false)]
    public void UlidValidationAcceptsOnlyCanonicalIds(string id, bool valid) => Assert.Equal(valid, Ulid.IsValid(id));
}
