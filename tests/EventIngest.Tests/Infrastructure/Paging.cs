namespace EventIngest.Tests.Infrastructure;

public static class Paging
{
    /// <summary>
    /// Follows a cursor to its end: calls <paramref name="page"/> with <paramref name="cursor"/> (null for the
    /// first page), then with each next cursor it answers, until it answers none. Returns every item in order and
    /// the number of pages; fails after <paramref name="maxPages"/> rather than follow a cursor that never ends.
    /// </summary>
    public static async Task<(List<T> Items, int Pages)> AllAsync<T>(
        Func<string?, Task<(IEnumerable<T> Items, string? Next)>> page, string? cursor = null, Func<Task>? betweenPages = null, int maxPages = 1_000)
    {
        var items = new List<T>();
        var pages = 0;
        do
        {
            Assert.True(pages < maxPages, $"a next cursor after {maxPages} pages");
            var (some, next) = await page(cursor);
            items.AddRange(some);
            cursor = next;
            pages++;
            if (betweenPages is not null) await betweenPages();
        }
        while (cursor is not null);
        return (items, pages);
    }
}
