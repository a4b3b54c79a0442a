using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using EventIngest.Consumer;
using EventIngest.Telemetry;
using EventIngest.Tests.Infrastructure;

namespace EventIngest.Client.Tests.Consumer;

/// <summary>One trace from the sender's span to the consumer's: the request's trace context travels in
/// the queue message, and the consumer kit's span is a child of the request's span.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class ConsumerTraceTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private const string SenderName = "EventIngest.Tests.Sender";
    private static readonly ActivitySource Sender = new(SenderName);
    private readonly ConcurrentQueue<Activity> _stopped = new();
    private ActivityListener _listener = null!;
    private ConsumerHost _host = null!;

    public async Task InitializeAsync()
    {
        // Process-wide, as every listener: the assertions pick this test's trace out by its id.
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is IngestActivities.SourceName or ConsumerActivities.SourceName or SenderName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(_listener);
        _host = await ConsumerHost.StartAsync(azurite);
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        _listener.Dispose();
    }

    private sealed record Order(int N);

    [Fact]
    public async Task TheConsumersSpanIsAChildOfTheRequestWhoseTraceTheMessageCarries()
    {
        ActivityTraceId traceId;
        using (var send = Sender.StartActivity("send"))
        {
            traceId = send!.TraceId;
            await _host.Client().SendAsync(new Event<Order>("app/order.placed", new Order(1)));
        }
        var ingest = Assert.Single(_stopped, a => a.TraceId == traceId && a.OperationName == IngestActivities.Ingest);

        var message = Assert.Single(await _host.ReceiveMessagesAsync());
        var traceParent = JsonDocument.Parse(message.ToString()).RootElement.GetProperty("traceparent").GetString();
        Assert.Equal($"00-{traceId}-{ingest.SpanId}-01", traceParent);

        var e = await _host.Reader.ReadAsync<Order>(message);
        Activity? consuming = null;
        Assert.True(await _host.Inbox.ProcessOnceAsync("trace-test", e, _ =>
        {
            consuming = Activity.Current;
            return Task.CompletedTask;
        }));

        Assert.Equal(traceParent, e.TraceParent);
        Assert.NotNull(consuming);
        Assert.Equal(ConsumerActivities.Consume, consuming.OperationName);
        Assert.Equal(ActivityKind.Consumer, consuming.Kind);
        Assert.Equal(traceId, consuming.TraceId);
        Assert.Equal(ingest.SpanId, consuming.ParentSpanId);
        Assert.Equal(e.InternalId, consuming.GetTagItem("messaging.message.id"));
        Assert.Equal("trace-test", consuming.GetTagItem("eventingest.consumer"));
    }

    [Fact]
    public async Task AnEnvelopeWithoutTraceContextStillReadsAndStartsARootSpan()
    {
        Assert.Equal(System.Net.HttpStatusCode.OK, (await _host.Service.SendAsync("""{"name":"app/order.placed","data":{"n":2}}""")).StatusCode);
        var message = Assert.Single(await _host.ReceiveMessagesAsync());
        var e = await _host.Reader.ReadAsync<Order>(message);
        var withoutTrace = BinaryData.FromString(JsonSerializerNoTrace(message));
        var plain = await _host.Reader.ReadAsync<Order>(withoutTrace);

        Activity? consuming = null;
        await _host.Inbox.ProcessOnceAsync("trace-test-root", plain, _ =>
        {
            consuming = Activity.Current;
            return Task.CompletedTask;
        });

        Assert.NotNull(e.TraceParent);
        Assert.Null(plain.TraceParent);
        Assert.Equal(e.InternalId, plain.InternalId);
        Assert.NotNull(consuming);
        Assert.Equal(default, consuming.ParentSpanId);
    }

    private static string JsonSerializerNoTrace(BinaryData message)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(message.ToString())!.AsObject();
        node.Remove("traceparent");
        return node.ToJsonString();
    }
}
