using System.Globalization;
using EventIngest.StorageFaults;

namespace EventIngest.Faults;

/// <summary>
/// Storage faults that change every 2–6 s, all drawn from one seeded generator: latency (fixed
/// 0–300 ms, and long-tailed), 503 ServerBusy and 500 InternalError at a few percent, timeouts at
/// a low rate, connections reset before the request is forwarded, and on writes connections reset
/// after it was forwarded (the write lands, the response is lost); now and then a full cut of
/// 1–3 s. Rates stay moderate so that retrying clients still make progress.
/// </summary>
internal sealed class FaultSchedule(StorageFaultProxy proxy, int seed)
{
    private static readonly HashSet<StorageOperation> Writes =
    [
        StorageOperation.TableBatch, StorageOperation.TableInsert, StorageOperation.TableUpdate,
        StorageOperation.QueueSend, StorageOperation.BlobWrite, StorageOperation.QueueDeleteMessage,
    ];

    private readonly List<FaultRule> _active = [];

    /// <summary>One line per phase: when it began and which faults it set.</summary>
    public List<string> Phases { get; } = [];
    public int Cuts { get; private set; }
    public TimeSpan CutTime { get; private set; }

    public Task RunAsync(DateTimeOffset start, CancellationToken stop) => Task.Run(async () =>
    {
        var random = new Random(seed);
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var phase = TimeSpan.FromMilliseconds(random.Next(2_000, 6_001));
                var description = Apply(random);
                var at = DateTimeOffset.UtcNow - start;
                if (random.Next(12) == 0)
                {
                    var cut = TimeSpan.FromMilliseconds(random.Next(1_000, 3_001));
                    lock (Phases) Phases.Add(string.Create(CultureInfo.InvariantCulture, $"{at.TotalSeconds,6:0.0} s  CUT {cut.TotalSeconds:0.0} s, then {description}"));
                    proxy.IsCut = true;
                    Cuts++;
                    CutTime += cut;
                    try
                    {
                        await Task.Delay(cut, stop);
                    }
                    finally
                    {
                        proxy.IsCut = false;
                    }
                }
                else
                {
                    lock (Phases) Phases.Add(string.Create(CultureInfo.InvariantCulture, $"{at.TotalSeconds,6:0.0} s  {description}"));
                }
                await Task.Delay(phase, stop);
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            StopAll();
        }
    }, CancellationToken.None);

    /// <summary>Removes every fault: the proxy forwards everything again.</summary>
    public void StopAll()
    {
        proxy.Clear();
        proxy.IsCut = false;
        _active.Clear();
    }

    private string Apply(Random random)
    {
        foreach (var rule in _active) proxy.Remove(rule);
        _active.Clear();
        var parts = new List<string>();

        void Add(FaultRule rule, string text)
        {
            _active.Add(proxy.Add(rule));
            parts.Add(text);
        }

        // Each fault is present in about half the phases, at a rate drawn per phase.
        if (random.Next(2) == 0)
        {
            var delay = random.Next(0, 301);
            var p = random.Next(5, 31) / 100.0;
            Add(new FaultRule { Kind = FaultKind.Latency, Probability = p, Delay = TimeSpan.FromMilliseconds(delay) }, $"latency {delay} ms@{p:P0}");
        }
        if (random.Next(2) == 0)
        {
            var mean = random.Next(50, 401);
            var p = random.Next(2, 16) / 100.0;
            Add(new FaultRule { Kind = FaultKind.Latency, Probability = p, LongTail = TimeSpan.FromMilliseconds(mean) }, $"long-tail latency mean {mean} ms@{p:P0}");
        }
        if (random.Next(2) == 0)
        {
            var p = random.Next(1, 5) / 100.0;
            Add(new FaultRule { Kind = FaultKind.ServerBusy, Probability = p }, $"503@{p:P0}");
        }
        if (random.Next(2) == 0)
        {
            var p = random.Next(1, 4) / 100.0;
            Add(new FaultRule { Kind = FaultKind.InternalError, Probability = p }, $"500@{p:P0}");
        }
        if (random.Next(3) == 0)
        {
            var p = random.Next(1, 6) / 1000.0;
            Add(new FaultRule { Kind = FaultKind.Timeout, Probability = p }, $"timeout@{p:P1}");
        }
        if (random.Next(2) == 0)
        {
            var p = random.Next(1, 3) / 100.0;
            Add(new FaultRule { Kind = FaultKind.ResetBeforeForward, Probability = p }, $"reset-before@{p:P0}");
        }
        if (random.Next(2) == 0)
        {
            var p = random.Next(1, 4) / 100.0;
            Add(new FaultRule { Kind = FaultKind.ResetAfterForward, Probability = p, When = r => Writes.Contains(r.Operation) }, $"reset-after(writes)@{p:P0}");
        }
        return parts.Count == 0 ? "no faults" : string.Join(", ", parts);
    }
}
