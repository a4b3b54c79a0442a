using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Azure;
using Azure.Data.Tables;
using EventIngest.Ids;

namespace EventIngest.Storage;

/// <summary>
/// Table Storage side of ingestion: the event records and the idempotency claims (the outbox row
/// that guarantees delivery is Delivery/Outbox.cs). Every write that decides "first wins" is a conditional insert
/// (AddEntity fails with 409 when the row exists), never a read followed by a write.
/// </summary>
/// <param name="idempotencyWindow">How long a caller key stays claimed (<c>EventIngest:Ingest:IdempotencyWindow</c>).</param>
internal sealed class EventStore(StorageAccount storage, TimeSpan idempotencyWindow, TimeProvider time)
{
    private const int MaxTransactionActions = 100;
    // Transactions are capped at 4 MiB; binary properties travel base64-encoded.
    private const int MaxTransactionPayload = 2_500_000;
    // Rounds of inserting a request's claims of one partition: a round is repeated only for claims that
    // changed in between (an expired claim the cleanup removed, or one replaced as this request replaced it).
    private const int MaxClaimRounds = 5;

    private readonly TimeSpan _window = idempotencyWindow;

    /// <summary>Columns of the idempotency table's rows: a claim (the internal id holding a caller key, when and by
    /// which request attempt it was written, whether an expiry row lists it) and an expiry row (the claims it lists).</summary>
    private static class ClaimColumn
    {
        public const string InternalId = "InternalId";
        public const string CreatedAt = "CreatedAt";
        public const string Writer = "Writer";
        public const string Indexed = "Indexed";
        public const string Claims = "Claims";
    }

    /// <summary>Claim rows live in one of 16 partitions chosen by the key's hash; the row key is the hash.</summary>
    public static (string Partition, string Row) ClaimKeyFor(string environment, string id)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(environment + "\n" + id), hash);
        var row = Convert.ToBase64String(hash).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        return ((hash[0] & 0xF).ToString("x", CultureInfo.InvariantCulture), row);
    }

    // ---- records --------------------------------------------------------------------------

    /// <summary>
    /// Inserts the records of events not yet known. A record that already exists is our own
    /// (a retried insert), void (fenced off: taken over), a different event under the same id
    /// (the seed was reused: <see cref="SeedReusedException"/>), or the same event: for a
    /// seed-keyed event the original of a duplicate; for a caller-keyed one the claim decides.
    /// </summary>
    /// <returns>What each write came to, by position.</returns>
    public async Task<RecordWritten[]> WriteRecordsAsync(RequestAttempt attempt, IReadOnlyList<RecordWrite> writes, CancellationToken ct)
    {
        var results = new RecordWritten[writes.Count];
        await Parallel.ForEachAsync(Chunk(Enumerable.Range(0, writes.Count).ToList(), i => SizeOf(writes[i].Record)),
            new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct },
            async (chunk, token) => await WriteRecordChunkAsync(attempt, writes, chunk, results, token));
        return results;
    }

    private async Task WriteRecordChunkAsync(RequestAttempt attempt, IReadOnlyList<RecordWrite> writes, List<int> chunk, RecordWritten[] results, CancellationToken ct)
    {
        while (chunk.Count > 0)
        {
            try
            {
                await InsertAllAsync(storage.Events, chunk.Select(i => writes[i].Record.ToEntity()).ToList(), ct);
                foreach (var i in chunk) results[i] = RecordWritten.Written;
                return;
            }
            catch (RequestFailedException ex) when (ex.Status == 409)
            {
                var existing = await ReadRecordsAsync(attempt.RecordPartition, chunk.Select(i => writes[i].Record.InternalId), ct);
                var rest = new List<int>(chunk.Count);
                foreach (var i in chunk)
                {
                    if (!existing.TryGetValue(writes[i].Record.RowKey, out var found)) { rest.Add(i); continue; }
                    results[i] = await ResolveExistingRecordAsync(attempt, writes[i], found, ct);
                }
                if (rest.Count == chunk.Count)
                {
                    throw new InvalidOperationException("A record insert conflicted but no conflicting record was found.", ex);
                }
                chunk = rest;
            }
        }
    }

    private async Task<RecordWritten> ResolveExistingRecordAsync(RequestAttempt attempt, RecordWrite write, EventRecord found, CancellationToken ct)
    {
        var e = write.Record;
        if (found.State == RecordState.Void)
        {
            if (found.FencedBy == attempt.Nonce)
            {
                // The repair job took this request over (it ran past its deadline): it owns the outcome now.
                throw new StorageUnavailableException("The request ran past its deadline and was taken over by the repair job.");
            }
            // Fenced off from an earlier attempt that was never answered: the id is free for this one.
            try
            {
                await storage.Events.UpdateEntityAsync(e.ToEntity(), found.ETag, TableUpdateMode.Replace, ct);
                return RecordWritten.Written;
            }
            catch (RequestFailedException ex) when (ex.Status is 412 or 404)
            {
                // Our own replace, retried after it landed with its answer lost; or another attempt's.
                var now = await ReadRecordsAsync(attempt.RecordPartition, [e.InternalId], ct);
                if (now.TryGetValue(e.RowKey, out var current) && current.Writer == attempt.Nonce) return RecordWritten.Written;
                throw new StorageUnavailableException("Another attempt of this request is writing the same events; retry.", ex);
            }
        }
        if (found.Writer == attempt.Nonce)
        {
            // Our own insert, reported as a conflict because the SDK retried a transaction that had landed.
            return RecordWritten.Written;
        }
        if (found.Fingerprint is { } fingerprint && !fingerprint.AsSpan().SequenceEqual(e.Fingerprint))
        {
            throw new SeedReusedException(write.Index);
        }
        return write.Key switch
        {
            KeyKind.Caller => RecordWritten.Existed,
            // The same event under the same id: a retry, however late. An internal id names one
            // event for as long as its record exists, so it is never given to another.
            KeyKind.Seed => RecordWritten.Duplicate,
            _ => throw new InvalidOperationException($"Random internal id {e.InternalId} collided with an existing record."),
        };
    }

    /// <summary>
    /// Makes sure no record of the request can be written any more: every id the request could
    /// write that has no record gets a void one (<see cref="RecordState.Void"/>), which its late
    /// inserts collide with. The repair job calls it before it reads what the request wrote, so a
    /// write still on its way when the request gave up can never land unseen.
    /// </summary>
    public async Task<int> FenceAsync(string partition, IdSeed seed, int count, string nonce, CancellationToken ct)
    {
        if (count == 0) return 0;
        var ids = Enumerable.Range(0, count).Select(seed.IdFor).ToList();
        var fenced = 0;
        for (var attempt = 0; ; attempt++)
        {
            var existing = await ReadRecordsAsync(partition, ids, ct);
            var missing = ids.Where(id => !existing.ContainsKey(RecordKeys.Row(id))).ToList();
            if (missing.Count == 0) return fenced;
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            try
            {
                foreach (var chunk in missing.Chunk(MaxTransactionActions))
                {
                    await InsertAllAsync(storage.Events, chunk.Select(id => EventRecord.Void(partition, id, nonce, now).ToEntity()).ToList(), ct);
                    fenced += chunk.Length;
                }
                return fenced;
            }
            catch (RequestFailedException ex) when (ex.Status == 409 && attempt < 5)
            {
                // A record landed meanwhile (or our own retried insert did): read again.
            }
        }
    }

    /// <summary>Deletes the records a request wrote (a refused request's, or the losers of a claim).</summary>
    public async Task DeleteWrittenByAsync(string partition, string nonce, CancellationToken ct)
    {
        var filter = EventRecord.WrittenBy(partition, nonce);
        var rows = new List<TableEntity>();
        await foreach (var row in storage.Events.QueryAsync<TableEntity>(filter, maxPerPage: 1000, select: ["PartitionKey", "RowKey"], cancellationToken: ct)) rows.Add(row);
        foreach (var row in rows)
        {
            try
            {
                await storage.Events.DeleteEntityAsync(row.PartitionKey, row.RowKey, ETag.All, ct);
            }
            catch (RequestFailedException ex) when (ex.Status == 404)
            {
            }
        }
    }

    private async Task<Dictionary<string, EventRecord>> ReadRecordsAsync(string partition, IEnumerable<string> internalIds, CancellationToken ct)
    {
        var keys = internalIds.Select(RecordKeys.Row).Order(StringComparer.Ordinal).ToList();
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {partition} and RowKey ge {keys[0]} and RowKey le {keys[^1]}");
        var wanted = keys.ToHashSet(StringComparer.Ordinal);
        var result = new Dictionary<string, EventRecord>(StringComparer.Ordinal);
        await foreach (var entity in storage.Events.QueryAsync<TableEntity>(filter, maxPerPage: 1000, select: EventRecord.OwnerColumns, cancellationToken: ct))
        {
            if (wanted.Contains(entity.RowKey)) result[entity.RowKey] = EventRecord.FromEntity(entity);
        }
        return result;
    }

    // ---- claims ---------------------------------------------------------------------------

    /// <summary>Claims the caller keys (<see cref="EventRecord.Id"/>) of the records; the records this attempt
    /// wrote for keys it lost are deleted, and a record an earlier attempt wrote for a key this one won is taken over.</summary>
    /// <returns>The claims lost, by position in <paramref name="claims"/>: the internal id of the event that holds the key.</returns>
    public async Task<Dictionary<int, string>> ClaimKeysAsync(RequestAttempt attempt, IReadOnlyList<KeyClaim> claims, CancellationToken ct)
    {
        var lost = new Dictionary<int, string>();
        var chunks = Enumerable.Range(0, claims.Count)
            .Select(i => (Claim: i, Key: ClaimKeyFor(attempt.Environment, claims[i].Record.Id!)))
            .GroupBy(c => c.Key.Partition)
            .SelectMany(g => g.Chunk(MaxTransactionActions - 1)) // and the chunk's expiry row
            .ToList();
        await Parallel.ForEachAsync(chunks, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (chunk, token) =>
        {
            var holders = await ClaimChunkAsync(attempt, claims, [.. chunk], token);
            lock (lost) foreach (var (i, holder) in holders) lost[i] = holder;
        });
        // Records of keys another event holds were never acknowledged (a claim holding this very id is
        // the earlier attempt of the same seeded request: its record stays).
        var orphans = lost.Where(l => claims[l.Key].Written == RecordWritten.Written && l.Value != claims[l.Key].Record.InternalId)
            .Select(l => claims[l.Key].Record).ToList();
        if (orphans.Count > 0) await DeleteOrphansAsync(attempt, orphans, ct);
        await AdoptAsync([.. Enumerable.Range(0, claims.Count).Where(i => claims[i].Written == RecordWritten.Existed && !lost.ContainsKey(i)).Select(i => claims[i].Record)], ct);
        return lost;
    }

    /// <summary>
    /// A retry that finds its event's record written by an earlier attempt (which died before
    /// claiming the key) and then wins the claim sends the event itself; it takes the record over
    /// (its own envelope and <c>Writer</c>), so the record holds exactly what this attempt sends,
    /// the repair of the earlier attempt does not send it a second time, and its own repair does if
    /// this attempt dies too.
    /// </summary>
    private async Task AdoptAsync(List<EventRecord> adopted, CancellationToken ct)
    {
        foreach (var chunk in Chunk(adopted, SizeOf))
        {
            await storage.Events.SubmitTransactionAsync(chunk.Select(r => new TableTransactionAction(
                TableTransactionActionType.UpdateReplace, r.ToEntity(), ETag.All)), ct);
        }
    }

    /// <returns>The claims of the chunk that another event holds, with its internal id.</returns>
    private async Task<List<(int Claim, string Holder)>> ClaimChunkAsync(RequestAttempt attempt, IReadOnlyList<KeyClaim> claims, List<(int Claim, (string Partition, string Row) Key)> chunk, CancellationToken ct)
    {
        var lost = new List<(int, string)>();
        for (var round = 1; chunk.Count > 0; round++)
        {
            try
            {
                await storage.Idempotency.SubmitTransactionAsync([
                    .. chunk.Select(c => new TableTransactionAction(TableTransactionActionType.Add, ClaimEntity(attempt, claims[c.Claim].Record, c.Key))),
                    new TableTransactionAction(TableTransactionActionType.UpsertReplace, ExpiryEntity(attempt, chunk[0].Key.Partition, chunk.Select(c => c.Key.Row)))], ct);
                return lost;
            }
            catch (RequestFailedException ex) when (ex.Status == 409)
            {
                var rest = new List<(int, (string, string))>(chunk.Count);
                var found = await ReadClaimsAsync(chunk[0].Key.Partition, chunk.Select(c => c.Key.Row), ct);
                foreach (var c in chunk)
                {
                    if (!found.TryGetValue(c.Key.Row, out var claim)) { rest.Add(c); continue; }
                    var (holder, won) = await ResolveExistingClaimAsync(attempt, claims[c.Claim].Record, c.Key, claim, ct);
                    if (holder is null) rest.Add(c);
                    else if (!won) lost.Add((c.Claim, holder));
                }
                // A claim gone by now, or changed while this request replaced it, is inserted again: the next
                // round's conflict reads who holds it then (this request's own replace, landed, included).
                if (rest.Count > 0 && round == MaxClaimRounds)
                {
                    throw new InvalidOperationException("A claim insert kept conflicting with claims that were gone when read.", ex);
                }
                chunk = rest;
            }
        }
        return lost;
    }

    /// <summary>Who holds the key: the existing claim inside the window, or this event when the
    /// existing claim has expired and this request replaced it (<c>Won</c>); no holder when the claim
    /// changed before the replace (to be inserted, and so read, again).</summary>
    private async Task<(string? Holder, bool Won)> ResolveExistingClaimAsync(RequestAttempt attempt, EventRecord e, (string Partition, string Row) key, TableEntity claim, CancellationToken ct)
    {
        var holder = claim.GetString(ClaimColumn.InternalId);
        if (claim.GetString(ClaimColumn.Writer) == attempt.Nonce) return (holder, true); // our own insert, retried by the SDK
        if (!IsExpired(claim.GetInt64(ClaimColumn.CreatedAt))) return (holder, false);
        try
        {
            await storage.Idempotency.SubmitTransactionAsync([
                new TableTransactionAction(TableTransactionActionType.UpdateReplace, ClaimEntity(attempt, e, key), claim.ETag),
                new TableTransactionAction(TableTransactionActionType.UpsertReplace, ExpiryEntity(attempt, key.Partition, [key.Row]))], ct);
            return (e.InternalId, true);
        }
        catch (RequestFailedException ex) when (ex.Status is 412 or 404)
        {
            // Changed meanwhile: by another request, by the cleanup, or by our own replace, retried
            // after it had landed with its answer lost.
            return (null, false);
        }
    }

    private static TableEntity ClaimEntity(RequestAttempt attempt, EventRecord e, (string Partition, string Row) key) => new(key.Partition, key.Row)
    {
        [ClaimColumn.InternalId] = e.InternalId,
        [ClaimColumn.CreatedAt] = attempt.ReceivedAt,
        [ClaimColumn.Writer] = attempt.Nonce,
        [ClaimColumn.Indexed] = true,
    };

    /// <summary>The internal id of the event holding the caller key <paramref name="id"/>, if any: one point read.</summary>
    public async Task<string?> ClaimHolderAsync(string environment, string id, CancellationToken ct)
    {
        var (partition, row) = ClaimKeyFor(environment, id);
        var claim = await storage.Idempotency.GetEntityIfExistsAsync<TableEntity>(partition, row, [ClaimColumn.InternalId], ct);
        return claim.HasValue ? claim.Value?.GetString(ClaimColumn.InternalId) : null;
    }

    /// <summary>For the repair: whether a record holds its caller key, claiming the key for it when no one does.</summary>
    public async Task<bool> HoldsClaimAsync(string environment, string id, string internalId, long? receivedAt, CancellationToken ct)
    {
        var (partition, rowKey) = ClaimKeyFor(environment, id);
        var claim = new TableEntity(partition, rowKey)
        {
            [ClaimColumn.InternalId] = internalId,
            [ClaimColumn.CreatedAt] = receivedAt,
            [ClaimColumn.Indexed] = true,
        };
        // With its expiry row, as a request's claims are, so the cleanup finds it once it has expired.
        var at = receivedAt ?? time.GetUtcNow().ToUnixTimeMilliseconds();
        var expiry = new TableEntity(partition, $"{ExpiryPrefix}{MinuteKeys.Of(at)}|{internalId}|{rowKey}") { [ClaimColumn.Claims] = rowKey };
        try
        {
            await storage.Idempotency.SubmitTransactionAsync([
                new TableTransactionAction(TableTransactionActionType.Add, claim),
                new TableTransactionAction(TableTransactionActionType.UpsertReplace, expiry)], ct);
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            var existing = await storage.Idempotency.GetEntityAsync<TableEntity>(partition, rowKey, select: [ClaimColumn.InternalId], cancellationToken: ct);
            return existing.Value.GetString(ClaimColumn.InternalId) == internalId;
        }
    }

    /// <summary>Expiry rows sort after every claim of their partition (claim row keys are base64url).</summary>
    public const string ExpiryPrefix = "~exp|";

    /// <summary>The expiry row of claims one request wrote in one transaction: <c>~exp|{minute}|{nonce}|{first claim}</c>,
    /// listing their row keys, in their partition. The cleanup reads only the rows of minutes past the window, so it
    /// costs what expired, not the size of the table.</summary>
    private static TableEntity ExpiryEntity(RequestAttempt attempt, string partition, IEnumerable<string> claimRows)
    {
        var rows = claimRows.ToList();
        return new TableEntity(partition, $"{ExpiryPrefix}{MinuteKeys.Of(attempt.ReceivedAt)}|{attempt.Nonce}|{rows[0]}")
        {
            [ClaimColumn.Claims] = string.Join(',', rows),
            [ClaimColumn.Writer] = attempt.Nonce,
        };
    }

    private async Task<Dictionary<string, TableEntity>> ReadClaimsAsync(string partition, IEnumerable<string> rows, CancellationToken ct)
    {
        var result = new Dictionary<string, TableEntity>(StringComparer.Ordinal);
        foreach (var group in rows.Chunk(15))
        {
            var filter = $"PartitionKey eq '{partition}' and (" + string.Join(" or ", group.Select(r => $"RowKey eq '{r}'")) + ")";
            await foreach (var entity in storage.Idempotency.QueryAsync<TableEntity>(filter, cancellationToken: ct))
            {
                result[entity.RowKey] = entity;
            }
        }
        return result;
    }

    /// <summary>Deletes the records of events that lost their claim (never acknowledged). One at a
    /// time: a delete retried after it landed meets 404, which is success here.</summary>
    private async Task DeleteOrphansAsync(RequestAttempt attempt, List<EventRecord> orphans, CancellationToken ct)
    {
        await Parallel.ForEachAsync(orphans, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (e, token) =>
        {
            try
            {
                await storage.Events.DeleteEntityAsync(attempt.RecordPartition, e.RowKey, ETag.All, token);
            }
            catch (RequestFailedException ex) when (ex.Status == 404)
            {
            }
        });
    }

    /// <summary>The partition of the cleanup's checkpoints, one row per claim partition; no claim
    /// partition starts with '~'.</summary>
    public const string CleanupCheckpoints = "~cleanup";

    /// <summary>Where the cleanup notes when it began to index claims and whether claims from before that are gone.</summary>
    public const string CleanupState = "~cleanup-state";

    /// <summary>
    /// Deletes claims older than the idempotency window (Table Storage has no TTL), all 16 claim partitions at once.
    /// Each claim is listed on an expiry row of the minute it was written in (<see cref="ExpiryPrefix"/>), so a run
    /// reads only the expiry rows of minutes past the window, deletes those of their claims not renewed since, then
    /// the expiry rows: its cost follows what expired, and what it deleted is its checkpoint. Each partition stops
    /// after the page during which <paramref name="budget"/> passed; the next run goes on from there.
    /// <para>Claims written before claims were indexed have no expiry row: until one full pass over each partition has
    /// run after every such claim expired, the partitions are also scanned for them as before (a checkpoint row per
    /// partition under <see cref="CleanupCheckpoints"/> holds the continuation of that scan).</para>
    /// </summary>
    public async Task<int> DeleteExpiredClaimsAsync(TimeSpan budget, CancellationToken ct, int pageSize = 1000)
    {
        await storage.EnsureCreatedAsync(ct);
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var cutoff = now - (long)_window.TotalMilliseconds;
        var started = time.GetTimestamp();
        var legacy = await LegacyStateAsync(now, ct);
        var deleted = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, 16), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = ct }, async (p, token) =>
        {
            var partition = p.ToString("x", CultureInfo.InvariantCulture);
            Interlocked.Add(ref deleted, await DeleteExpiredIndexedAsync(partition, cutoff, started, budget, pageSize, token));
            if (legacy.Pending) Interlocked.Add(ref deleted, await DeleteExpiredUnindexedAsync(partition, cutoff, legacy.Since, started, budget, pageSize, token));
        });
        if (legacy.Pending) await NoteLegacyDoneIfCompleteAsync(legacy.Since, ct);
        return deleted;
    }

    private async Task<int> DeleteExpiredIndexedAsync(string partition, long cutoff, long started, TimeSpan budget, int pageSize, CancellationToken ct)
    {
        var deleted = 0;
        // Whole minutes before the cutoff's: every claim listed there was written before the cutoff.
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {partition} and RowKey ge {ExpiryPrefix} and RowKey lt {ExpiryPrefix + MinuteKeys.Of(cutoff)}");
        await foreach (var page in storage.Idempotency.QueryAsync<TableEntity>(filter, maxPerPage: Math.Max(1, pageSize / 50), cancellationToken: ct).AsPages())
        {
            var expiry = page.Values;
            var listed = expiry.SelectMany(x => x.GetString(ClaimColumn.Claims).Split(',').Select(row => (Row: row, Writer: x.GetString(ClaimColumn.Writer)))).ToList();
            // Point reads, the cheapest request there is (a query of several row keys would scan the partition).
            var claims = new Dictionary<string, TableEntity>(StringComparer.Ordinal);
            await Parallel.ForEachAsync(listed.Select(c => c.Row).Distinct(StringComparer.Ordinal), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (row, token) =>
            {
                var claim = await storage.Idempotency.GetEntityIfExistsAsync<TableEntity>(partition, row, cancellationToken: token);
                if (claim.HasValue) lock (claims) claims[row] = claim.Value!;
            });
            // A claim renewed since (another writer, a later time) stays: its own expiry row lists it.
            var expired = listed.Where(c => claims.TryGetValue(c.Row, out var claim) && claim.GetString(ClaimColumn.Writer) == c.Writer && IsExpired(claim.GetInt64(ClaimColumn.CreatedAt)))
                .Select(c => claims[c.Row]).DistinctBy(c => c.RowKey).ToList();
            var done = await Task.WhenAll(expired.Chunk(MaxTransactionActions).Select(chunk => DeleteClaimsAsync([.. chunk], ct)));
            deleted += done.Sum();
            // The expiry rows go once their claims have: a run that dies before this finds them again.
            await Task.WhenAll(expiry.Chunk(MaxTransactionActions).Select(chunk => QuietRows.ChangeAsync(storage.Idempotency, chunk, TableTransactionActionType.Delete, ct)));
            if (time.GetElapsedTime(started) >= budget) break;
        }
        return deleted;
    }

    /// <summary>The scan for claims without an expiry row, from where the last run left it.</summary>
    private async Task<int> DeleteExpiredUnindexedAsync(string partition, long cutoff, long indexedSince, long started, TimeSpan budget, int pageSize, CancellationToken ct)
    {
        var deleted = 0;
        var checkpoint = await storage.Idempotency.GetEntityIfExistsAsync<TableEntity>(CleanupCheckpoints, partition, cancellationToken: ct);
        var resumeAt = checkpoint.HasValue ? checkpoint.Value!.GetString("Continuation") : null;
        // When this pass over the partition began: a pass that began after every unindexed claim had expired, and
        // reached the end, leaves none behind.
        var passStarted = checkpoint.HasValue ? checkpoint.Value!.GetInt64("PassStarted") ?? 0 : time.GetUtcNow().ToUnixTimeMilliseconds();
        var noted = resumeAt;
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {partition} and CreatedAt lt {cutoff}");
        var pages = storage.Idempotency.QueryAsync<TableEntity>(filter, maxPerPage: pageSize, select: ["PartitionKey", "RowKey"], cancellationToken: ct);
        await foreach (var page in pages.AsPages(resumeAt))
        {
            var done = await Task.WhenAll(page.Values.Chunk(MaxTransactionActions).Select(chunk => DeleteClaimsAsync([.. chunk], ct)));
            deleted += done.Sum();
            if (page.ContinuationToken is null) break;
            // Noted after every page, so a run that fails part-way keeps what it scanned.
            await storage.Idempotency.UpsertEntityAsync(new TableEntity(CleanupCheckpoints, partition) { ["Continuation"] = page.ContinuationToken, ["PassStarted"] = passStarted }, TableUpdateMode.Replace, ct);
            noted = page.ContinuationToken;
            if (time.GetElapsedTime(started) >= budget) return deleted;
        }
        // The partition's end: the next run starts over, unless this pass was the last one needed.
        if (noted is not null) await storage.Idempotency.DeleteEntityAsync(CleanupCheckpoints, partition, ETag.All, ct);
        if (passStarted - indexedSince > _window.TotalMilliseconds)
        {
            await storage.Idempotency.UpsertEntityAsync(new TableEntity(CleanupState, "done-" + partition), TableUpdateMode.Replace, ct);
        }
        return deleted;
    }

    /// <summary>When claims began to be indexed (noted by the first run), and whether unindexed ones may remain.</summary>
    private async Task<(bool Pending, long Since)> LegacyStateAsync(long now, CancellationToken ct)
    {
        var state = await storage.Idempotency.GetEntityIfExistsAsync<TableEntity>(CleanupState, "indexed", cancellationToken: ct);
        if (!state.HasValue)
        {
            try
            {
                await storage.Idempotency.AddEntityAsync(new TableEntity(CleanupState, "indexed") { ["Since"] = now }, ct);
            }
            catch (RequestFailedException ex) when (ex.Status == 409)
            {
                return await LegacyStateAsync(now, ct); // another run noted it first
            }
            return (true, now);
        }
        return (state.Value!.GetBoolean("Done") != true, state.Value.GetInt64("Since") ?? now);
    }

    /// <summary>Once every partition has had a pass that began after all unindexed claims expired, the scans stop for good.</summary>
    private async Task NoteLegacyDoneIfCompleteAsync(long since, CancellationToken ct)
    {
        var done = 0;
        await foreach (var _ in storage.Idempotency.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {CleanupState} and RowKey ge {"done-"} and RowKey lt {"done."}"), select: ["RowKey"], cancellationToken: ct)) done++;
        if (done < 16) return;
        await storage.Idempotency.UpsertEntityAsync(new TableEntity(CleanupState, "indexed") { ["Since"] = since, ["Done"] = true }, TableUpdateMode.Replace, ct);
    }

    /// <summary>Deletes expired claims in one transaction; if one was renewed or removed meanwhile,
    /// the others one by one. Each delete is conditional on the claim read, so a claim renewed after
    /// the window is never removed.</summary>
    private async Task<int> DeleteClaimsAsync(List<TableEntity> claims, CancellationToken ct)
    {
        claims.RemoveAll(c => c.ETag == default); // an unconditional delete could remove a renewed claim
        if (claims.Count == 0) return 0;
        try
        {
            await storage.Idempotency.SubmitTransactionAsync(claims.Select(c => new TableTransactionAction(TableTransactionActionType.Delete, c, c.ETag)), ct);
            return claims.Count;
        }
        catch (TableTransactionFailedException)
        {
            var deleted = 0;
            foreach (var claim in claims)
            {
                try
                {
                    await storage.Idempotency.DeleteEntityAsync(claim.PartitionKey, claim.RowKey, claim.ETag, ct);
                    deleted++;
                }
                catch (RequestFailedException ex) when (ex.Status is 404 or 412)
                {
                    // Renewed or removed meanwhile.
                }
            }
            return deleted;
        }
    }

    /// <summary>Inserts rows of one partition, all or none; fails with 409 if any exists. A single row
    /// is a plain insert: the same guarantee, a lighter request than a one-entity transaction.</summary>
    private static async Task InsertAllAsync(TableClient table, List<TableEntity> rows, CancellationToken ct)
    {
        if (rows.Count == 1) await table.AddEntityAsync(rows[0], ct);
        else await table.SubmitTransactionAsync(rows.Select(r => new TableTransactionAction(TableTransactionActionType.Add, r)), ct);
    }

    private bool IsExpired(long? createdMillis) =>
        createdMillis is not { } created || time.GetUtcNow().ToUnixTimeMilliseconds() - created > _window.TotalMilliseconds;

    /// <summary>What a record weighs in a transaction: its envelope, or a blob name's worth.</summary>
    private static int SizeOf(EventRecord record) => record.Blob is null ? record.Message?.Length ?? 0 : 512;

    private static IEnumerable<List<T>> Chunk<T>(List<T> items, Func<T, int> size)
    {
        var chunk = new List<T>();
        var bytes = 0;
        foreach (var e in items)
        {
            var s = size(e);
            if (chunk.Count == MaxTransactionActions || (chunk.Count > 0 && bytes + s > MaxTransactionPayload))
            {
                yield return chunk;
                chunk = [];
                bytes = 0;
            }
            chunk.Add(e);
            bytes += s;
        }
        if (chunk.Count > 0) yield return chunk;
    }
}
