using System.Diagnostics;
using System.Globalization;
using Azure;
using Azure.Data.Tables;

namespace EventIngest.Consumer;

/// <summary>
/// Makes at-least-once delivery effectively once for one consumer: a delivery of an event that this consumer has
/// already handled, or is handling right now elsewhere, is dropped. Thread-safe; shared by all instances through
/// Table Storage.
/// </summary>
/// <remarks>
/// <para>State: one row per consumer and event in a table of the service's storage account
/// (<see cref="EventConsumerOptions.InboxTableName"/>). PartitionKey <c>{day}|{consumer}|{shard}</c>, where day is
/// the delivery day (<c>ts</c> or <c>received_at</c>, whichever is later, so every copy of an event lands on the
/// same row); RowKey <c>{env}|{internal id}</c> (a replay's delivery id instead, so a replay is handled again).</para>
/// <para>A delivery claims the row with a conditional insert (only one of several concurrent ones succeeds), runs
/// the handler, then marks the row done. If the handler throws, the claim is removed so the queue's retry runs it
/// again. A claim whose holder crashed expires after <see cref="EventConsumerOptions.InboxLease"/>. Rows are kept
/// for <see cref="EventConsumerOptions.InboxRetention"/>; call <see cref="PurgeAsync"/> from a timer.</para>
/// </remarks>
public class EventInbox
{
    private const string Processing = "processing";
    private const string Done = "done";
    private const int Shards = 16;

    private readonly TableClient _table = null!;
    private readonly EventConsumerOptions _options = new();
    private readonly TimeProvider _time = TimeProvider.System;
    private readonly Lock _createLock = new();
    private Task? _created;

    /// <summary>For mocking.</summary>
    protected EventInbox()
    {
    }

    /// <summary>An inbox keeping its rows in <paramref name="table"/> (created on first use).</summary>
    /// <param name="table">The inbox table.</param>
    /// <param name="options">Lease and retention; null for the defaults.</param>
    /// <param name="timeProvider">The clock; null for the system clock.</param>
    public EventInbox(TableClient table, EventConsumerOptions? options = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(table);
        _table = table;
        _options = options ?? new EventConsumerOptions();
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>
    /// Runs <paramref name="handler"/> for <paramref name="event"/> unless <paramref name="consumer"/> has handled it
    /// already or another delivery of it is being handled now.
    /// </summary>
    /// <param name="consumer">Who handles the event, such as the function's name: each consumer handles every event
    /// once. 1–64 letters, digits, '.', '_' or '-'.</param>
    /// <param name="event">The event, as read by <see cref="EventReader"/>.</param>
    /// <param name="handler">The work to do once.</param>
    /// <param name="cancellationToken">Passed to the handler and the table calls.</param>
    /// <returns>True when the handler ran; false when the delivery was dropped as a repeat.</returns>
    /// <exception cref="RequestFailedException">The inbox table could not be reached; the handler did not run.</exception>
    public virtual async Task<bool> ProcessOnceAsync(string consumer, ReceivedEvent @event, Func<CancellationToken, Task> handler, CancellationToken cancellationToken = default)
    {
        CheckConsumer(consumer);
        ArgumentNullException.ThrowIfNull(@event);
        ArgumentNullException.ThrowIfNull(handler);
        await EnsureCreatedAsync(cancellationToken);

        var partitionKey = PartitionKeyFor(consumer, @event);
        var rowKey = RowKeyFor(@event);
        using var activity = ConsumerActivities.StartConsume(@event, consumer);
        var claim = await TryClaimAsync(partitionKey, rowKey, @event.Name, cancellationToken);
        if (claim is null)
        {
            activity?.SetTag("eventingest.inbox.repeat", true);
            return false;
        }

        try
        {
            await handler(cancellationToken);
        }
        catch (Exception ex)
        {
            activity?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
            await ReleaseAsync(partitionKey, rowKey, claim.Value);
            throw;
        }

        var done = new TableEntity(partitionKey, rowKey) { ["State"] = Done, ["Name"] = @event.Name, ["DoneAt"] = _time.GetUtcNow() };
        // Unconditional: if the lease ran out and another delivery took over, the event is done all the same.
        await _table.UpsertEntityAsync(done, TableUpdateMode.Replace, CancellationToken.None);
        return true;
    }

    /// <summary>Removes rows older than <see cref="EventConsumerOptions.InboxRetention"/>, for every consumer. Run
    /// it from a timer (daily is enough); rows are small, but Table Storage keeps them until deleted.</summary>
    /// <param name="cancellationToken">Stops purging; rows not yet deleted stay for the next run.</param>
    /// <returns>How many rows were deleted.</returns>
    public virtual async Task<int> PurgeAsync(CancellationToken cancellationToken = default)
    {
        await EnsureCreatedAsync(cancellationToken);
        var cutoff = Day(_time.GetUtcNow() - _options.InboxRetention);
        var deleted = 0;
        var rows = _table.QueryAsync<TableEntity>(
            TableClient.CreateQueryFilter($"PartitionKey lt {cutoff}"), select: ["PartitionKey", "RowKey"], cancellationToken: cancellationToken);
        var batch = new List<TableTransactionAction>(100);
        await foreach (var row in rows)
        {
            // A transaction holds at most 100 rows of one partition.
            if (batch.Count == 100 || (batch.Count > 0 && batch[0].Entity.PartitionKey != row.PartitionKey))
            {
                deleted += await DeleteAsync(batch, cancellationToken);
            }
            batch.Add(new TableTransactionAction(TableTransactionActionType.Delete, row, ETag.All));
        }
        if (batch.Count > 0) deleted += await DeleteAsync(batch, cancellationToken);
        return deleted;
    }

    private async Task<int> DeleteAsync(List<TableTransactionAction> batch, CancellationToken cancellationToken)
    {
        var count = batch.Count;
        await _table.SubmitTransactionAsync(batch, cancellationToken);
        batch.Clear();
        return count;
    }

    /// <summary>The ETag of this delivery's claim, or null when the event is done or held by a live claim.</summary>
    private async Task<ETag?> TryClaimAsync(string partitionKey, string rowKey, string name, CancellationToken cancellationToken)
    {
        // Names this delivery's claim: a write of ours that landed with its answer lost is ours on the re-read.
        var holder = Guid.NewGuid().ToString("N");
        // A few rounds at most: each lost round means another delivery changed the row in between.
        for (var round = 0; round < 5; round++)
        {
            var claim = new TableEntity(partitionKey, rowKey)
            {
                ["State"] = Processing,
                ["Name"] = name,
                ["LeaseUntil"] = _time.GetUtcNow() + _options.InboxLease,
                ["Holder"] = holder,
            };
            try
            {
                var added = await _table.AddEntityAsync(claim, cancellationToken);
                return added.Headers.ETag;
            }
            catch (RequestFailedException ex) when (ex.Status == 409)
            {
            }

            var existing = await _table.GetEntityIfExistsAsync<TableEntity>(partitionKey, rowKey, cancellationToken: cancellationToken);
            if (!existing.HasValue) continue; // released in between: claim again
            var row = existing.Value!;
            if (row.GetString("State") == Processing && row.GetString("Holder") == holder) return row.ETag;
            if (row.GetString("State") == Done) return null;
            if (row.GetDateTimeOffset("LeaseUntil") > _time.GetUtcNow()) return null;

            try
            {
                var taken = await _table.UpdateEntityAsync(claim, row.ETag, TableUpdateMode.Replace, cancellationToken);
                return taken.Headers.ETag;
            }
            catch (RequestFailedException ex) when (ex.Status is 404 or 412)
            {
            }
        }
        return null;
    }

    private async Task ReleaseAsync(string partitionKey, string rowKey, ETag claim)
    {
        try
        {
            await _table.DeleteEntityAsync(partitionKey, rowKey, claim, CancellationToken.None);
        }
        catch (RequestFailedException)
        {
            // Taken over already, or the table is unreachable: the lease expires on its own.
        }
    }

    private Task EnsureCreatedAsync(CancellationToken cancellationToken)
    {
        lock (_createLock)
        {
            if (_created is null || _created.IsFaulted || _created.IsCanceled) _created = _table.CreateIfNotExistsAsync(CancellationToken.None);
            return _created.WaitAsync(cancellationToken);
        }
    }

    internal static string PartitionKeyFor(string consumer, ReceivedEvent e)
    {
        var deliveredAt = e.Timestamp > e.ReceivedAt ? e.Timestamp : e.ReceivedAt;
        var key = e.DeliveryId ?? e.InternalId;
        // The last characters of ids of one request differ (seed counter), which spreads a batch over the shards.
        var shard = (key[^1] + key[^2] * 31) % Shards;
        return $"{Day(deliveredAt)}|{consumer}|{shard:x}";
    }

    internal static string RowKeyFor(ReceivedEvent e) => $"{e.Environment}|{e.DeliveryId ?? e.InternalId}";

    private static string Day(DateTimeOffset time) => time.UtcDateTime.ToString("yyyyMMdd", CultureInfo.InvariantCulture);

    private static void CheckConsumer(string consumer)
    {
        ArgumentException.ThrowIfNullOrEmpty(consumer);
        if (consumer.Length > 64 || !consumer.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
        {
            throw new ArgumentException("The consumer name must be 1-64 letters, digits, '.', '_' or '-'.", nameof(consumer));
        }
    }
}
