using System.Text.Json.Nodes;
using EventIngest.Ingest;
using EventIngest.Storage;

namespace EventIngest.Tests.Infrastructure.Bicep;

/// <summary>Queue accounts (<c>queueAccounts</c>, <c>route.account</c>): a storage account per entry holding only the
/// queues of the routes that name it, the app told where it is, allowed to use its queues and nothing else, and
/// reached through a private endpoint.</summary>
[Collection(BicepTemplateCollection.Name)]
public sealed class TemplateQueueAccountTests(BicepTemplateFixture template)
{
    private const string StorageAccountType = "Microsoft.Storage/storageAccounts";
    private const string QueueDataContributor = "974c5e8b-45b9-4653-ba55-5f855dd0fb88";

    private static IEnumerable<string> HotQueues =>
        BicepTemplateFixture.Routes.Where(r => r.Queue == BicepTemplateFixture.PackedQueue).SelectMany(r => QueueShards.Names(r.Queue, r.Shards ?? 1));

    private static JsonObject QueueAccount(TemplateSnapshot snapshot) =>
        Assert.Single(snapshot.ResourcesOfType(StorageAccountType), a => ((string)a["name"]!).StartsWith("sq" + BicepTemplateFixture.QueueAccount, StringComparison.Ordinal));

    private static JsonObject MainAccount(TemplateSnapshot snapshot) =>
        Assert.Single(snapshot.ResourcesOfType(StorageAccountType), a => ((string)a["name"]!).StartsWith("st", StringComparison.Ordinal));

    private static IEnumerable<string> QueuesOf(TemplateSnapshot snapshot, JsonObject account) =>
        snapshot.ResourcesOfType("Microsoft.Storage/storageAccounts/queueServices/queues")
            .Select(q => ((string)q["name"]!).Split('/'))
            .Where(parts => parts[0] == (string)account["name"]!)
            .Select(parts => parts[^1]);

    [Fact]
    public void TheQueueAccountHoldsTheRoutesQueuesAndTheMainAccountNoLonger()
    {
        var snapshot = template.WithQueueAccount;
        var account = QueueAccount(snapshot);

        Assert.Equal(HotQueues.Order(), QueuesOf(snapshot, account).Order());
        Assert.DoesNotContain(snapshot.ResourcesOfType("Microsoft.Storage/storageAccounts/tableServices/tables"), t => ((string)t["name"]!).StartsWith((string)account["name"]! + "/", StringComparison.Ordinal));
        Assert.Empty(QueuesOf(snapshot, MainAccount(snapshot)).Intersect(HotQueues));
        Assert.False((bool)account["properties"]!["allowSharedKeyAccess"]!);
        Assert.Equal("Disabled", (string?)account["properties"]!["publicNetworkAccess"]);
    }

    [Fact]
    public void TheAppIsToldTheAccountOfTheRoute()
    {
        var snapshot = template.WithQueueAccount;
        var settings = snapshot.AppSettings;
        var name = (string)QueueAccount(snapshot)["name"]!;
        var route = BicepTemplateFixture.Routes.ToList().FindIndex(r => r.Queue == BicepTemplateFixture.PackedQueue);

        Assert.Equal(BicepTemplateFixture.QueueAccount, settings[$"EventIngest__Routing__Routes__{route}__Account"]);
        Assert.Equal("", settings["EventIngest__Routing__Routes__0__Account"]);
        Assert.Contains(name, settings[$"EventIngest__Storage__QueueAccounts__{BicepTemplateFixture.QueueAccount}__QueueServiceUri"], StringComparison.Ordinal);
        Assert.DoesNotContain(template.AppSettings.Keys, k => k.StartsWith("EventIngest__Storage__QueueAccounts__", StringComparison.Ordinal));
    }

    [Fact]
    public void TheIdentityMayUseTheAccountsQueuesAndNothingElseThere()
    {
        var snapshot = template.WithQueueAccount;
        var accountId = (string)QueueAccount(snapshot)["id"]!;

        var roles = snapshot.ResourcesOfType("Microsoft.Authorization/roleAssignments")
            .Where(a => ((string)a["id"]!).StartsWith(accountId + "/providers/Microsoft.Authorization/roleAssignments/", StringComparison.OrdinalIgnoreCase))
            .Select(a => ((string)a["properties"]!["roleDefinitionId"]!).Split('/')[^1])
            .ToList();

        Assert.Equal([QueueDataContributor], roles);
    }

    [Fact]
    public void TheAccountHasAPrivateQueueEndpointInTheQueueZone()
    {
        var snapshot = template.WithQueueAccount;
        var accountId = (string)QueueAccount(snapshot)["id"]!;

        var endpoint = Assert.Single(snapshot.ResourcesOfType("Microsoft.Network/privateEndpoints"), e =>
            string.Equals((string?)e["properties"]!["privateLinkServiceConnections"]!.AsArray().Single()!["properties"]!["privateLinkServiceId"], accountId, StringComparison.OrdinalIgnoreCase));
        Assert.Equal("queue", (string?)endpoint["properties"]!["privateLinkServiceConnections"]!.AsArray().Single()!["properties"]!["groupIds"]!.AsArray().Single());
        var zoneGroup = Assert.Single(snapshot.ResourcesOfType("Microsoft.Network/privateEndpoints/privateDnsZoneGroups"), g => ((string)g["name"]!).StartsWith((string)endpoint["name"]! + "/", StringComparison.Ordinal));
        Assert.Contains("privatelink.queue", zoneGroup.ToJsonString(), StringComparison.Ordinal);
    }
}
