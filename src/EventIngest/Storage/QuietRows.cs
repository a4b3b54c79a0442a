using Azure;
using Azure.Data.Tables;

namespace EventIngest.Storage;

/// <summary>
/// Changes to rows that may be gone already (tidied by a cancel, a racing pass, or our own earlier attempt whose
/// answer was lost), where a missing row is no error. A transaction fails as a whole when one of its rows is
/// missing, so those rows are then changed one by one.
/// </summary>
internal static class QuietRows
{
    /// <summary>Deletes or merges <paramref name="rows"/> (of one partition, at most 100) in one transaction, falling
    /// back to one request per row when one of them is missing.</summary>
    public static async Task ChangeAsync(TableClient table, IReadOnlyList<TableEntity> rows, TableTransactionActionType action, CancellationToken ct)
    {
        try
        {
            await table.SubmitTransactionAsync(rows.Select(r => new TableTransactionAction(action, r, ETag.All)), ct);
        }
        catch (TableTransactionFailedException ex) when (ex.Status == 404)
        {
            foreach (var row in rows)
            {
                if (action == TableTransactionActionType.Delete) await DeleteAsync(table, row, ct);
                else await MergeAsync(table, row, ct);
            }
        }
    }

    /// <summary>Deletes a row; false when it was not there (the client answers a missing entity without throwing,
    /// its status says so).</summary>
    public static async Task<bool> DeleteAsync(TableClient table, TableEntity row, CancellationToken ct) =>
        (await table.DeleteEntityAsync(row.PartitionKey, row.RowKey, ETag.All, ct)).Status != 404;

    /// <summary>Merges into a row; false when it is not there.</summary>
    public static async Task<bool> MergeAsync(TableClient table, TableEntity row, CancellationToken ct)
    {
        try
        {
            await table.UpdateEntityAsync(row, ETag.All, TableUpdateMode.Merge, ct);
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            return false;
        }
    }
}
