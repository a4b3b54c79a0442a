namespace EventIngest.StorageFaults;

/// <summary>
/// The storage service a request was sent to; each one has its own listener on the proxy, so the
/// service is known from the port a request arrives on.
/// </summary>
public enum StorageService
{
    /// <summary>Blob service.</summary>
    Blob,

    /// <summary>Queue service.</summary>
    Queue,

    /// <summary>Table service.</summary>
    Table,
}

/// <summary>
/// What a request does, worked out from its method, path and query (and <c>X-HTTP-Method</c>), so
/// a rule can hit exactly the calls whose failure matters (a write, not the reads around it).
/// </summary>
public enum StorageOperation
{
    /// <summary><c>POST .../$batch</c>: an entity group transaction.</summary>
    TableBatch,

    /// <summary><c>POST /{account}/{table}</c>: insert an entity.</summary>
    TableInsert,

    /// <summary>PUT, MERGE or PATCH (also as POST with <c>X-HTTP-Method</c>) on an entity: update or upsert.</summary>
    TableUpdate,

    /// <summary>DELETE on an entity.</summary>
    TableDelete,

    /// <summary>GET on an entity or a query.</summary>
    TableRead,

    /// <summary>Creating, deleting and listing tables, service properties, ACLs.</summary>
    TableOther,

    /// <summary><c>POST /{queue}/messages</c>.</summary>
    QueueSend,

    /// <summary><c>GET /{queue}/messages</c> without <c>peekonly</c>: dequeues (makes messages invisible).</summary>
    QueueReceive,

    /// <summary><c>GET /{queue}/messages?peekonly=true</c>.</summary>
    QueuePeek,

    /// <summary><c>DELETE /{queue}/messages/{id}?popreceipt=</c>.</summary>
    QueueDeleteMessage,

    /// <summary><c>PUT /{queue}/messages/{id}?popreceipt=</c>: new visibility and/or content.</summary>
    QueueUpdateMessage,

    /// <summary>Creating, deleting, clearing and listing queues, metadata.</summary>
    QueueOther,

    /// <summary>PUT of a blob, a block, a block list, an append block or a page.</summary>
    BlobWrite,

    /// <summary>GET or HEAD of a blob (content or properties).</summary>
    BlobRead,

    /// <summary>Containers, listings, leases, metadata, deletes.</summary>
    BlobOther,
}

/// <summary>The failure a rule injects, each one a way real storage fails that callers must survive.</summary>
public enum FaultKind
{
    /// <summary>Waits <see cref="FaultRule.Delay"/> (plus a random long tail) and then forwards normally: a slow storage.</summary>
    Latency,

    /// <summary>Answers 503 <c>ServerBusy</c> in the service's error format without forwarding: throttling.</summary>
    ServerBusy,

    /// <summary>Answers 500 <c>InternalError</c> without forwarding.</summary>
    InternalError,

    /// <summary>Never answers and does not forward; the connection is held until the client gives up and closes it.</summary>
    Timeout,

    /// <summary>Resets the client connection (TCP RST) without forwarding: the write never lands.</summary>
    ResetBeforeForward,

    /// <summary>
    /// Forwards, lets Azurite apply the request, then resets the client connection: the write landed but the caller
    /// never hears so, and its retry meets its own earlier write (409, 412, a second message).
    /// </summary>
    ResetAfterForward,
}

/// <summary>
/// When and how the proxy fails a request. Rules are plain data plus a counter, so a test can keep a reference, add
/// it, and later ask how often it fired.
/// </summary>
public sealed class FaultRule
{
    private int applied;

    /// <summary>Service the rule applies to; <see langword="null"/> for any.</summary>
    public StorageService? Service { get; init; }

    /// <summary>Operation the rule applies to; <see langword="null"/> for any.</summary>
    public StorageOperation? Operation { get; init; }

    /// <summary>An extra filter on the request, for what service and operation cannot say (a table name, a path).</summary>
    public Func<ProxiedRequest, bool>? When { get; init; }

    /// <summary>The fault to inject.</summary>
    public required FaultKind Kind { get; init; }

    /// <summary>Chance per matching request (0..1), drawn from the proxy's seeded random source so runs repeat.</summary>
    public double Probability { get; init; } = 1.0;

    /// <summary><see cref="FaultKind.Latency"/>: the fixed part of the delay.</summary>
    public TimeSpan Delay { get; init; }

    /// <summary><see cref="FaultKind.Latency"/>: mean of an exponentially distributed extra delay (zero: none), for a long-tailed latency.</summary>
    public TimeSpan LongTail { get; init; }

    /// <summary>At most this many applications, then the rule stops matching; <see langword="null"/> for no limit.</summary>
    public int? Times { get; init; }

    /// <summary>How many times the rule has been applied so far.</summary>
    public int Applied => Volatile.Read(ref applied);

    internal bool Matches(ProxiedRequest request) =>
        (Service is null || Service == request.Service) &&
        (Operation is null || Operation == request.Operation) &&
        (Times is null || Applied < Times) &&
        (When is null || When(request));

    /// <summary>Counts one application, unless <see cref="Times"/> has been reached meanwhile by another request.</summary>
    internal bool TryClaim()
    {
        while (true)
        {
            var current = Volatile.Read(ref applied);
            if (Times is { } limit && current >= limit) return false;
            if (Interlocked.CompareExchange(ref applied, current + 1, current) == current) return true;
        }
    }
}

/// <summary>A request as the rules see it.</summary>
/// <param name="Service">The service, from the listener the request arrived on.</param>
/// <param name="Operation">What the request does.</param>
/// <param name="Method">The HTTP method as sent (POST for a tunnelled MERGE).</param>
/// <param name="PathAndQuery">The request target as sent, account segment included.</param>
public sealed record ProxiedRequest(StorageService Service, StorageOperation Operation, string Method, string PathAndQuery)
{
    /// <summary>The request body as sent (empty when it had none).</summary>
    public ReadOnlyMemory<byte> Body { get; init; }

    /// <summary>Whether the body, read as UTF-8, contains <paramref name="text"/>: a transaction's body names
    /// each operation's table, keys and conditions.</summary>
    public bool BodyContains(string text) => System.Text.Encoding.UTF8.GetString(Body.Span).Contains(text, StringComparison.Ordinal);
}
