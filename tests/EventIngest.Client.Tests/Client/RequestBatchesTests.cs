using System.Text.Json;

namespace EventIngest.Client.Tests.Client;

public sealed class RequestBatchesTests
{
    private sealed record Order(int OrderId, decimal Total);

    [Fact]
    public void EventsAreWrittenAsTheEventApiReadsThem()
    {
        var ts = new DateTimeOffset(2025, 3, 28, 3, 28, 57, 367, TimeSpan.Zero);
        Event[] events =
        [
            new Event<Order>("app/order.placed", new Order(7, 12.5m)) { User = new { external_id = "u-1" }, Id = "order-7", Timestamp = ts, Version = "2" },
            new Event("app/ping"),
        ];

        var batch = Assert.Single(RequestBatches.Build(events, new EventIngestClientOptions()));

        using var body = JsonDocument.Parse(batch.Body);
        Assert.Equal("""{"name":"app/order.placed","data":{"orderId":7,"total":12.5},"user":{"external_id":"u-1"},"id":"order-7","ts":1743132537367,"v":"2"}""",
            body.RootElement[0].GetRawText());
        Assert.Equal("""{"name":"app/ping","data":{}}""", body.RootElement[1].GetRawText());
    }

    [Fact]
    public void MoreThan5000EventsAreCutIntoRequestsOfAtMost5000InOrder()
    {
        var events = Enumerable.Range(0, 12_001).Select(i => Event.Create("app/n", new { i })).ToList();

        var batches = RequestBatches.Build(events, new EventIngestClientOptions());

        Assert.Equal([(0, 5000), (5000, 5000), (10_000, 2001)], batches.Select(b => (b.FirstIndex, b.Count)));
        Assert.Equal(5000, JsonDocument.Parse(batches[1].Body).RootElement[0].GetProperty("data").GetProperty("i").GetInt32());
    }

    [Fact]
    public void RequestsStayWithinTheByteLimit()
    {
        var payload = new string('x', 1000);
        var events = Enumerable.Range(0, 50).Select(i => Event.Create("app/big", new { payload })).ToList();
        var options = new EventIngestClientOptions { MaxRequestBytes = 10_000 };

        var batches = RequestBatches.Build(events, options);

        Assert.All(batches, b => Assert.True(b.Body.Length <= 10_000, $"{b.Body.Length} bytes"));
        Assert.Equal(50, batches.Sum(b => JsonDocument.Parse(b.Body).RootElement.GetArrayLength()));
        Assert.True(batches.Count >= 6);
    }

    [Theory]
    [InlineData(1979)]
    [InlineData(2101)]
    public void ATimestampOutsideTheServersRangeIsRefusedBeforeSending(int year)
    {
        Event[] events = [new Event("app/ok"), new Event("app/x") { Timestamp = new DateTimeOffset(year, 6, 1, 0, 0, 0, TimeSpan.Zero) }];

        var error = Assert.Throws<ArgumentException>(() => RequestBatches.Build(events, new EventIngestClientOptions()));

        Assert.Contains("Event 1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReservedNamesAreRefusedBeforeSending() =>
        Assert.Throws<ArgumentException>(() => RequestBatches.Build([new Event("Inngest/function.finished")], new EventIngestClientOptions()));

    [Fact]
    public void TheSeedHeaderIsMillisecondsAndTenRandomBytes()
    {
        var parts = EventIngestClient.NewSeed().Split(',');

        Assert.Equal(2, parts.Length);
        Assert.InRange(long.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture),
            DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeMilliseconds(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        Assert.Equal(10, Convert.FromBase64String(parts[1]).Length);
        Assert.NotEqual(EventIngestClient.NewSeed(), EventIngestClient.NewSeed());
    }

    [Fact]
    public void BackOffGrowsWithJitterUpToTheCap()
    {
        var options = new EventIngestClientOptions { InitialRetryDelay = TimeSpan.FromMilliseconds(100), MaxRetryDelay = TimeSpan.FromMilliseconds(1000) };

        for (var i = 0; i < 50; i++)
        {
            Assert.InRange(EventIngestClient.Backoff(1, options).TotalMilliseconds, 50, 100);
            Assert.InRange(EventIngestClient.Backoff(3, options).TotalMilliseconds, 200, 400);
            Assert.InRange(EventIngestClient.Backoff(10, options).TotalMilliseconds, 500, 1000);
        }
        var delays = Enumerable.Range(0, 20).Select(_ => EventIngestClient.Backoff(3, options)).Distinct().Count();
        Assert.True(delays > 1, "no jitter");
    }
}
