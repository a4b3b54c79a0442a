using EventIngest.Scheduling;
using EventIngest.Storage;

namespace EventIngest.Tests.Scheduling;

public sealed class DueMarkerTests
{
    [Fact]
    public void MarkersOfEventsInEnvironmentsWithLongNamesStayWithinAQueueMessage()
    {
        // The longest environment name there is (64 characters), and a short one, due in the same second.
        var longName = "e" + new string('x', 63);
        var due = 1_800_000_000_000L;
        var items = Enumerable.Range(0, 1000)
            .Select(i => new DueMarker(i % 3 == 0 ? "dev" : longName, $"01KB3M7Q8Z2W4X6Y9A1C{i:D6}", due + i % 900))
            .ToList();

        var markers = DueMarker.Group(items).ToList();

        Assert.All(markers, m => Assert.InRange(m.Body.Length, 1, EventMessage.InlineLimit));
        var carried = markers.SelectMany(m => DueMarker.ParseAll(BinaryData.FromBytes(m.Body))!).ToList();
        Assert.Equal(items.OrderBy(i => i.InternalId), carried.OrderBy(i => i.InternalId));
        Assert.All(markers, m => Assert.Equal(DueMarker.ParseAll(BinaryData.FromBytes(m.Body))!.Max(i => i.Due), m.Due));
    }
}
