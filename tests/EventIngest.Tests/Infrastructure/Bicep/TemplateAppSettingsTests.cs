using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using EventIngest.Ingest;
using EventIngest.Storage;

namespace EventIngest.Tests.Infrastructure.Bicep;

/// <summary>The template and the code must agree on configuration: every setting the app binds at
/// startup is set by infra/bicep or deliberately left at its default, and the template sets nothing
/// the app does not read.</summary>
[Collection(BicepTemplateCollection.Name)]
public sealed partial class TemplateAppSettingsTests(BicepTemplateFixture template)
{
    // Options the app binds that a deployment to Azure leaves at their defaults, and why. A new
    // option fails the tests until it is set in infra/bicep/main.bicep or added here.
    private static readonly Dictionary<string, string> LeftAtDefaultInAzure = new(StringComparer.Ordinal)
    {
        ["EventIngest:Storage:ConnectionString"] = "Azure uses the service URIs with the managed identity, never a connection string.",
        ["EventIngest:Storage:QueueAccounts:{name}:ConnectionString"] = "Azure uses the queue service URI with the managed identity.",
        ["EventIngest:Storage:QueueAccounts:{name}:QueueServiceUri"] = "set per entry of queueAccounts only (TemplateQueueAccountTests); none by default.",
        ["EventIngest:Storage:OperationTimeout"] = "the default fits Azure Storage latencies.",
        ["EventIngest:Ingest:MaxEventBytes"] = "the default limit is the service's contract.",
        ["EventIngest:Ingest:MaxRequestBytes"] = "the default limit is the service's contract.",
        ["EventIngest:Ingest:IdempotencyWindow"] = "the default window is the service's contract.",
        ["EventIngest:Ingest:ClockSkew"] = "the default tolerance is the service's contract.",
        ["EventIngest:Ingest:RetryAfterSeconds"] = "the default back-off suits Azure Storage and Key Vault throttling.",
        ["EventIngest:Encryption:EnvironmentKeyCacheDuration"] = "the default (1 h) keeps Key Vault at about one unwrap per instance per hour.",
        ["EventIngest:Encryption:PersonKeyCacheDuration"] = "the default (1 min) is the documented erasure bound.",
        ["EventIngest:Encryption:PersonKeyCacheSize"] = "the default bounds memory per instance.",
        ["EventIngest:Encryption:KeyVaultTimeout"] = "the default fits Key Vault latency and retries.",
        ["EventIngest:Scheduling:Horizon"] = "the default keeps every queue delay under the 7-day cap.",
        ["EventIngest:Repair:RepairAfter"] = "the default suits the one-minute repair timer.",
        ["EventIngest:Jobs:Budget"] = "the default (3 min) stays well under the Functions timeout of 5.",
        ["EventIngest:RateLimit:EventsPerSecond"] = "off by default: a per-instance limit needs the instance count to mean anything (docs/reliability.md).",
        ["EventIngest:RateLimit:Burst"] = "only matters once a rate is set.",
        ["EventIngest:RateLimit:MaxKeys"] = "the default bounds memory per instance.",
        ["EventIngest:Auth:DefaultEnvironment"] = "used only by the local host, which accepts unconfigured keys.",
        ["EventIngest:Encryption:LocalKeyPath"] = "development only; Azure uses the Key Vault key.",
        ["EventIngest:Encryption:AllowLocalKey"] = "development only; must stay false in Azure.",
    };

    [Fact]
    public void EverySettingTheAppBindsIsSetByTheTemplateOrDeliberatelyLeftAtItsDefault()
    {
        var settings = template.AppSettings;

        var missing = AppConfigurationPaths()
            .Where(path => !settings.ContainsKey(ToAppSettingName(path)) && !LeftAtDefaultInAzure.ContainsKey(path))
            .ToList();

        Assert.True(missing.Count == 0,
            "Read by the app but neither set by infra/bicep/main.bicep nor listed in LeftAtDefaultInAzure: " + string.Join(", ", missing));
    }

    [Fact]
    public void SettingsLeftAtTheirDefaultsStillExistAndAreNotSet()
    {
        var appPaths = AppConfigurationPaths().ToHashSet(StringComparer.Ordinal);
        var settings = template.AppSettings;

        Assert.All(LeftAtDefaultInAzure.Keys, path =>
        {
            Assert.True(appPaths.Contains(path), $"{path} is listed as left at its default but the app no longer reads it.");
            Assert.False(settings.ContainsKey(ToAppSettingName(path)), $"{path} is listed as left at its default but the template sets it.");
        });
    }

    [Fact]
    public void EveryEventIngestSettingOfTheTemplateIsReadByTheApp()
    {
        var appPaths = AppConfigurationPaths().ToHashSet(StringComparer.Ordinal);

        var unknown = template.AppSettings.Keys
            .Where(name => name.StartsWith("EventIngest__", StringComparison.Ordinal))
            .Select(name => ListIndex().Replace(name, "__0__").Replace("__", ":", StringComparison.Ordinal))
            .Where(path => !appPaths.Contains(path))
            .ToList();

        Assert.True(unknown.Count == 0, "Set by the template but not an option the app binds: " + string.Join(", ", unknown));
    }

    [Fact]
    public void KeyHashesAndRoutesBecomeIndexedSettings()
    {
        var settings = template.AppSettings;

        AssertKeys("EventIngest__Auth__EventKeys", "eventKeys", BicepTemplateFixture.EventKeys);
        AssertKeys("EventIngest__Auth__SigningKeys", "signingKeys", BicepTemplateFixture.SigningKeys);
        for (var i = 0; i < BicepTemplateFixture.Routes.Count; i++)
        {
            Assert.Equal(BicepTemplateFixture.Routes[i].Pattern, settings[$"EventIngest__Routing__Routes__{i}__Pattern"]);
            Assert.Equal(BicepTemplateFixture.Routes[i].Queue, settings[$"EventIngest__Routing__Routes__{i}__Queue"]);
            Assert.Equal((BicepTemplateFixture.Routes[i].Shards ?? 1).ToString(CultureInfo.InvariantCulture), settings[$"EventIngest__Routing__Routes__{i}__Shards"]);
            Assert.Equal(BicepTemplateFixture.Routes[i].Queue == BicepTemplateFixture.PackedQueue ? "true" : "false", settings[$"EventIngest__Routing__Routes__{i}__Packed"]);
        }
        Assert.Equal("false", settings["EventIngest__Routing__DefaultPacked"]);

        Assert.Equal(BicepTemplateFixture.DefaultQueue, settings["EventIngest__Routing__DefaultQueue"]);
        Assert.Equal(BicepTemplateFixture.DefaultQueueShards.ToString(CultureInfo.InvariantCulture), settings["EventIngest__Routing__DefaultShards"]);
        Assert.Equal("true", settings["EventIngest__Auth__RequireEventKeys"]);
        Assert.Equal("true", settings["EventIngest__Auth__RequireSigningKeys"]);
        // Least privilege: a signing key given no scopes may only read; an event key stays in its own environment.
        Assert.All(Enumerable.Range(0, BicepTemplateFixture.SigningKeys.Count), i => Assert.Equal("read", settings[$"EventIngest__Auth__SigningKeys__{i}__Scopes"]));
        Assert.All(Enumerable.Range(0, BicepTemplateFixture.EventKeys.Count), i => Assert.Equal("False", settings[$"EventIngest__Auth__EventKeys__{i}__BranchEnvironments"], ignoreCase: true));

        void AssertKeys(string section, string parameter, IReadOnlyList<(string Hash, string Environment)> keys)
        {
            for (var i = 0; i < keys.Count; i++)
            {
                // The value stays a reference to the secure parameter: the hash is never written out.
                Assert.Equal($"[parameters('{parameter}')[{i}].hash]", settings[$"{section}__{i}__Hash"]);
                Assert.Equal(keys[i].Environment, settings[$"{section}__{i}__Environment"]);
            }

            Assert.False(settings.ContainsKey($"{section}__{keys.Count}__Hash"));
        }
    }

    [Fact]
    public void StorageAndEncryptionSettingsPointAtTheDeployedResources()
    {
        var settings = template.AppSettings;
        var storageId = (string)template.OnlyResource("Microsoft.Storage/storageAccounts")["id"]!;
        var keyId = (string)template.OnlyResource("Microsoft.KeyVault/vaults/keys")["id"]!;

        Assert.Equal($"[reference('{storageId}', '2025-01-01').primaryEndpoints.table]", settings["EventIngest__Storage__TableServiceUri"]);
        Assert.Equal($"[reference('{storageId}', '2025-01-01').primaryEndpoints.queue]", settings["EventIngest__Storage__QueueServiceUri"]);
        Assert.Equal($"[reference('{storageId}', '2025-01-01').primaryEndpoints.blob]", settings["EventIngest__Storage__BlobServiceUri"]);
        Assert.Equal(IdentityClientId(), settings["EventIngest__Storage__ClientId"]);
        Assert.Equal(BicepTemplateFixture.StoragePrefix, settings["EventIngest__Storage__Prefix"]);
        Assert.Equal("KeyVault", settings["EventIngest__Encryption__KeyProvider"]);
        Assert.StartsWith($"[reference('{keyId}', ", settings["EventIngest__Encryption__KeyVaultKeyId"], StringComparison.Ordinal);
        Assert.EndsWith(").keyUri]", settings["EventIngest__Encryption__KeyVaultKeyId"], StringComparison.Ordinal);
    }

    [Fact]
    public void HostStorageAndEveryQueueTriggerConnectionUseTheManagedIdentity()
    {
        var settings = template.AppSettings;
        var storageName = (string)template.OnlyResource("Microsoft.Storage/storageAccounts")["name"]!;
        var clientId = IdentityClientId();

        Assert.Equal(storageName, settings["AzureWebJobsStorage__accountName"]);
        Assert.Equal("managedidentity", settings["AzureWebJobsStorage__credential"]);
        Assert.Equal(clientId, settings["AzureWebJobsStorage__clientId"]);

        // The app's queue triggers name their connection; "EventIngestStorage" is the agreed one.
        var connections = QueueTriggerConnections().Append("EventIngestStorage").Distinct().Where(c => c != "AzureWebJobsStorage");
        Assert.All(connections, connection =>
        {
            Assert.True(settings.TryGetValue($"{connection}__queueServiceUri", out var uri), $"{connection}__queueServiceUri is not set.");
            Assert.EndsWith(".primaryEndpoints.queue]", uri, StringComparison.Ordinal);
            Assert.Equal("managedidentity", settings[$"{connection}__credential"]);
            Assert.Equal(clientId, settings[$"{connection}__clientId"]);
        });
    }

    private string IdentityClientId()
    {
        var identityId = (string)template.OnlyResource("Microsoft.ManagedIdentity/userAssignedIdentities")["id"]!;
        return $"[reference('{identityId}', '2024-11-30').clientId]";
    }

    private static string ToAppSettingName(string path) => path.Replace(":", "__", StringComparison.Ordinal);

    /// <summary>Every configuration path the app's options classes bind, in <c>Section:Property</c> form;
    /// a list contributes its first element (<c>EventKeys:0:Hash</c>).</summary>
    internal static IEnumerable<string> AppConfigurationPaths()
        => new[] { typeof(StorageOptions).Assembly, typeof(IngestOptions).Assembly }.SelectMany(a => a.GetTypes())
            .Select(type => (Type: type, Section: type.GetField("Section", BindingFlags.Public | BindingFlags.Static)))
            .Where(t => t.Section is { IsLiteral: true } && t.Section.GetRawConstantValue() is string s && s.StartsWith("EventIngest:", StringComparison.Ordinal))
            .SelectMany(t => PathsOf(t.Type, (string)t.Section!.GetRawConstantValue()!))
            .Order(StringComparer.Ordinal);

    private static IEnumerable<string> PathsOf(Type type, string prefix)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.SetMethod?.IsPublic == true))
        {
            var path = $"{prefix}:{property.Name}";
            var propertyType = property.PropertyType;
            var elementType = propertyType.IsGenericType && propertyType.GetGenericTypeDefinition() == typeof(List<>)
                ? propertyType.GetGenericArguments()[0]
                : null;

            // A dictionary by name (QueueAccounts): its entries' settings, with "{name}" for the key.
            var valueType = propertyType.IsGenericType && propertyType.GetGenericTypeDefinition() == typeof(Dictionary<,>)
                ? propertyType.GetGenericArguments()[1]
                : null;
            if (valueType is not null)
            {
                foreach (var entry in IsScalar(valueType) ? [$"{path}:{{name}}"] : PathsOf(valueType, $"{path}:{{name}}"))
                {
                    yield return entry;
                }
            }
            else if (elementType is not null)
            {
                foreach (var element in IsScalar(elementType) ? [$"{path}:0"] : PathsOf(elementType, $"{path}:0"))
                {
                    yield return element;
                }
            }
            else if (IsScalar(propertyType))
            {
                yield return path;
            }
            else
            {
                foreach (var nested in PathsOf(propertyType, path))
                {
                    yield return nested;
                }
            }
        }
    }

    private static bool IsScalar(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(Uri) || type == typeof(TimeSpan)
            || type == typeof(decimal) || type == typeof(DateTimeOffset) || type == typeof(Guid);
    }

    /// <summary>Connection names of the Functions app's queue triggers (empty means AzureWebJobsStorage).</summary>
    private static IEnumerable<string> QueueTriggerConnections()
    {
        Type?[] types;
        try
        {
            types = Assembly.Load("EventIngest.Functions").GetTypes();
        }
        catch (ReflectionTypeLoadException e)
        {
            types = e.Types;
        }

        return types
            .OfType<Type>()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .SelectMany(m => m.GetParameters())
            .SelectMany(p => p.GetCustomAttributesData())
            .Where(a => a.AttributeType.Name == "QueueTriggerAttribute")
            .Select(a => a.NamedArguments.FirstOrDefault(n => n.MemberName == "Connection").TypedValue.Value as string)
            .Select(c => string.IsNullOrEmpty(c) ? "AzureWebJobsStorage" : c);
    }

    [GeneratedRegex(@"__\d+__")]
    private static partial Regex ListIndex();
}
