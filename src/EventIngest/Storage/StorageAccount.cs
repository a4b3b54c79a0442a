using System.Collections.Concurrent;
using Azure.Core;
using Azure.Data.Tables;
using Azure.Identity;
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
    private readonly ConcurrentDictionary<string, QueueClient> _queueClients = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _createdQueues = new(StringComparer.Ordinal);
    private readonly Lock _readyLock = new();
    private Task? _ready;

    public StorageAccount(IOptions<StorageOptions> storage, StorageRequestCounter counter)
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
            if (options.TableServiceUri is null || options.QueueServiceUri is null || options.BlobServiceUri is null)
            {
                throw new OptionsValidationException(StorageOptions.Section, typeof(StorageOptions),
                    ["Set EventIngest:Storage:ConnectionString, or all of EventIngest:Storage:TableServiceUri, QueueServiceUri and BlobServiceUri."]);
            }
            var credential = CreateCredential(options.ClientId);
            tables = new TableServiceClient(options.TableServiceUri, credential, tableOptions);
            _queues = new QueueServiceClient(options.QueueServiceUri, credential, queueOptions);
            blobs = new BlobServiceClient(options.BlobServiceUri, credential, blobOptions);
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

    public QueueClient Queue(string name) => _queueClients.GetOrAdd(name, _queues.GetQueueClient);

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

    private static TokenCredential CreateCredential(string? clientId) =>
        string.IsNullOrWhiteSpace(clientId)
            ? new DefaultAzureCredential()
            : new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(clientId));

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
