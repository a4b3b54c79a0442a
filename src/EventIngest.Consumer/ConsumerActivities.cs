using System.Diagnostics;

namespace EventIngest.Consumer;

/// <summary>
/// The consumer's span for handling one event, a child of the span of the request that sent the event (the
/// envelope's <c>traceparent</c>), so one trace runs from the sender to the consumer. <see cref="EventInbox"/> and
/// <see cref="EventQueueReceiver"/> start it around the handler; add the source to the consumer's tracer
/// (<c>AddSource(ConsumerActivities.SourceName)</c>) to record it.
/// </summary>
public static class ConsumerActivities
{
    /// <summary>The <see cref="ActivitySource"/> name of the consumer kit.</summary>
    public const string SourceName = "EventIngest.Consumer";

    /// <summary>The span's name.</summary>
    public const string Consume = "eventingest.consume";

    /// <summary>The consumer kit's source.</summary>
    public static readonly ActivitySource Source = new(SourceName);

    /// <summary>
    /// Starts the span for handling <paramref name="event"/>, or returns null while nobody records spans (or when
    /// the current span already is this event's). Its parent is the sending request's span; the span current before
    /// (such as the Functions invocation's) is kept as a link.
    /// </summary>
    /// <param name="event">The event about to be handled.</param>
    /// <param name="consumer">Who handles it (the inbox's consumer name), if known.</param>
    /// <returns>The started span, to dispose when the handler is done; null when none was started.</returns>
    public static Activity? StartConsume(ReceivedEvent @event, string? consumer = null)
    {
        ArgumentNullException.ThrowIfNull(@event);
        if (!Source.HasListeners()) return null;
        var current = Activity.Current;
        if (current is { Source.Name: SourceName, OperationName: Consume } && Equals(current.GetTagItem("messaging.message.id"), @event.InternalId)) return null;

        var hasParent = ActivityContext.TryParse(@event.TraceParent, null, isRemote: true, out var parent);
        ActivityLink[]? links = current is not null && (!hasParent || current.TraceId != parent.TraceId) ? [new ActivityLink(current.Context)] : null;
        var activity = Source.StartActivity(Consume, ActivityKind.Consumer, hasParent ? parent : current?.Context ?? default, links: links);
        if (activity is null) return null;
        activity.SetTag("messaging.operation.type", "process");
        activity.SetTag("messaging.message.id", @event.InternalId);
        activity.SetTag("eventingest.environment", @event.Environment);
        activity.SetTag("eventingest.event.name", @event.Name);
        if (consumer is not null) activity.SetTag("eventingest.consumer", consumer);
        if (@event.IsReplay) activity.SetTag("eventingest.replay", true);
        return activity;
    }
}
