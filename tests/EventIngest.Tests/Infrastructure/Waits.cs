namespace EventIngest.Tests.Infrastructure;

/// <summary>
/// Waiting for a condition instead of for a time: on a loaded machine everything is slower, and a
/// test that sleeps a fixed time and then asserts fails for the machine, not for the code. The
/// deadline is generous; a test that reaches it fails on the assertion that follows.
/// </summary>
public static class Waits
{
    public static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);

    /// <summary>Reads until <paramref name="done"/> holds or the deadline passes; returns the last read.</summary>
    public static async Task<T> UntilAsync<T>(Func<Task<T>> read, Func<T, bool> done, TimeSpan? deadline = null)
    {
        var until = DateTime.UtcNow + (deadline ?? Generous);
        while (true)
        {
            var value = await read();
            if (done(value) || DateTime.UtcNow > until) return value;
            await Task.Delay(100);
        }
    }

    /// <summary>Waits until the host's due queue holds no marker, visible or not: every scheduled
    /// event placed so far has been released or found stale. Returns the markers left.</summary>
    /// A marker that met another release holding its event waits out that release's lease (half of
    /// RepairAfter) before it is found stale, hence the longer default deadline.
    public static Task<int> DueMarkersSettledAsync(this TestHost host, TimeSpan? deadline = null) =>
        UntilAsync(() => host.CountMessagesAsync(host.Storage.DueQueueName), left => left == 0, deadline ?? TimeSpan.FromMinutes(3));

    /// <summary>Receives from a queue until at least <paramref name="count"/> messages have come
    /// (each is then invisible for ten minutes) or the deadline passes; returns what came.</summary>
    public static async Task<List<System.Text.Json.JsonElement>> ReceiveAtLeastAsync(this TestHost host, int count, string? queue = null, TimeSpan? deadline = null)
    {
        var received = new List<System.Text.Json.JsonElement>();
        await UntilAsync(async () =>
        {
            received.AddRange(await host.ReceiveAllAsync(queue));
            return received.Count;
        }, n => n >= count, deadline);
        return received;
    }

    /// <summary>The first message to appear on a queue (the host's default one unless named), and
    /// when it was received (Unix milliseconds); null if none came before the deadline.</summary>
    public static async Task<(System.Text.Json.JsonElement Message, long SeenAt)?> FirstMessageAsync(this TestHost host, string? queue = null, TimeSpan? deadline = null)
    {
        var client = await host.Storage.ReadyQueueAsync(queue ?? host.DefaultQueue, default);
        var (body, seenAt) = await UntilAsync(
            async () => (await client.ReceiveMessagesAsync(1, TimeSpan.FromMinutes(10))).Value
                .Select(m => (Body: m.Body.ToString(), SeenAt: DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())).FirstOrDefault(),
            m => m.Body is not null, deadline);
        return body is null ? null : (System.Text.Json.JsonDocument.Parse(body).RootElement, seenAt);
    }
}
