using Azure;
using Azure.Data.Tables;
using EventIngest.Storage;

namespace EventIngest.Api;

/// <summary>What <c>GET /v1/events</c> asks for. Times are ms since the epoch, both exclusive.</summary>
internal sealed record EventFilter(string? Name, string? Id, long? ReceivedAfter, long? ReceivedBefore)
{
    public string Fingerprint => ListCursor.QueryOf(Name, Id, ReceivedAfter, ReceivedBefore);

    public bool Matches(EventRecord record) =>
        (Name is null || record.Name == Name)
        && (ReceivedAfter is not { } after || record.ReceivedAt > after)
        && (ReceivedBefore is not { } before || record.ReceivedAt < before);
}

internal sealed record RecordPage(IReadOnlyList<EventRecord> Records, ListCursor? Next);

/// <summary>Thrown when a cursor's continuation token is refused by the table service.</summary>
internal sealed class InvalidCursorException(Exception inner) : Exception("The cursor is not valid.", inner);

/// <summary>
/// Lists an environment's records newest first. Record keys hold the internal id with its digits
/// inverted (<see cref="RecordKeys"/>), so ascending key order is newest-first order and the
/// environment is one key range, <c>{env}|</c> up to <c>{env}}</c>: a page is one range query
/// that stops after <c>limit + 1</c> rows. The next page starts strictly after the last row
/// returned, so events arriving meanwhile (newer ids, lower keys) never shift it: no gaps, no repeats.
/// </summary>
internal sealed class EventListing(StorageAccount storage, EventLookup reader, EventStore store)
{
    /// <summary>Storage requests one page may take. Unfiltered pages need one; a filter that
    /// matches rarely may need more, and past this the page ends early with a cursor.</summary>
    public const int MaxRequestsPerPage = 5;

    public async Task<RecordPage> ListAsync(string environment, EventFilter filter, int limit, ListCursor? cursor, CancellationToken ct)
    {
        await storage.EnsureCreatedAsync(ct);
        return filter.Id is { } id
            ? await FindByIdAsync(environment, id, filter, cursor, ct)
            : await ScanAsync(environment, filter, limit, cursor, ct);
    }

    private async Task<RecordPage> ScanAsync(string environment, EventFilter filter, int limit, ListCursor? cursor, CancellationToken ct)
    {
        var query = Filter(environment, filter, cursor?.AfterRow);
        var continuation = cursor?.Continuation;
        var records = new List<EventRecord>(limit + 1);
        for (var requests = 1; ; requests++)
        {
            var page = await FirstPageAsync(query, limit + 1 - records.Count, continuation, usedCursor: continuation is not null && requests == 1, ct);
            records.AddRange(page.Values.Select(EventRecord.FromEntity));
            if (records.Count > limit)
            {
                records.RemoveRange(limit, records.Count - limit);
                return new RecordPage(records, new ListCursor(records[^1].RowKey, null, filter.Fingerprint));
            }
            continuation = page.ContinuationToken;
            if (continuation is null) return new RecordPage(records, null);
            if (requests == MaxRequestsPerPage)
            {
                // Out of budget mid-scan: the service's token resumes this very query where it stopped.
                return new RecordPage(records, new ListCursor(cursor?.AfterRow, continuation, filter.Fingerprint));
            }
        }
    }

    private async Task<Page<TableEntity>> FirstPageAsync(string query, int take, string? continuation, bool usedCursor, CancellationToken ct)
    {
        try
        {
            await foreach (var page in storage.Events.QueryAsync<TableEntity>(query, take, EventRecord.ViewColumns, ct).AsPages(continuation, take))
            {
                return page;
            }
        }
        catch (RequestFailedException ex) when (usedCursor && ex.Status == 400)
        {
            throw new InvalidCursorException(ex);
        }
        throw new InvalidOperationException("A table query returned no page.");
    }

    /// <summary><c>id=</c>: the idempotency claim names the event holding that key — two point reads.</summary>
    private async Task<RecordPage> FindByIdAsync(string environment, string id, EventFilter filter, ListCursor? cursor, CancellationToken ct)
    {
        if (await store.ClaimHolderAsync(environment, id, ct) is not { } internalId) return new RecordPage([], null);

        var record = await reader.FindAsync(environment, internalId, ct);
        var seen = cursor?.AfterRow is { } after && record is not null && string.CompareOrdinal(record.RowKey, after) <= 0;
        return record is not null && !seen && record.Id == id && filter.Matches(record)
            ? new RecordPage([record], null)
            : new RecordPage([], null);
    }

    private static string Filter(string environment, EventFilter filter, string? afterRow)
    {
        var parts = new List<string>(5);
        if (afterRow is null)
        {
            parts.Add(TableClient.CreateQueryFilter($"PartitionKey gt {RecordKeys.EnvironmentPrefix(environment)}"));
        }
        else
        {
            // Every row of a later partition has a greater row key too (the partition is a prefix
            // of the row key), so "RowKey gt" only trims the cursor's own partition.
            parts.Add(TableClient.CreateQueryFilter($"PartitionKey ge {RecordKeys.EnvironmentPrefix(environment) + afterRow[..RecordKeys.PartitionChars]}"));
            parts.Add(TableClient.CreateQueryFilter($"RowKey gt {afterRow}"));
        }
        parts.Add(TableClient.CreateQueryFilter($"PartitionKey lt {environment + "}"}"));
        parts.Add(EventRecord.Where(EventRecord.Column.State, "ne", RecordState.Void));
        if (filter.Name is { } name) parts.Add(EventRecord.Where(EventRecord.Column.Name, "eq", name));
        if (filter.ReceivedAfter is { } receivedAfter) parts.Add(EventRecord.Where(EventRecord.Column.ReceivedAt, "gt", receivedAfter));
        if (filter.ReceivedBefore is { } receivedBefore) parts.Add(EventRecord.Where(EventRecord.Column.ReceivedAt, "lt", receivedBefore));
        return string.Join(" and ", parts);
    }
}
