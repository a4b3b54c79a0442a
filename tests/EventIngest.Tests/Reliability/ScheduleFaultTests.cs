using System.Net;
using EventIngest.StorageFaults;
using EventIngest.Tests.Infrastructure;

namespace EventIngest.Tests.Reliability;

/// <summary>
/// G3 under storage faults: a cancel answered 200 means the event never fires, even when a send
/// of it landed while its response was lost; a reschedule that fails part-way leaves the event
/// cancellable and never delivers it at a time nobody asked for.
/// </summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class ScheduleFaultTests(AzuriteFixture azurite) : ProxiedHostTests(azurite)
{
    private async Task<string> ScheduleAsync(long ts)
    {
        var body = await TestHost.JsonAsync(await Host.SendAsync($$"""{"name":"app/later","ts":{{ts}}}"""));
        Assert.Equal("scheduled", body.GetProperty("events")[0].GetProperty("outcome").GetString());
        return body.GetProperty("ids")[0].GetString()!;
    }

    [Fact]
    public async Task ACancelAnswered200NeverFiresEvenWhenASendLandedWithItsResponseLost()
    {
        Proxy.Add(new FaultRule { Service = StorageService.Queue, Operation = StorageOperation.QueueSend, Kind = FaultKind.ResetAfterForward, Times = 1 });
        var id = await ScheduleAsync(Now + 6000); // time enough for the cancel to come first on a slow machine

        var cancel = await Host.Client.DeleteAsync($"v1/events/{id}");

        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        Assert.Equal(0, await Host.DueMarkersSettledAsync()); // both markers came due and released nothing
        Assert.Empty(await Host.ReceiveAllAsync());
    }

    [Fact]
    public async Task ARescheduleFailingPartWayLeavesTheEventCancellableAndUndelivered()
    {
        var id = await ScheduleAsync(Now + 8000);
        var failing = Proxy.Add(new FaultRule
        {
            Service = StorageService.Table,
            Operation = StorageOperation.TableUpdate,
            Kind = FaultKind.InternalError,
            When = r => r.PathAndQuery.Contains(Host.Prefix + "events", StringComparison.Ordinal),
        });

        var reschedule = await Host.Client.PatchAsync($"v1/events/{id}", new StringContent($$"""{"ts":{{Now + 9000}}}"""));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, reschedule.StatusCode);
        Proxy.Remove(failing);

        var cancel = await Host.Client.DeleteAsync($"v1/events/{id}");
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        Assert.Equal(0, await Host.DueMarkersSettledAsync()); // the old time's marker and the new one's: neither released it
        Assert.Empty(await Host.ReceiveAllAsync());
    }

    /// <summary>The record's move: its update in the events table.</summary>
    private FaultRule RecordMove(FaultKind kind) => Proxy.Add(new FaultRule
    {
        Service = StorageService.Table,
        Operation = StorageOperation.TableUpdate,
        Kind = kind,
        Delay = TimeSpan.FromSeconds(5),
        Times = 1,
        When = r => r.PathAndQuery.Contains(Host.Prefix + "events", StringComparison.Ordinal),
    });

    [Theory]
    [InlineData(FaultKind.Latency)]
    [InlineData(FaultKind.ServerBusy)]
    [InlineData(FaultKind.ResetAfterForward)]
    public async Task ARescheduleToNowAnswered200FiresWhenItsMarkerIsSeenBeforeTheRecordMoves(FaultKind kind)
    {
        var id = await ScheduleAsync(Now + 20_000); // its old time's marker comes due during the test, and must release nothing
        // The record's move is slow, throttled and retried, or lands with its answer lost: the new time's
        // marker, sent first and visible at once, may reach a release (the due poll) while the record
        // still holds the old time.
        var move = RecordMove(kind);
        var newTs = Now - 1000;

        var reschedule = await Host.Client.PatchAsync($"v1/events/{id}", new StringContent($$"""{"ts":{{newTs}}}"""));

        Assert.Equal(HttpStatusCode.OK, reschedule.StatusCode);
        Assert.Equal(1, move.Applied);
        var message = Assert.Single(await Host.ReceiveAtLeastAsync(1));
        Assert.Equal(id, message.GetProperty("internal_id").GetString());
        Assert.Equal(newTs, message.GetProperty("ts").GetInt64());
        Assert.Equal(0, await Host.DueMarkersSettledAsync());
        Assert.Empty(await Host.ReceiveAllAsync());
    }

    [Fact]
    public async Task ARescheduleToNowWhoseClientHangsUpDuringTheMoveStillFiresOnce()
    {
        var id = await ScheduleAsync(Now + 20_000);
        var move = RecordMove(FaultKind.Latency);
        var newTs = Now - 1000;

        using (var hangUp = new CancellationTokenSource(TimeSpan.FromSeconds(1)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
                Host.Client.PatchAsync($"v1/events/{id}", new StringContent($$"""{"ts":{{newTs}}}"""), hangUp.Token));
        }

        // Nobody was answered: the event fires once, at the new time if the move landed, else at the old one.
        var message = Assert.Single(await Host.ReceiveAtLeastAsync(1));
        Assert.Equal(1, move.Applied);
        Assert.Equal(id, message.GetProperty("internal_id").GetString());
        Assert.Equal(0, await Host.DueMarkersSettledAsync());
        Assert.Empty(await Host.ReceiveAllAsync());
    }

    [Fact]
    public async Task ARescheduleAnswered200DeliversOnlyAtTheNewTime()
    {
        var id = await ScheduleAsync(Now + 8000);
        var newTs = Now + 4000; // earlier: the old time's marker comes due after the event, and must release nothing
        var reschedule = await Host.Client.PatchAsync($"v1/events/{id}", new StringContent($$"""{"ts":{{newTs}}}"""));
        Assert.Equal(HttpStatusCode.OK, reschedule.StatusCode);

        var (message, seenAt) = Assert.NotNull(await Host.FirstMessageAsync());
        Assert.True(seenAt >= newTs, $"delivered {newTs - seenAt} ms before its new time");
        Assert.Equal(id, message.GetProperty("internal_id").GetString());
        Assert.Equal(newTs, message.GetProperty("ts").GetInt64());
        Assert.Equal(0, await Host.DueMarkersSettledAsync()); // the old time's marker too
        Assert.Empty(await Host.ReceiveAllAsync());
    }
}
