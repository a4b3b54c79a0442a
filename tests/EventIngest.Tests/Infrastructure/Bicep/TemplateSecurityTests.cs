using System.Text.Json.Nodes;
using EventIngest.Ingest;
using EventIngest.Storage;

namespace EventIngest.Tests.Infrastructure.Bicep;

[Collection(BicepTemplateCollection.Name)]
public sealed class TemplateSecurityTests(BicepTemplateFixture template)
{
    private const string StorageBlobDataOwner = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b";
    private const string StorageQueueDataContributor = "974c5e8b-45b9-4653-ba55-5f855dd0fb88";
    private const string StorageTableDataContributor = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3";
    private const string KeyVaultCryptoServiceEncryptionUser = "e147488a-f6f5-4113-8e2d-b22465e65bf6";
    private const string MonitoringMetricsPublisher = "3913510d-42f4-4e42-8a64-420c390055eb";

    // Roles that would let the app do more than read its key, wrap/unwrap and use its own data.
    private static readonly Dictionary<string, string> TooBroadRoles = new(StringComparer.OrdinalIgnoreCase)
    {
        ["8e3af657-a8ff-443c-a75c-2fe8c4bcb635"] = "Owner",
        ["b24988ac-6180-42a0-ab88-20f7382dd24c"] = "Contributor",
        ["18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"] = "User Access Administrator",
        ["f58310d9-a9f6-439a-9e8d-f62e7b41a168"] = "Role Based Access Control Administrator",
        ["17d1049b-9a84-46fb-8f53-869881c3d3ab"] = "Storage Account Contributor",
        ["00482a5a-887f-4fb3-b363-3b7fe8e74483"] = "Key Vault Administrator",
        ["14b46e9e-c2b7-41b4-b07b-48a6ebf60603"] = "Key Vault Crypto Officer",
        ["12338af0-0e69-4776-bea7-57ae8d297424"] = "Key Vault Crypto User",
        ["b86a8fe4-44ce-4948-aee5-eccb2c155cd7"] = "Key Vault Secrets Officer",
        ["4633458b-17de-408a-b874-0445c86b69e6"] = "Key Vault Secrets User",
        ["f25e0fa2-a7c8-4377-a976-54943a77a395"] = "Key Vault Contributor",
    };

    [Fact]
    public void FunctionAppAcceptsOnlyHttpsWithTls12OrLater()
    {
        var site = template.FunctionApp["properties"]!;
        var siteConfig = site["siteConfig"]!;

        Assert.True((bool)site["httpsOnly"]!);
        Assert.True(Version.Parse((string)siteConfig["minTlsVersion"]!) >= new Version(1, 2));
        Assert.True(Version.Parse((string)siteConfig["scmMinTlsVersion"]!) >= new Version(1, 2));
        Assert.Equal("Disabled", (string?)siteConfig["ftpsState"]);
    }

    [Fact]
    public void PublishingWithPasswordsIsTurnedOff()
    {
        var policies = template.ResourcesOfType("Microsoft.Web/sites/basicPublishingCredentialsPolicies")
            .ToDictionary(p => ((string)p["name"]!).Split('/')[^1], p => (bool)p["properties"]!["allow"]!);

        Assert.Equal(new Dictionary<string, bool> { ["ftp"] = false, ["scm"] = false }, policies);
    }

    [Fact]
    public void FunctionAppRunsDotnetIsolated10OnFlexConsumptionWithTheScaleParameters()
    {
        var plan = template.OnlyResource("Microsoft.Web/serverfarms");
        var config = template.FunctionApp["properties"]!["functionAppConfig"]!;

        Assert.Equal("FC1", (string?)plan["sku"]!["name"]);
        Assert.Equal("FlexConsumption", (string?)plan["sku"]!["tier"]);
        Assert.Equal("functionapp,linux", (string?)template.FunctionApp["kind"]);
        Assert.Equal("dotnet-isolated", (string?)config["runtime"]!["name"]);
        Assert.Equal("10.0", (string?)config["runtime"]!["version"]);
        Assert.Equal(BicepTemplateFixture.MaximumInstanceCount, (int)config["scaleAndConcurrency"]!["maximumInstanceCount"]!);
        Assert.Equal(BicepTemplateFixture.InstanceMemoryMB, (int)config["scaleAndConcurrency"]!["instanceMemoryMB"]!);
    }

    [Fact]
    public void FunctionAppRunsAsTheUserAssignedIdentityAndDeploysWithIt()
    {
        var identityId = (string)template.OnlyResource("Microsoft.ManagedIdentity/userAssignedIdentities")["id"]!;
        var identity = template.FunctionApp["identity"]!;
        var deployment = template.FunctionApp["properties"]!["functionAppConfig"]!["deployment"]!["storage"]!;

        Assert.Equal("UserAssigned", (string?)identity["type"]);
        Assert.Equal([identityId], identity["userAssignedIdentities"]!.AsObject().Select(p => p.Key));
        Assert.Equal("blobContainer", (string?)deployment["type"]);
        Assert.Equal("UserAssignedIdentity", (string?)deployment["authentication"]!["type"]);
        Assert.Equal(identityId, (string?)deployment["authentication"]!["userAssignedIdentityResourceId"]);

        var containers = ContainerNames();
        Assert.Contains(containers, c => ((string)deployment["value"]!).Contains($"'{c}'", StringComparison.Ordinal));
    }

    [Fact]
    public void StorageAccountAllowsOnlyIdentitiesOverTls12()
    {
        var account = template.OnlyResource("Microsoft.Storage/storageAccounts")["properties"]!;

        Assert.False((bool)account["allowSharedKeyAccess"]!);
        Assert.False((bool)account["allowBlobPublicAccess"]!);
        Assert.True((bool)account["supportsHttpsTrafficOnly"]!);
        Assert.Equal("TLS1_2", (string?)account["minimumTlsVersion"]);
        Assert.True((bool)account["defaultToOAuthAuthentication"]!);
    }

    [Fact]
    public void EveryBlobContainerIsPrivate()
    {
        var containers = template.ResourcesOfType("Microsoft.Storage/storageAccounts/blobServices/containers").ToList();

        Assert.NotEmpty(containers);
        Assert.All(containers, c => Assert.Equal("None", (string?)c["properties"]!["publicAccess"]));
    }

    [Fact]
    public void StorageHoldsTheTablesQueuesAndContainersTheAppUses()
    {
        var prefix = BicepTemplateFixture.StoragePrefix;
        string[] tables = ["events", "idempotency", "outbox", "keys", "schedule"];
        // Every shard of every route's queue: billing (one, plain name), accounts-0..3, inbox-0..1.
        var queues = BicepTemplateFixture.Routes.SelectMany(r => QueueShards.Names(r.Queue, r.Shards ?? 1))
            .Concat(QueueShards.Names(BicepTemplateFixture.DefaultQueue, BicepTemplateFixture.DefaultQueueShards))
            .Append(prefix + "due")
            .Distinct();

        Assert.Equal(tables.Select(t => prefix + t).Order(), ChildNames("Microsoft.Storage/storageAccounts/tableServices/tables").Order());
        Assert.Equal(queues.Order(), ChildNames("Microsoft.Storage/storageAccounts/queueServices/queues").Order());
        Assert.Contains($"{prefix}-large", ContainerNames());
    }

    [Fact]
    public void KeyVaultUsesRbacWithSoftDeleteAndPurgeProtection()
    {
        var vault = template.OnlyResource("Microsoft.KeyVault/vaults")["properties"]!;

        Assert.True((bool)vault["enableRbacAuthorization"]!);
        Assert.True((bool)vault["enableSoftDelete"]!);
        Assert.True((bool)vault["enablePurgeProtection"]!);
        Assert.InRange((int)vault["softDeleteRetentionInDays"]!, 7, 90);
        Assert.Null(vault["accessPolicies"]);
    }

    [Fact]
    public void KeyIsAnRsaKeyThatOnlyWrapsAndUnwrapsAndRotates()
    {
        var key = template.OnlyResource("Microsoft.KeyVault/vaults/keys")["properties"]!;
        var rotation = key["rotationPolicy"]!;

        Assert.Equal("RSA", (string?)key["kty"]);
        Assert.Equal(BicepTemplateFixture.KeySize, (int)key["keySize"]!);
        Assert.Equal(["unwrapKey", "wrapKey"], key["keyOps"]!.AsArray().Select(o => (string)o!).Order());
        Assert.False((bool)key["attributes"]!["exportable"]!);
        Assert.Contains(
            rotation["lifetimeActions"]!.AsArray(),
            a => (string?)a!["action"]!["type"] == "rotate" && a["trigger"]!["timeAfterCreate"] is not null);
        Assert.NotNull((string?)rotation["attributes"]!["expiryTime"]);
    }

    // The host's storage (AzureWebJobsStorage) and the app's own data share the account; docs/deploy.md says
    // which role covers what. Network isolation changes how the identity reaches its data, not what it may do.
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TheIdentityGetsExactlyTheDataRolesItNeedsOnTheNarrowestScopes(bool networkIsolation)
    {
        var snapshot = template.Snapshot(networkIsolation);
        var storageId = (string)snapshot.OnlyResource("Microsoft.Storage/storageAccounts")["id"]!;
        var keyId = (string)snapshot.OnlyResource("Microsoft.KeyVault/vaults/keys")["id"]!;
        var applicationInsightsId = (string)snapshot.OnlyResource("Microsoft.Insights/components")["id"]!;
        var identityId = (string)snapshot.OnlyResource("Microsoft.ManagedIdentity/userAssignedIdentities")["id"]!;

        var granted = RoleAssignments(snapshot).ToList();

        Assert.Equal(
            new[]
            {
                (StorageBlobDataOwner, storageId),
                (StorageQueueDataContributor, storageId),
                (StorageTableDataContributor, storageId),
                (KeyVaultCryptoServiceEncryptionUser, keyId),
                (MonitoringMetricsPublisher, applicationInsightsId),
            }.Order(),
            granted.Select(a => (a.RoleId, a.Scope)).Order());
        Assert.All(granted, a =>
        {
            Assert.Equal("ServicePrincipal", a.PrincipalType);
            Assert.Contains($"reference('{identityId}'", a.PrincipalId, StringComparison.OrdinalIgnoreCase);
        });
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void NoRoleBroaderThanNeededIsGranted(bool networkIsolation)
    {
        var broad = RoleAssignments(template.Snapshot(networkIsolation))
            .Where(a => TooBroadRoles.ContainsKey(a.RoleId))
            .Select(a => TooBroadRoles[a.RoleId]);

        Assert.Empty(broad);
    }

    [Fact]
    public void ApplicationInsightsAcceptsOnlyEntraAuthenticatedTelemetry()
    {
        var component = template.OnlyResource("Microsoft.Insights/components")["properties"]!;
        var settings = template.AppSettings;
        var clientId = settings["AzureWebJobsStorage__clientId"];

        Assert.True((bool)component["DisableLocalAuth"]!);
        Assert.StartsWith("[reference(", settings["APPLICATIONINSIGHTS_CONNECTION_STRING"], StringComparison.Ordinal);
        Assert.EndsWith(").ConnectionString]", settings["APPLICATIONINSIGHTS_CONNECTION_STRING"], StringComparison.Ordinal);
        Assert.Contains("Authorization=AAD", settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"], StringComparison.Ordinal);
        Assert.Contains(clientId.Trim('[', ']'), settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"], StringComparison.Ordinal);
    }

    [Fact]
    public void AppSettingsHoldNoCredentials()
    {
        string[] credentialMarkers = ["AccountKey=", "SharedAccessSignature", "sig=", "listKeys", "Password", "InstrumentationKey="];
        var settings = template.AppSettings;

        Assert.DoesNotContain("AzureWebJobsStorage", settings.Keys);
        Assert.All(settings.Where(s => s.Key.Contains("ConnectionString", StringComparison.OrdinalIgnoreCase)),
            s => Assert.Equal("APPLICATIONINSIGHTS_CONNECTION_STRING", s.Key));
        Assert.All(settings, s => Assert.DoesNotContain(credentialMarkers, m => s.Value.Contains(m, StringComparison.OrdinalIgnoreCase)));
        Assert.All(settings.Where(s => s.Key.EndsWith("__credential", StringComparison.Ordinal)), s => Assert.Equal("managedidentity", s.Value));
        Assert.DoesNotContain("listKeys", template.TemplateText, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void KeyHashesAreSecureValuesThatNeverAppearInClearText()
    {
        var hashTypes = FindHashPropertyTypes(template.Template).ToList();

        // Both the parameter of main.bicep and that of the module that turns hashes into settings.
        Assert.True(hashTypes.Count >= 2, "Expected the key-hash type in main.bicep and in the function app module.");
        Assert.All(hashTypes, t => Assert.Equal("securestring", t));
        Assert.All(
            BicepTemplateFixture.EventKeys.Concat(BicepTemplateFixture.SigningKeys),
            k => Assert.DoesNotContain(k.Hash, template.SnapshotText, StringComparison.Ordinal));
    }

    private IEnumerable<string> ChildNames(string type)
        => template.ResourcesOfType(type).Select(r => ((string)r["name"]!).Split('/')[^1]);

    private List<string> ContainerNames() => ChildNames("Microsoft.Storage/storageAccounts/blobServices/containers").ToList();

    private static IEnumerable<(string RoleId, string Scope, string PrincipalType, string PrincipalId)> RoleAssignments(TemplateSnapshot snapshot)
        => snapshot.ResourcesOfType("Microsoft.Authorization/roleAssignments").Select(a =>
        {
            var id = (string)a["id"]!;
            var properties = a["properties"]!;
            return (
                RoleId: ((string)properties["roleDefinitionId"]!).Split('/')[^1],
                Scope: id[..id.IndexOf("/providers/Microsoft.Authorization/roleAssignments/", StringComparison.OrdinalIgnoreCase)],
                PrincipalType: (string)properties["principalType"]!,
                PrincipalId: (string)properties["principalId"]!);
        });

    // The compiled template declares the key-hash type wherever it is used: a "hash" property of an object type.
    private static IEnumerable<string> FindHashPropertyTypes(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
                if (obj["properties"] is JsonObject properties && properties["hash"] is JsonObject hash && hash["type"] is JsonValue type)
                {
                    yield return (string)type!;
                }

                foreach (var (_, child) in obj)
                {
                    foreach (var found in FindHashPropertyTypes(child))
                    {
                        yield return found;
                    }
                }

                break;
            case JsonArray array:
                foreach (var child in array)
                {
                    foreach (var found in FindHashPropertyTypes(child))
                    {
                        yield return found;
                    }
                }

                break;
        }
    }
}
