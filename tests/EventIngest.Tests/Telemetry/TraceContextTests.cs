using System.Diagnostics;
using EventIngest.Telemetry;

namespace EventIngest.Tests.Telemetry;

public sealed class TraceContextTests
{
    private const string Incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    [Fact]
    public void MessagesCarryTheRequestSpanWhenThereIsOne()
    {
        using var span = new Activity(IngestActivities.Ingest).SetIdFormat(ActivityIdFormat.W3C).SetParentId(Incoming).Start();

        var carried = IngestActivities.TraceParentFor(span, Incoming);

        Assert.Equal(span.Id, carried);
        Assert.StartsWith("00-4bf92f3577b34da6a3ce929d0e0e4736-", carried, StringComparison.Ordinal);
        Assert.NotEqual(Incoming, carried);
    }

    [Fact]
    public void WithoutARecordedSpanMessagesCarryTheCallersTraceParent() =>
        Assert.Equal(Incoming, IngestActivities.TraceParentFor(null, Incoming));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("not a trace context")]
    [InlineData("00-00000000000000000000000000000000-00f067aa0ba902b7-01")]
    public void AMissingOrMalformedTraceParentIsNotCarried(string? incoming) =>
        Assert.Null(IngestActivities.TraceParentFor(null, incoming));
}
