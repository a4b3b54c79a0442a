using Azure;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;
using EventIngest.Storage;

namespace EventIngest.Consumer;

/// <summary>How <see cref="EventQueueReceiver"/> takes messages off the queues.</summary>
public sealed class EventQueueReceiverOptions
{
    /// <summary>How long a received message stays invisible to other receivers (default 10 minutes, as a Functions
    /// QueueTrigger); a message whose handler failed comes back after it. Longer than the handler's longest run.</summary>
    public TimeSpan VisibilityTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Attempts before a failing message moves to <c>{shard queue}-poison</c> (default 5, as a Functions
    /// QueueTrigger).</summary>
    public int MaxDequeueCount { get; set; } = 5;

    /// <summary>Messages taken from each shard per pass (1–32, default 32).</summary>
    public int MessagesPerShard { get; set; } = 32;
}

/// <summary>
/// Receives events from every shard of a queue, for a consumer that polls (a worker service, a console app)
/// rather than running a Functions QueueTrigger per shard. Each message is read with <see cref="EventReader"/>,
/// handed to the handler, and deleted once the handler returns; a message whose handler throws comes back after
/// the visibility timeout, and moves to <c>{shard queue}-poison</c> after
/// <see cref="EventQueueReceiverOptions.MaxDequeueCount"/> attempts, as with a QueueTrigger.
/// </summary>
/// <remarks>Delivery is at least once, as on the queues themselves: combine it with <see cref="EventInbox"/> where
/// handling an event twice matters. On a packed queue a message carries several events, handled one after another;
/// when one handler throws, the whole message comes back, and the events before it are handed over again (the inbox
/// drops them).</remarks>
public class EventQueueReceiver
{
    private readonly QueueServiceClient _queues = null!;
    private readonly QueueClient[] _shards = [];
    private readonly EventReader _reader = null!;
    private readonly EventQueueReceiverOptions _options = new();

    /// <summary>For mocking.</summary>
    protected EventQueueReceiver()
    {
    }

    /// <summary>A receiver for the queue <paramref name="queue"/> spread over <paramref name="shards"/> shards
    /// (the route's <c>Shards</c> setting on the ingest app; 1 for a queue without shards).</summary>
    /// <param name="queues">The storage account holding the queues.</param>
    /// <param name="queue">The queue's name as configured on the ingest app, without a shard suffix.</param>
    /// <param name="shards">How many shards the ingest app spreads the queue over.</param>
    /// <param name="reader">Reads each message as an event.</param>
    /// <param name="options">Visibility timeout, poison threshold and batch size; null for the defaults.</param>
    public EventQueueReceiver(QueueServiceClient queues, string queue, int shards, EventReader reader, EventQueueReceiverOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(queues);
        ArgumentException.ThrowIfNullOrEmpty(queue);
        ArgumentOutOfRangeException.ThrowIfLessThan(shards, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(shards, QueueShards.MaxShards);
        ArgumentNullException.ThrowIfNull(reader);
        _queues = queues;
        _reader = reader;
        _options = options ?? new EventQueueReceiverOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MaxDequeueCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MessagesPerShard, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(_options.MessagesPerShard, 32);
        QueueNames = QueueShards.Names(queue, shards);
        _shards = QueueNames.Select(queues.GetQueueClient).ToArray();
    }

    /// <summary>The shard queues read, in shard order.</summary>
    public IReadOnlyList<string> QueueNames { get; } = [];

    /// <summary>
    /// One pass over every shard: receives up to <see cref="EventQueueReceiverOptions.MessagesPerShard"/> messages
    /// from each (all shards at once), runs <paramref name="handler"/> for each event and deletes its message.
    /// Call it in a loop; it returns 0 when every shard was empty.
    /// </summary>
    /// <typeparam name="TData">The type of the events' data.</typeparam>
    /// <param name="handler">Handles one event; messages of a pass are handled concurrently.</param>
    /// <param name="cancellationToken">Stops the pass; messages not yet deleted come back after the visibility timeout.</param>
    /// <returns>How many events were handled.</returns>
    /// <exception cref="AggregateException">Handlers failed (after every other message of the pass was handled); their
    /// messages stay on the queue for another attempt. With one failure, that exception itself is thrown.</exception>
    public virtual async Task<int> ReceiveAsync<TData>(Func<ReceivedEvent<TData>, CancellationToken, Task> handler, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        var results = await Task.WhenAll(_shards.Select(shard => ReceiveShardAsync(shard, handler, cancellationToken)));
        var failures = results.SelectMany(r => r.Failures).ToList();
        if (failures.Count == 1) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failures[0]);
        if (failures.Count > 1) throw new AggregateException("Event handlers failed; their messages will be received again.", failures);
        return results.Sum(r => r.Handled);
    }

    private async Task<(int Handled, List<Exception> Failures)> ReceiveShardAsync<TData>(QueueClient shard, Func<ReceivedEvent<TData>, CancellationToken, Task> handler, CancellationToken cancellationToken)
    {
        QueueMessage[] messages;
        try
        {
            messages = (await shard.ReceiveMessagesAsync(_options.MessagesPerShard, _options.VisibilityTimeout, cancellationToken)).Value;
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            return (0, []); // not created yet: nothing was ever sent to this shard
        }

        var failures = new List<Exception>();
        var handled = 0;
        await Task.WhenAll(messages.Select(async message =>
        {
            try
            {
                // One event, or several of a packed queue: the message is deleted once every one is handled.
                foreach (var e in await _reader.ReadAllAsync<TData>(message.Body, cancellationToken))
                {
                    using (var activity = ConsumerActivities.StartConsume(e))
                    {
                        activity?.SetTag("messaging.destination.name", shard.Name);
                        try
                        {
                            await handler(e, cancellationToken);
                        }
                        catch (Exception ex)
                        {
                            activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, ex.GetType().Name);
                            throw;
                        }
                    }
                    Interlocked.Increment(ref handled);
                }
                await shard.DeleteMessageAsync(message.MessageId, message.PopReceipt, cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // A message that is not an event never reads; others get their attempts first.
                if (ex is EventFormatException || message.DequeueCount >= _options.MaxDequeueCount)
                {
                    await MoveToPoisonAsync(shard, message, cancellationToken);
                }
                lock (failures) failures.Add(ex);
            }
        }));
        return (handled, failures);
    }

    private async Task MoveToPoisonAsync(QueueClient shard, QueueMessage message, CancellationToken cancellationToken)
    {
        var poison = _queues.GetQueueClient(shard.Name + "-poison");
        await poison.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
        await poison.SendMessageAsync(message.Body, cancellationToken: cancellationToken);
        await shard.DeleteMessageAsync(message.MessageId, message.PopReceipt, cancellationToken);
    }
}
