using Azure.Core;
using Azure.Core.Pipeline;

namespace EventIngest.Telemetry;

/// <summary>
/// The storage requests one ingest request makes, by service. The request opens a tally
/// (<see cref="Begin"/>); each storage client's pipeline adds to the tally of the flow it runs in,
/// retries included. Work a request leaves behind after its answer is not counted.
/// </summary>
public sealed class StorageTally
{
    public const string Table = "table";
    public const string Queue = "queue";
    public const string Blob = "blob";

    private static readonly AsyncLocal<StorageTally?> Current = new();

    private int _tables;
    private int _queues;
    private int _blobs;

    public int Tables => Volatile.Read(ref _tables);
    public int Queues => Volatile.Read(ref _queues);
    public int Blobs => Volatile.Read(ref _blobs);

    /// <summary>Starts counting for the current flow and what it starts; the caller reads the tally when done.</summary>
    public static StorageTally Begin() => Current.Value = new StorageTally();

    /// <summary>Stops counting for the current flow.</summary>
    public static void End() => Current.Value = null;

    /// <summary>The pipeline policy of one service's clients.</summary>
    public static HttpPipelinePolicy PolicyFor(string service) => new Counting(service);

    private sealed class Counting(string service) : HttpPipelineSynchronousPolicy
    {
        public override void OnSendingRequest(HttpMessage message)
        {
            if (Current.Value is not { } tally) return;
            switch (service)
            {
                case Table: Interlocked.Increment(ref tally._tables); break;
                case Queue: Interlocked.Increment(ref tally._queues); break;
                default: Interlocked.Increment(ref tally._blobs); break;
            }
        }
    }
}
