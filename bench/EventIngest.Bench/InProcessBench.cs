using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using EventIngest.Encryption;
using EventIngest.Ingest;
using EventIngest.Storage;
using EventIngest.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Perfolizer.Horology;
using EventIngest.Encryption.KeyProviders;

namespace EventIngest.Bench;

/// <summary>
/// CPU time and allocations of the service's own work on one event, against a plain
/// <see cref="JsonDocument.Parse(ReadOnlyMemory{byte}, JsonDocumentOptions)"/> of the same bytes:
/// parse and validate (<see cref="EventParser"/>), seal <c>user</c> (<see cref="UserDataProtector"/>,
/// keys in memory) and build the queue message (<see cref="EventMessage"/>), as the ingest pipeline
/// does them for a request of one event. No storage or key call happens in the measured loop.
/// </summary>
[MemoryDiagnoser(displayGenColumns: false)]
[Config(typeof(ShortJob))]
public class InProcessBench
{
    private const string Environment = "production";
    private const string InternalId = "01KB3M7Q8Z2W4X6Y9A1C3E5G7J";
    private const int MaxEventBytes = 512 * 1024;

    private byte[] _body = [];
    private long _receivedAt;
    private UserDataProtector _protector = null!;
    private InMemoryKeyTable _keyTable = null!;
    private int _keyTableRequestsAfterSetup;
    private string _keyDirectory = "";
    private LocalKeyEncryptionKey? _key;
    private byte[] _user = [];
    private string _sealedUser = "";
    private ParseResult? _parsed;
    private IDisposable? _telemetry;

    /// <summary>One event as the SDKs send it: an array, <c>ts</c> stamped by the client.</summary>
    public static byte[] SampleBody()
    {
        const string json = """
            [{"name":"app/order.placed","data":{"order_id":"ord_01KB3M7Q8Z2W4X6Y","status":"paid","currency":"EUR","total":184.37,"items":[{"sku":"SKU-48213-BLK-M","name":"Merino crew sweater","quantity":2,"unit_price":59.9},{"sku":"SKU-10077-NVY","name":"Canvas tote bag","quantity":1,"unit_price":24.5},{"sku":"SKU-31002-GRY-42","name":"Trail running socks (3 pack)","quantity":2,"unit_price":19.99}],"shipping":{"method":"express","carrier":"dhl","address":{"line1":"Kastanienallee 12","city":"Berlin","postal_code":"10435","country":"DE"}},"discount":{"code":"AUTUMN15","amount":32.54},"channel":"web","session":{"id":"s_8f3a91c2d4e5","referrer":"https://www.example.org/newsletter/2026-11","utm_campaign":"autumn_sale"},"device":{"os":"macOS 15.1","browser":"Firefox 133.0","locale":"de-DE","timezone":"Europe/Berlin"},"note":"Please leave the parcel with the neighbour at number 14 if nobody answers.","flags":{"first_order":false,"gift":true}},"user":{"external_id":"usr_7c2e9a41f0b3","email":"ada.lovelace@example.com"},"ts":1795663466231}]
            """;
        return Encoding.UTF8.GetBytes(json);
    }

    [GlobalSetup]
    public void Setup()
    {
        _body = SampleBody();
        _receivedAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        _keyDirectory = Directory.CreateTempSubdirectory("eventingest-bench-").FullName;
        _keyTable = new InMemoryKeyTable();
        _key = LocalKeyEncryptionKey.LoadOrCreate(Path.Combine(_keyDirectory, "kek.pem"));
        _telemetry = BenchTelemetry.ListenInProcess();
        // The service always has its metrics; nothing is measured while no listener enables them.
        _protector = CreateProtector(_keyTable, _key, new IngestMetrics(new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>()));

        // Loads the environment key and the person's key into memory; after this, sealing is CPU only.
        _parsed = EventParser.Parse(_body, _receivedAt, MaxEventBytes);
        _user = JsonMarshal.GetRawUtf8Value(_parsed.Events[0].User!.Value).ToArray();
        _sealedUser = _protector.SealBatchAsync(Environment, [new UserToSeal(InternalId, _user)]).AsTask().GetAwaiter().GetResult()[0];

        ServicePath();
        _keyTableRequestsAfterSetup = _keyTable.Requests;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _parsed?.Dispose();
        _key?.Dispose();
        _telemetry?.Dispose();
        Directory.Delete(_keyDirectory, recursive: true);
        if (_keyTable.Requests != _keyTableRequestsAfterSetup)
        {
            throw new InvalidOperationException("The measured loop reached the key table: the figures include I/O.");
        }
    }

    [Benchmark(Baseline = true, Description = "JsonDocument.Parse")]
    public int PlainParse()
    {
        using var document = JsonDocument.Parse(_body);
        return document.RootElement.GetArrayLength();
    }

    [Benchmark(Description = "parse + validate, seal user, build message")]
    public int ServicePath()
    {
        // The request's span and its steps, as the endpoint and the pipeline start them (nothing while nobody listens).
        using var request = IngestActivities.StartIngest(null);
        ParseResult parsed;
        using (IngestActivities.StartStep(IngestActivities.Parse)) parsed = EventParser.Parse(_body, _receivedAt, MaxEventBytes);
        using var _ = parsed;
        if (!parsed.IsValid) throw new InvalidOperationException(parsed.Errors[0].ToString());
        var e = parsed.Events[0];

        // What the pipeline hands to sealing for each event (a copy of the user bytes), then the envelope.
        UserToSeal[] users = [new(InternalId, e.User is { } user ? JsonMarshal.GetRawUtf8Value(user).ToArray() : "{}"u8.ToArray())];
        ValueTask<string[]> sealing;
        using (IngestActivities.StartStep(IngestActivities.Seal)) sealing = _protector.SealBatchAsync(Environment, users);
        if (!sealing.IsCompletedSuccessfully) throw new InvalidOperationException("Sealing waited for key material.");
        var message = e.ToMessage(InternalId, Environment, sealing.Result[0], _receivedAt, IngestActivities.TraceParentFor(request, null));
        return message.Length;
    }

    // The three steps of the service path on their own, for the breakdown printed by Interleaved.
    private int ParseStep()
    {
        using var parsed = EventParser.Parse(_body, _receivedAt, MaxEventBytes);
        return parsed.Events.Count;
    }

    private int SealStep()
    {
        var sealing = _protector.SealBatchAsync(Environment, [new UserToSeal(InternalId, _user)]);
        if (!sealing.IsCompletedSuccessfully) throw new InvalidOperationException("Sealing waited for key material.");
        return sealing.Result[0].Length;
    }

    private int BuildStep() => _parsed!.Events[0].ToMessage(InternalId, Environment, _sealedUser, _receivedAt).Length;

    // The person key is kept longer than the default minute so that it cannot expire during a run
    // (a reload would be I/O, which this benchmark leaves out); all else is the default configuration.
    private static UserDataProtector CreateProtector(InMemoryKeyTable keyTable, LocalKeyEncryptionKey key, IngestMetrics? metrics) =>
        new(keyTable.Client, key, key, Options.Create(new EncryptionOptions { PersonKeyCacheDuration = TimeSpan.FromHours(1) }),
            Options.Create(new StorageOptions { Prefix = "bench" }), TimeProvider.System, NullLogger<UserDataProtector>.Instance, metrics);

    /// <summary>
    /// The paths measured in alternating rounds within one process, so that load from other work on
    /// the machine falls on all alike; the median of the rounds' ratios is the robust figure. The
    /// service path runs three ways: without telemetry, with the OpenTelemetry SDK tracing every
    /// request, and with it sampling five traces a second (the Azure Monitor exporter's default).
    /// </summary>
    private static void Interleaved(int rounds = 60, int opsPerRound = 2000)
    {
        var bench = new InProcessBench();
        bench.Setup();
        IDisposable? telemetry = null;
        InProcessTelemetry.Traces? current = null;
        void Telemetry(InProcessTelemetry.Traces? wanted)
        {
            if (wanted == current) return;
            telemetry?.Dispose();
            telemetry = wanted is { } traces ? new InProcessTelemetry(traces) : null;
            current = wanted;
        }

        try
        {
            if (bench._telemetry is not null) throw new InvalidOperationException("The interleaved check sets telemetry itself; run it without --telemetry on.");
            var cases = new (string Name, Func<int> Run, InProcessTelemetry.Traces? Traces)[]
            {
                ("JsonDocument.Parse", bench.PlainParse, null),
                ("service path", bench.ServicePath, null),
                ("  parse + validate alone", bench.ParseStep, null),
                ("  seal user alone", bench.SealStep, null),
                ("  build message alone", bench.BuildStep, null),
                ("service path, " + InProcessTelemetry.Describe(InProcessTelemetry.Traces.All), bench.ServicePath, InProcessTelemetry.Traces.All),
                ("service path, " + InProcessTelemetry.Describe(InProcessTelemetry.Traces.FivePerSecond), bench.ServicePath, InProcessTelemetry.Traces.FivePerSecond),
            };
            var samples = cases.Select(_ => new List<double>()).ToArray();
            for (var round = -5; round < rounds; round++)
            {
                for (var c = 0; c < cases.Length; c++)
                {
                    Telemetry(cases[c].Traces);
                    var run = cases[c].Run;
                    for (var i = 0; i < opsPerRound / 4; i++) run(); // untimed: a fresh SDK's first measurements set up its state
                    GC.Collect(); // and no case pays for the garbage of the one before (a traced run leaves spans queued for export)
                    GC.WaitForPendingFinalizers();
                    var start = Stopwatch.GetTimestamp();
                    for (var i = 0; i < opsPerRound; i++) run();
                    var ns = Stopwatch.GetElapsedTime(start).TotalNanoseconds / opsPerRound;
                    if (round >= 0) samples[c].Add(ns);
                }
                Telemetry(null);
            }

            Console.WriteLine($"queue message: {bench.BuildStep()} bytes, of which the sealed user {bench._sealedUser.Length} characters");
            Console.WriteLine($"interleaved in one process, {rounds} rounds of {opsPerRound} operations each (ns per event):");
            Console.WriteLine($"{"",-40} {"median",8} {"p10",8} {"p90",8}");
            for (var c = 0; c < cases.Length; c++)
            {
                Console.WriteLine($"{cases[c].Name,-40} {Stats.Percentile(samples[c], 50),8:0} {Stats.Percentile(samples[c], 10),8:0} {Stats.Percentile(samples[c], 90),8:0}");
            }

            string Ratio(int over, int under)
            {
                var ratios = samples[over].Zip(samples[under], (b, a) => b / a).ToList();
                return $"{Stats.Percentile(ratios, 50):0.00} (p10 {Stats.Percentile(ratios, 10):0.00}, p90 {Stats.Percentile(ratios, 90):0.00})";
            }

            Console.WriteLine($"ratio service path / JsonDocument.Parse, median of the rounds' ratios: {Ratio(1, 0)} (target <= 4)");
            Console.WriteLine($"telemetry on / off, service path, median of the rounds' ratios (target <= 1.05):");
            Console.WriteLine($"  {InProcessTelemetry.Describe(InProcessTelemetry.Traces.All),-22} {Ratio(5, 1)}");
            Console.WriteLine($"  {InProcessTelemetry.Describe(InProcessTelemetry.Traces.FivePerSecond),-22} {Ratio(6, 1)}");
        }
        finally
        {
            Telemetry(null);
            bench.Cleanup();
        }
    }

    public static void Run(bool quick)
    {
        var body = SampleBody();
        Console.WriteLine($"event: {body.Length} bytes ({Encoding.UTF8.GetString(body)[..60]}...)");
        if (!quick)
        {
            Report(BenchmarkRunner.Run<InProcessBench>());
            Console.WriteLine();
        }

        Interleaved();
    }

    private static void Report(Summary summary)
    {
        var reports = summary.Reports.Where(r => r.ResultStatistics is not null).ToList();
        var baseline = reports.FirstOrDefault(r => r.BenchmarkCase.Descriptor.Baseline);
        var service = reports.FirstOrDefault(r => !r.BenchmarkCase.Descriptor.Baseline);
        if (baseline is null || service is null)
        {
            Console.WriteLine("A benchmark did not produce results; see the log above.");
            System.Environment.ExitCode = 1;
            return;
        }

        Console.WriteLine();
        Console.WriteLine($"{"per event",-46} {"mean ns",10} {"allocated B",12}");
        foreach (var report in new[] { baseline, service })
        {
            Console.WriteLine($"{report.BenchmarkCase.Descriptor.WorkloadMethodDisplayInfo,-46} {report.ResultStatistics!.Mean,10:0} {report.GcStats.GetBytesAllocatedPerOperation(report.BenchmarkCase),12}");
        }

        var ratio = service.ResultStatistics!.Mean / baseline.ResultStatistics!.Mean;
        var allocated = service.GcStats.GetBytesAllocatedPerOperation(service.BenchmarkCase) ?? 0;
        Console.WriteLine($"ratio service path / JsonDocument.Parse: {ratio:0.00} (target <= 4); allocated {allocated} B/event (target <= 4096)");
    }

    /// <summary>Short enough for a busy two-core machine: one launch, 15 measured iterations.</summary>
    private sealed class ShortJob : ManualConfig
    {
        public ShortJob()
        {
            AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(5).WithIterationCount(15).WithIterationTime(TimeInterval.FromMilliseconds(250)));
            SummaryStyle = SummaryStyle.Default.WithTimeUnit(TimeUnit.Nanosecond);
        }
    }
}
