using System.Globalization;
using System.Text.Json.Nodes;

namespace EventIngest.Tests.Infrastructure.Bicep;

[CollectionDefinition(Name)]
public sealed class BicepTemplateCollection : ICollectionFixture<BicepTemplateFixture>
{
    public const string Name = "Bicep template";
}

/// <summary>Compiles infra/bicep/main.bicep once and predicts the resources it deploys for a sample
/// environment (<c>bicep snapshot</c>: modules expanded, parameters and variables evaluated, runtime
/// values such as a managed identity's client id left as <c>reference(...)</c> expressions), with the
/// template's defaults and, when a test asks for it, without network isolation.</summary>
public sealed class BicepTemplateFixture : IDisposable
{
    public const string SubscriptionId = "00000000-0000-0000-0000-00000000a001";
    public const string TenantId = "00000000-0000-0000-0000-00000000a002";
    public const string ResourceGroup = "rg-eventingest-test";
    public const string Location = "westeurope";

    // Sample parameters, deliberately not the defaults so the tests see them flow through.
    public const string StoragePrefix = "ingest";
    public const string DefaultQueue = "inbox";
    public const int MaximumInstanceCount = 250;
    public const int InstanceMemoryMB = 4096;
    public const int KeySize = 2048;

    public const int DefaultQueueShards = 2;

    /// <summary>The route whose queue is packed (the others leave <c>packed</c> out).</summary>
    public const string PackedQueue = "accounts";

    // Shards null: the parameter left out (one queue, its plain name).
    public static readonly IReadOnlyList<(string Pattern, string Queue, int? Shards)> Routes =
    [
        ("billing/invoice.paid", "billing", null),
        ("app/account.*", "accounts", 4),
        ("audit/*", DefaultQueue, DefaultQueueShards),
    ];

    public static readonly IReadOnlyList<(string Hash, string Environment)> EventKeys =
    [
        (SampleHash('a'), "production"),
        (SampleHash('b'), "staging"),
    ];

    public static readonly IReadOnlyList<(string Hash, string Environment)> SigningKeys =
    [
        (SampleHash('c'), "production"),
    ];

    private readonly string workDirectory;
    private readonly Lazy<TemplateSnapshot> withoutNetworkIsolation;
    private readonly Lazy<TemplateSnapshot> withQueueAccount;

    /// <summary>In <see cref="WithQueueAccount"/>: the queue account, and the route's queue it holds.</summary>
    public const string QueueAccount = "hot";

    public BicepTemplateFixture()
    {
        RepositoryRoot = FindRepositoryRoot();
        BicepFolder = Path.Combine(RepositoryRoot, "infra", "bicep");
        MainBicep = Path.Combine(BicepFolder, "main.bicep");
        workDirectory = Directory.CreateTempSubdirectory("eventingest-bicep-").FullName;

        var templatePath = Path.Combine(workDirectory, "main.json");
        Build = BicepCli.Run(BicepFolder, null, "build", MainBicep, "--outfile", templatePath);
        if (Build.ExitCode != 0)
        {
            throw new InvalidOperationException($"bicep build failed:\n{Build.Output}");
        }

        TemplateText = File.ReadAllText(templatePath);
        Template = JsonNode.Parse(TemplateText)!.AsObject();

        Default = TakeSnapshot("test", "");
        withoutNetworkIsolation = new(() => TakeSnapshot("trial", "param networkIsolation = false"));
        withQueueAccount = new(() => TakeSnapshot("queueaccount", $"param queueAccounts = ['{QueueAccount}']", queueAccount: true));
    }

    public string RepositoryRoot { get; }
    public string BicepFolder { get; }
    public string MainBicep { get; }

    /// <summary>What <c>bicep build</c> printed: its diagnostics.</summary>
    public ProcessResult Build { get; }

    /// <summary>The compiled ARM template.</summary>
    public JsonObject Template { get; }
    public string TemplateText { get; }

    /// <summary>The sample deployment with the template's defaults (network isolation on).</summary>
    public TemplateSnapshot Default { get; }

    /// <summary>The same sample with <c>networkIsolation = false</c>, the mode for quick trials.</summary>
    public TemplateSnapshot WithoutNetworkIsolation => withoutNetworkIsolation.Value;

    /// <summary>The sample with a queue account holding the packed route's queue (its shards).</summary>
    public TemplateSnapshot WithQueueAccount => withQueueAccount.Value;

    public TemplateSnapshot Snapshot(bool networkIsolation) => networkIsolation ? Default : WithoutNetworkIsolation;

    /// <summary>Every resource the sample deployment creates, nested deployments expanded.</summary>
    public IReadOnlyList<JsonObject> Resources => Default.Resources;
    public JsonObject Outputs => Default.Outputs;
    public string SnapshotText => Default.SnapshotText;

    public IEnumerable<JsonObject> ResourcesOfType(string type) => Default.ResourcesOfType(type);

    public JsonObject OnlyResource(string type) => Default.OnlyResource(type);

    public JsonObject FunctionApp => Default.FunctionApp;

    /// <summary>App settings of the function app, name to value (a value may be an ARM expression).</summary>
    public IReadOnlyDictionary<string, string> AppSettings => Default.AppSettings;

    public void Dispose()
    {
        try
        {
            Directory.Delete(workDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder is not worth failing the run.
        }
    }

    private TemplateSnapshot TakeSnapshot(string name, string extraParameters, bool queueAccount = false)
    {
        var parametersPath = Path.Combine(workDirectory, $"{name}.bicepparam");
        File.WriteAllText(parametersPath, SampleParameters(queueAccount) + extraParameters + "\n");
        var snapshot = BicepCli.Run(
            workDirectory,
            null,
            "snapshot", parametersPath,
            "--mode", "overwrite",
            "--tenant-id", TenantId,
            "--subscription-id", SubscriptionId,
            "--resource-group", ResourceGroup,
            "--location", Location,
            "--deployment-name", "eventingest");
        if (snapshot.ExitCode != 0)
        {
            throw new InvalidOperationException($"bicep snapshot of {name}.bicepparam failed:\n{snapshot.Output}");
        }

        return new TemplateSnapshot(File.ReadAllText(Path.Combine(workDirectory, $"{name}.snapshot.json")));
    }

    private static string SampleHash(char digit) => new(digit, 64);

    private static string SampleParameters(bool queueAccount)
    {
        static string Keys(IEnumerable<(string Hash, string Environment)> keys)
            => string.Join('\n', keys.Select(k => $"  {{ hash: '{k.Hash}', environment: '{k.Environment}' }}"));

        var routes = string.Join('\n', Routes.Select(r => r.Shards is { } shards
            ? $"  {{ pattern: '{r.Pattern}', queue: '{r.Queue}', shards: {shards}{(r.Queue == PackedQueue ? ", packed: true" : "")}{(r.Queue == PackedQueue && queueAccount ? $", account: '{QueueAccount}'" : "")} }}"
            : $"  {{ pattern: '{r.Pattern}', queue: '{r.Queue}' }}"));
        return string.Create(CultureInfo.InvariantCulture, $"""
            using './main.json'

            param environmentName = 'citest'
            param storagePrefix = '{StoragePrefix}'
            param defaultQueue = '{DefaultQueue}'
            param defaultQueueShards = {DefaultQueueShards}
            param maximumInstanceCount = {MaximumInstanceCount}
            param instanceMemoryMB = {InstanceMemoryMB}
            param keySize = {KeySize}
            param routes = [
            {routes}
            ]
            param eventKeys = [
            {Keys(EventKeys)}
            ]
            param signingKeys = [
            {Keys(SigningKeys)}
            ]

            """);
    }

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "infra", "bicep", "main.bicep")))
            {
                return directory.FullName;
            }
        }

        throw new DirectoryNotFoundException($"No infra/bicep/main.bicep above {AppContext.BaseDirectory}.");
    }
}

/// <summary>What one sample deployment creates (<c>bicep snapshot</c>).</summary>
public sealed class TemplateSnapshot
{
    public TemplateSnapshot(string snapshotText)
    {
        SnapshotText = snapshotText;
        var predicted = JsonNode.Parse(snapshotText)!.AsObject();
        Resources = predicted["predictedResources"]!.AsArray().Select(r => r!.AsObject()).ToList();
        Outputs = predicted["outputs"]!.AsObject();
    }

    /// <summary>Every resource the deployment creates, nested deployments expanded.</summary>
    public IReadOnlyList<JsonObject> Resources { get; }
    public JsonObject Outputs { get; }
    public string SnapshotText { get; }

    public IEnumerable<JsonObject> ResourcesOfType(string type)
        => Resources.Where(r => string.Equals((string?)r["type"], type, StringComparison.OrdinalIgnoreCase));

    public JsonObject OnlyResource(string type)
    {
        var matches = ResourcesOfType(type).ToList();
        Assert.True(matches.Count == 1, $"Expected one {type}, found {matches.Count}.");
        return matches[0];
    }

    public JsonObject FunctionApp => OnlyResource("Microsoft.Web/sites");

    /// <summary>App settings of the function app, name to value (a value may be an ARM expression).</summary>
    public IReadOnlyDictionary<string, string> AppSettings
        => FunctionApp["properties"]!["siteConfig"]!["appSettings"] is JsonArray settings
            ? settings.ToDictionary(s => (string)s!["name"]!, s => (string)s!["value"]!, StringComparer.Ordinal)
            : throw new InvalidOperationException("The snapshot could not evaluate the app settings; keep their names computable from parameters.");
}
