using System.Globalization;
using Azure;
using Azure.Data.Tables;
using EventIngest.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EventIngest.Delivery;

/// <summary>
/// The outbox row of each request. It is written before any record; while it exists, the repair
/// job owns completing the request (<see cref="OutboxRepair"/>).
/// <para>
/// Removing the row of a finished request is not on the request's path. The request is answered
/// as soon as its messages are sent, and its row is deleted later in the same transaction as a
/// row this instance opens in the same partition (each instance writes to one shard of each
/// minute): once <see cref="RideWith"/> finished rows wait there, or the oldest has waited
/// <see cref="RideAfter"/>, the next row opened carries their deletes. Most rows are therefore
/// written as a plain insert (a transaction is slower than an insert, and the row is on the
/// request's path), and under steady load the removal costs no request of its own. With no
/// following request, waiting rows are deleted on their own after <see cref="FlushAfter"/>.
/// A crash before the removal makes the repair job send the request's events again: at least
/// once, never lost. The waits are short so that few rows wait at any moment: a kill re-sends
/// only the requests of the last <see cref="RideAfter"/> or so, and a request of more than
/// <see cref="ProgressEvery"/> events has its row deleted at once.
/// </para>
/// </summary>
internal sealed class Outbox(StorageAccount storage, TimeProvider time, ILogger<Outbox> logger) : BackgroundService
{
    /// <summary>Shards of each minute, one per instance: with the shard first in the partition key, the
    /// instances' rows append at 16 separate places of the key space instead of one hot range.</summary>
    public const int Shards = 16;

    /// <summary>Columns of an outbox row (partition: shard and minute; row: the request's nonce).</summary>
    public static class Column
    {
        /// <summary>The request's environment, record partition, id seed and event count: every id it may write.</summary>
        public const string Env = "Env";
        public const string RecordPartition = "RecordPartition";
        public const string Seed = "Seed";
        public const string Count = "Count";
        /// <summary>When the request was received (ms): the repair takes rows older than its cutoff.</summary>
        public const string Created = "Created";
        /// <summary>Events (in request order) the request noted as sent.</summary>
        public const string SentThrough = "SentThrough";
        /// <summary>The request was refused after writing: its records are deleted, not sent.</summary>
        public const string Abandoned = "Abandoned";
        /// <summary>Set by the repair: the last record row key of the chunks it finished, and how often it took the row.</summary>
        public const string Done = "Done";
        public const string Attempts = "Attempts";
    }

    /// <summary>Rows of requests received before <paramref name="cutoff"/> (ms).</summary>
    public static string CreatedBefore(long cutoff) => Column.Created + " lt " + TableClient.CreateQueryFilter($"{cutoff}");

    /// <summary>Events sent between two notes of progress on the row: a request killed while
    /// sending is re-sent by the repair from its last note, so about this many events, plus the
    /// sends in flight, twice.</summary>
    public const int ProgressEvery = 64;
    private const int MaxTransactionActions = 100;

    /// <summary>How many finished rows make the next row opened carry their deletes.</summary>
    public const int RideWith = 8;

    /// <summary>How long a finished row waits before the next row opened carries its delete anyway.</summary>
    public static readonly TimeSpan RideAfter = TimeSpan.FromMilliseconds(50);

    /// <summary>How long a finished row waits for a following request to carry its delete.</summary>
    public static readonly TimeSpan FlushAfter = TimeSpan.FromMilliseconds(250);

    private static readonly TimeSpan RetryPause = TimeSpan.FromSeconds(5);

    private readonly int _shard = Random.Shared.Next(Shards);
    private long _pausedUntil;
    private readonly Lock _gate = new();
    // Rows of finished requests not yet deleted, by partition, oldest first.
    private readonly Dictionary<string, List<Finished>> _finished = new(StringComparer.Ordinal);

    private readonly record struct Finished(string Row, long Since);

    // The instance's monotonic clock in milliseconds (a fake one in tests: how long a row waited is
    // not left to the speed of the machine).
    private readonly long _origin = time.GetTimestamp();
    private long Millis => (long)time.GetElapsedTime(_origin).TotalMilliseconds;

    /// <summary>Outbox partitions are a shard and a minute, <c>{a…p}-yyyyMMddHHmm</c>: the repair job reads, in each
    /// shard, the whole minutes older than its cutoff.</summary>
    public static string PartitionFor(long millis, int shard) => ShardPrefix(shard) + "-" + MinuteOf(millis);

    /// <summary>The letter a shard's partitions start with: letters sort after the digits of the partitions of
    /// earlier versions (<c>yyyyMMddHHmm-{n}</c>), so the repair tells the two apart by range.</summary>
    public static string ShardPrefix(int shard) => ((char)('a' + shard)).ToString();

    public static string MinuteOf(long millis) => MinuteKeys.Of(millis);

    /// <summary>Rows of finished requests waiting to be deleted.</summary>
    public int Waiting
    {
        get
        {
            lock (_gate) return _finished.Values.Sum(f => f.Count);
        }
    }

    /// <summary>Writes the request's row, with the deletes of finished rows of the same partition when they are due.</summary>
    public async Task OpenAsync(RequestAttempt batch, CancellationToken ct)
    {
        var partition = PartitionOf(batch);
        var row = new TableEntity(partition, batch.Nonce)
        {
            [Column.Env] = batch.Environment,
            [Column.RecordPartition] = batch.RecordPartition,
            [Column.Count] = batch.EventCount,
            [Column.Seed] = batch.Seed.ToString(),
            [Column.Created] = batch.ReceivedAt,
        };
        var riders = RidersFor(partition);
        try
        {
            await InsertAsync(row, riders, ct);
        }
        catch
        {
            Return(partition, riders);
            throw;
        }
    }

    /// <summary>Events before <paramref name="sentThrough"/> (in request order) are on their queues:
    /// a repair of this request starts after them. A row already gone (repaired) is left alone.</summary>
    public async Task NoteProgressAsync(RequestAttempt batch, int sentThrough, CancellationToken ct)
    {
        try
        {
            await storage.Outbox.UpdateEntityAsync(new TableEntity(PartitionOf(batch), batch.Nonce) { [Column.SentThrough] = sentThrough }, ETag.All, TableUpdateMode.Merge, ct);
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
        }
    }

    /// <summary>The request was refused after writing: the repair job deletes what it wrote instead of sending it.</summary>
    public Task MarkAbandonedAsync(RequestAttempt batch, CancellationToken ct) =>
        storage.Outbox.UpdateEntityAsync(new TableEntity(PartitionOf(batch), batch.Nonce) { [Column.Abandoned] = true }, ETag.All, TableUpdateMode.Merge, ct);

    /// <summary>Deletes the request's row at once (a refused request that has taken back what it wrote).</summary>
    public Task DeleteAsync(RequestAttempt batch, CancellationToken ct) => DeleteOneAsync(PartitionOf(batch), batch.Nonce, ct);

    /// <summary>The request is complete: its row is deleted later, off the request's path. A row
    /// left by a crash makes the repair send the request again from its last progress note, so a
    /// request of more than <see cref="ProgressEvery"/> events, for which that could
    /// be a whole round of sends, has its row deleted at once, in the background (one request among
    /// its many).</summary>
    public void Finish(RequestAttempt batch)
    {
        var partition = PartitionOf(batch);
        lock (_gate)
        {
            if (!_finished.TryGetValue(partition, out var rows)) _finished[partition] = rows = [];
            rows.Add(new Finished(batch.Nonce, Millis));
        }
        if (batch.EventCount > ProgressEvery) _ = DeleteNowAsync(partition, batch.Nonce);
    }

    private async Task DeleteNowAsync(string partition, string row)
    {
        try
        {
            await DeleteOneAsync(partition, row, CancellationToken.None);
        }
        catch (Exception ex) when (StorageErrors.IsTransient(ex) || ex is OperationCanceledException)
        {
            return; // still waiting: it rides on a later row or is flushed
        }
        lock (_gate)
        {
            if (_finished.TryGetValue(partition, out var rows) && rows.FindIndex(r => r.Row == row) is >= 0 and var index)
            {
                rows.RemoveAt(index);
                if (rows.Count == 0) _finished.Remove(partition);
            }
        }
    }

    /// <summary>True when this instance finished the request and its row only waits to be deleted.</summary>
    public bool IsFinished(string partition, string nonce)
    {
        lock (_gate) return _finished.TryGetValue(partition, out var rows) && rows.Exists(r => r.Row == nonce);
    }

    /// <summary>Deletes every waiting row now (tests, benchmarks and shutdown).</summary>
    public Task FlushAsync(CancellationToken ct = default) => FlushAsync(long.MaxValue, ct);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(FlushAfter / 2);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                if (Millis < _pausedUntil) continue;
                await FlushAsync(Millis - (long)FlushAfter.TotalMilliseconds, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }

        // The host is stopping and has stopped taking requests: delete what is left, briefly.
        using var last = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await FlushAsync(last.Token);
        }
        catch (Exception ex) when (ex is OperationCanceledException || StorageErrors.IsTransient(ex))
        {
            logger.LogWarning("{Count} finished outbox rows were left for the repair job at shutdown", Waiting);
        }
    }

    private static string PartitionOf(RequestAttempt batch) => batch.OutboxPartition;

    /// <summary>The partition this instance writes a row received at <paramref name="receivedAt"/> to.</summary>
    public string PartitionFor(long receivedAt) => PartitionFor(receivedAt, _shard);

    private async Task FlushAsync(long finishedBefore, CancellationToken ct)
    {
        string[] partitions;
        lock (_gate) partitions = [.. _finished.Keys];
        foreach (var partition in partitions)
        {
            while (Take(partition, MaxTransactionActions, finishedBefore) is { Count: > 0 } rows)
            {
                try
                {
                    await DeleteAsync(partition, rows, ct);
                }
                catch (Exception ex) when (StorageErrors.IsTransient(ex) || ex is OperationCanceledException)
                {
                    Return(partition, rows);
                    if (ex is OperationCanceledException) throw;
                    // Storage is failing: wait before the next attempt rather than retry every tick.
                    _pausedUntil = Millis + (long)RetryPause.TotalMilliseconds;
                    logger.LogWarning(ex, "Could not delete {Count} finished outbox rows; trying again in {Pause}", rows.Count, RetryPause);
                    return;
                }
            }
        }
    }

    private async Task InsertAsync(TableEntity row, List<string> riders, CancellationToken ct)
    {
        while (true)
        {
            if (riders.Count == 0)
            {
                try
                {
                    await storage.Outbox.AddEntityAsync(row, ct);
                }
                catch (RequestFailedException ex) when (ex.Status == 409)
                {
                    // The nonce is unique to this request: a conflict is our own insert, retried by the SDK.
                }
                return;
            }
            try
            {
                await storage.Outbox.SubmitTransactionAsync(
                    [new TableTransactionAction(TableTransactionActionType.Add, row), .. riders.Select(DeleteAction(row.PartitionKey))], ct);
                return;
            }
            catch (TableTransactionFailedException ex) when (ex.Status == 409 && ex.FailedTransactionActionIndex is null or 0)
            {
                return; // our own transaction, retried by the SDK after it had landed
            }
            catch (RequestFailedException ex) when (ex.Status == 404)
            {
                // A finished row is gone already (its delete was retried, or the repair job took it).
                if (ex is TableTransactionFailedException { FailedTransactionActionIndex: int index } && index > 0) riders.RemoveAt(index - 1);
                else riders.Clear();
            }
        }
    }

    private async Task DeleteAsync(string partition, List<string> rows, CancellationToken ct)
    {
        while (rows.Count > 0)
        {
            try
            {
                await storage.Outbox.SubmitTransactionAsync(rows.Select(DeleteAction(partition)), ct);
                return;
            }
            catch (TableTransactionFailedException ex) when (ex.Status == 404)
            {
                if (ex.FailedTransactionActionIndex is int index) rows.RemoveAt(index);
                else
                {
                    foreach (var row in rows) await DeleteOneAsync(partition, row, ct);
                    return;
                }
            }
        }
    }

    private async Task DeleteOneAsync(string partition, string row, CancellationToken ct)
    {
        try
        {
            await storage.Outbox.DeleteEntityAsync(partition, row, ETag.All, ct);
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
        }
    }

    private static Func<string, TableTransactionAction> DeleteAction(string partition) =>
        row => new TableTransactionAction(TableTransactionActionType.Delete, new TableEntity(partition, row), ETag.All);

    private List<string> RidersFor(string partition)
    {
        bool due;
        lock (_gate)
        {
            due = _finished.TryGetValue(partition, out var rows)
                && (rows.Count >= RideWith || rows[0].Since <= Millis - (long)RideAfter.TotalMilliseconds);
        }
        return due ? Take(partition, MaxTransactionActions - 1, long.MaxValue) : [];
    }

    private List<string> Take(string partition, int max, long olderThan)
    {
        lock (_gate)
        {
            if (!_finished.TryGetValue(partition, out var rows)) return [];
            var count = 0;
            while (count < rows.Count && count < max && rows[count].Since < olderThan) count++;
            var taken = rows.Take(count).Select(r => r.Row).ToList();
            rows.RemoveRange(0, count);
            if (rows.Count == 0) _finished.Remove(partition);
            return taken;
        }
    }

    private void Return(string partition, List<string> rows)
    {
        if (rows.Count == 0) return;
        lock (_gate)
        {
            if (!_finished.TryGetValue(partition, out var waiting)) _finished[partition] = waiting = [];
            waiting.InsertRange(0, rows.Select(r => new Finished(r, 0)));
        }
    }
}
