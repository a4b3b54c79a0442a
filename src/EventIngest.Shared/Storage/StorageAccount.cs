using System.Collections.Concurrent;
using Azure.Core;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using EventIngest.Telemetry;
using Microsoft.Extensions.Options;

namespace EventIngest.Storage;

/// <summary>
/// The tables, queues and blob container the service uses, with clients configured so one
/// storage call never outlasts <see cref="StorageOptions.OperationTimeout"/> by much: a short
/// network timeout and two quick retries, so an outage becomes a 503 instead of a hang.
/// </summary>
public sealed class StorageAccount
{
    private readonly QueueServiceClient _queues;
    // Queues (every shard) that live in another account than the service's own: QueuePlacement.Account.
    private readonly Dictionary<string, QueueServiceClient> _queueAccounts = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, QueueClient> _queueClients = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _createdQueues = new(StringComparer.Ordinal);
    private readonly Lock _readyLock = new();
    private Task? _ready;

    /// <param name="placements">Which queues live in another account (a route's <c>Account</c>); none: every queue
    /// is in the service's own account.</param>
    public StorageAccount(IOptions<StorageOptions> storage, StorageRequestCounter counter, IEnumerable<QueuePlacement>? placements = null)
    {
        var options = storage.Value;
        Options = options;
        var tableOptions = Configure(new TableClientOptions(), options, counter, StorageTally.Table);
        var queueOptions = Configure(new QueueClientOptions { MessageEncoding = QueueMessageEncoding.Base64 }, options, counter, StorageTally.Queue);
        var blobOptions = Configure(new BlobClientOptions(), options, counter, StorageTally.Blob);

        TableServiceClient tables;
        BlobServiceClient blobs;
        if (!string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            tables = new TableServiceClient(options.ConnectionString, tableOptions);
            _queues = new QueueServiceClient(options.ConnectionString, queueOptions);
            blobs = new BlobServiceClient(options.ConnectionString, blobOptions);
        }
        else
        {
            if (!options.NamesAnAccount)
            {
                throw new OptionsValidationException(StorageOptions.Section, typeof(StorageOptions), [StorageOptions.NoAccountMessage]);
            }
            var credential = options.CreateCredential();
            tables = new TableServiceClient(options.TableServiceUri, credential, tableOptions);
            _queues = new QueueServiceClient(options.QueueServiceUri, credential, queueOptions);
            blobs = new BlobServiceClient(options.BlobServiceUri, credential, blobOptions);
        }

        if (placements is not null && options.QueueAccounts.Count > 0)
        {
            var accounts = new Dictionary<string, QueueServiceClient>(StringComparer.Ordinal);
            foreach (var (queue, shards, account) in placements)
            {
                if (string.IsNullOrEmpty(account) || !options.QueueAccounts.TryGetValue(account, out var settings)) continue;
                if (!accounts.TryGetValue(account, out var client))
                {
                    accounts[account] = client = !string.IsNullOrWhiteSpace(settings.ConnectionString)
                        ? new QueueServiceClient(settings.ConnectionString, queueOptions)
                        : new QueueServiceClient(settings.QueueServiceUri, options.CreateCredential(), queueOptions);
                }
                foreach (var name in QueueShards.Names(queue, shards)) _queueAccounts[name] = client;
            }
        }

        Tables = tables;
        Events = tables.GetTableClient(options.Prefix + "events");
        Idempotency = tables.GetTableClient(options.Prefix + "idempotency");
        Outbox = tables.GetTableClient(options.Prefix + "outbox");
        Schedule = tables.GetTableClient(options.Prefix + "schedule");
        Replays = tables.GetTableClient(options.Prefix + "replays");
        LargeEvents = blobs.GetBlobContainerClient(options.Prefix + "-large");
    }

    public StorageOptions Options { get; }
    public TableServiceClient Tables { get; }
    public TableClient Events { get; }
    public TableClient Idempotency { get; }
    public TableClient Outbox { get; }
    public TableClient Schedule { get; }
    /// <summary>One row per replay (<see cref="ReplayLog"/>); never read on the ingest path.</summary>
    public TableClient Replays { get; }
    public BlobContainerClient LargeEvents { get; }

    /// <summary>The internal queue of due-time markers for scheduled events (see Scheduling/Scheduler.cs); never a consumer's.</summary>
    public string DueQueueName => Options.Prefix + "due";

    /// <summary>A queue, in the account its route places it in (the service's own unless a <see cref="QueuePlacement"/> says otherwise).</summary>
    public QueueClient Queue(string name) =>
        _queueClients.GetOrAdd(name, n => (_queueAccounts.Count > 0 && _queueAccounts.TryGetValue(n, out var account) ? account : _queues).GetQueueClient(n));

    /// <summary>The queue, created on first use in this process.</summary>
    public async ValueTask<QueueClient> ReadyQueueAsync(string name, CancellationToken cancellationToken)
    {
        var client = Queue(name);
        if (_createdQueues.ContainsKey(name)) return client;
        await client.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
        _createdQueues.TryAdd(name, true);
        return client;
    }

    /// <summary>Creates the tables and the container once per process; after a failure the next call tries again.</summary>
    public Task EnsureCreatedAsync(CancellationToken cancellationToken)
    {
        lock (_readyLock)
        {
            if (_ready is null || _ready.IsFaulted || _ready.IsCanceled) _ready = CreateAllAsync();
            return _ready.WaitAsync(cancellationToken);
        }
    }

    private async Task CreateAllAsync()
    {
        using var cts = new CancellationTokenSource(Options.OperationTimeout * 3);
        var ct = cts.Token;
        await Task.WhenAll(
            Events.CreateIfNotExistsAsync(ct),
            Idempotency.CreateIfNotExistsAsync(ct),
            Outbox.CreateIfNotExistsAsync(ct),
            Schedule.CreateIfNotExistsAsync(ct),
            Replays.CreateIfNotExistsAsync(ct),
            LargeEvents.CreateIfNotExistsAsync(cancellationToken: ct));
    }

    private static T Configure<T>(T clientOptions, StorageOptions options, StorageRequestCounter counter, string service) where T : Azure.Core.ClientOptions
    {
        clientOptions.AddPolicy(counter, HttpPipelinePosition.PerRetry);
        clientOptions.AddPolicy(StorageTally.PolicyFor(service), HttpPipelinePosition.PerRetry);
        clientOptions.Retry.MaxRetries = 2;
        clientOptions.Retry.Mode = RetryMode.Exponential;
        clientOptions.Retry.Delay = TimeSpan.FromMilliseconds(200);
        clientOptions.Retry.MaxDelay = TimeSpan.FromSeconds(1);
        clientOptions.Retry.NetworkTimeout = options.OperationTimeout;
        return clientOptions;
    }
}

/// <summary>Where a queue and its shards live: <see cref="Account"/> names an entry of
/// <see cref="StorageOptions.QueueAccounts"/>, or is null for the service's own account.</summary>
public readonly record struct QueuePlacement(string Queue, int Shards, string? Account);
