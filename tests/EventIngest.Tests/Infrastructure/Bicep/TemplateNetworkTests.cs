using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace EventIngest.Tests.Infrastructure.Bicep;

/// <summary>Private networking (<c>networkIsolation</c>, on by default) and durable storage: with isolation
/// the app reaches Storage and Key Vault only through private endpoints in its own VNet, and neither accepts
/// public traffic; without it (quick trials) nothing of that exists and both stay public.</summary>
[Collection(BicepTemplateCollection.Name)]
public sealed partial class TemplateNetworkTests(BicepTemplateFixture template)
{
    private const string StorageAccountType = "Microsoft.Storage/storageAccounts";
    private const string KeyVaultType = "Microsoft.KeyVault/vaults";

    // Each private endpoint: the sub-resource it connects, the resource it belongs to, and the private DNS zone
    // that makes the resource's public name resolve to the endpoint inside the VNet.
    private static readonly (string GroupId, string TargetType, string Zone)[] ExpectedEndpoints =
    [
        ("blob", StorageAccountType, "privatelink.blob.core.windows.net"),
        ("queue", StorageAccountType, "privatelink.queue.core.windows.net"),
        ("table", StorageAccountType, "privatelink.table.core.windows.net"),
        ("vault", KeyVaultType, "privatelink.vaultcore.azure.net"),
    ];

    [Fact]
    public void NetworkIsolationAndZoneRedundantStorageAreTheDefaults()
    {
        var parameters = template.Template["parameters"]!;

        Assert.True((bool)parameters["networkIsolation"]!["defaultValue"]!);
        Assert.Equal("Standard_ZRS", (string?)parameters["storageSkuName"]!["defaultValue"]);
        Assert.Equal("Standard_ZRS", (string?)template.OnlyResource(StorageAccountType)["sku"]!["name"]);
    }

    [Fact]
    public void WithNetworkIsolationStorageAndKeyVaultRefusePublicTraffic()
    {
        var storage = template.Default.OnlyResource(StorageAccountType)["properties"]!;
        var vault = template.Default.OnlyResource(KeyVaultType)["properties"]!;

        Assert.Equal("Disabled", (string?)storage["publicNetworkAccess"]);
        Assert.Equal("Deny", (string?)storage["networkAcls"]!["defaultAction"]);
        Assert.Equal("None", (string?)storage["networkAcls"]!["bypass"]);
        Assert.Equal("Disabled", (string?)vault["publicNetworkAccess"]);
        Assert.Equal("Deny", (string?)vault["networkAcls"]!["defaultAction"]);
        Assert.All([storage, vault], properties =>
        {
            Assert.Empty(properties["networkAcls"]!["ipRules"]?.AsArray() ?? []);
            Assert.Empty(properties["networkAcls"]!["virtualNetworkRules"]?.AsArray() ?? []);
        });
    }

    [Fact]
    public void WithNetworkIsolationBlobQueueTableAndVaultEachHaveAPrivateEndpointWithItsDnsZone()
    {
        var snapshot = template.Default;
        var vnetId = Id(snapshot.OnlyResource("Microsoft.Network/virtualNetworks"));
        var endpointSubnet = SubnetId(vnetId, EndpointSubnet(snapshot));
        var endpoints = snapshot.ResourcesOfType("Microsoft.Network/privateEndpoints").ToList();

        Assert.Equal(ExpectedEndpoints.Length, endpoints.Count);
        Assert.All(ExpectedEndpoints, expected =>
        {
            var endpoint = Assert.Single(endpoints, e => GroupIds(e).SequenceEqual([expected.GroupId]));
            var connection = endpoint["properties"]!["privateLinkServiceConnections"]!.AsArray().Single()!["properties"]!;

            Assert.Equal(Id(snapshot.OnlyResource(expected.TargetType)), (string?)connection["privateLinkServiceId"]);
            Assert.Equal(endpointSubnet, (string?)endpoint["properties"]!["subnet"]!["id"], ignoreCase: true);
            var zone = Assert.Single(snapshot.ResourcesOfType("Microsoft.Network/privateDnsZones"), z => InPublicCloud((string)z["name"]!) == expected.Zone);
            Assert.Equal([Id(zone)], DnsZonesOf(snapshot, endpoint));
        });
    }

    [Fact]
    public void WithNetworkIsolationEachPrivateDnsZoneIsLinkedToTheVnet()
    {
        var snapshot = template.Default;
        var vnetId = Id(snapshot.OnlyResource("Microsoft.Network/virtualNetworks"));
        var zones = snapshot.ResourcesOfType("Microsoft.Network/privateDnsZones").ToList();
        var links = snapshot.ResourcesOfType("Microsoft.Network/privateDnsZones/virtualNetworkLinks").ToList();

        Assert.Equal(ExpectedEndpoints.Select(e => e.Zone).Order(), zones.Select(z => InPublicCloud((string)z["name"]!)).Order());
        Assert.All(zones, zone =>
        {
            Assert.Equal("global", (string?)zone["location"]);
            var link = Assert.Single(links, l => InPublicCloud((string)l["name"]!).StartsWith(InPublicCloud((string)zone["name"]!) + "/", StringComparison.Ordinal));
            Assert.Equal(vnetId, (string?)link["properties"]!["virtualNetwork"]!["id"], ignoreCase: true);
            Assert.False((bool)link["properties"]!["registrationEnabled"]!);
        });
    }

    [Fact]
    public void WithNetworkIsolationTheFunctionAppJoinsTheVnetThroughItsOwnDelegatedSubnet()
    {
        var snapshot = template.Default;
        var vnetId = Id(snapshot.OnlyResource("Microsoft.Network/virtualNetworks"));
        var subnets = Subnets(snapshot).ToList();
        var appSubnet = Assert.Single(subnets, s => Delegations(s).Any());
        var site = snapshot.FunctionApp["properties"]!;

        Assert.Equal(["Microsoft.App/environments"], Delegations(appSubnet));
        Assert.Equal(SubnetId(vnetId, appSubnet), (string?)site["virtualNetworkSubnetId"], ignoreCase: true);
        Assert.NotEqual((string?)appSubnet["name"], (string?)EndpointSubnet(snapshot)["name"]);
        // The ingest route is the product: it stays reachable from the internet in both modes.
        Assert.Equal("Enabled", (string?)site["publicNetworkAccess"]);
    }

    [Fact]
    public void TheVirtualNetworkIsAnOutputForConsumersToJoin()
    {
        var vnet = template.Default.OnlyResource("Microsoft.Network/virtualNetworks");

        Assert.Equal((string?)vnet["name"], (string?)template.Default.Outputs["AZURE_VIRTUAL_NETWORK_NAME"]);
        Assert.Equal("", (string?)template.WithoutNetworkIsolation.Outputs["AZURE_VIRTUAL_NETWORK_NAME"]);
    }

    [Fact]
    public void WithoutNetworkIsolationNothingPrivateIsCreatedAndStorageAndKeyVaultStayPublic()
    {
        var snapshot = template.WithoutNetworkIsolation;

        Assert.DoesNotContain(snapshot.Resources, r => ((string)r["type"]!).StartsWith("Microsoft.Network/", StringComparison.OrdinalIgnoreCase));
        Assert.Null(snapshot.FunctionApp["properties"]!["virtualNetworkSubnetId"]);
        Assert.All([snapshot.OnlyResource(StorageAccountType), snapshot.OnlyResource(KeyVaultType)], resource =>
        {
            Assert.Equal("Enabled", (string?)resource["properties"]!["publicNetworkAccess"]);
            Assert.Equal("Allow", (string?)resource["properties"]!["networkAcls"]!["defaultAction"]);
        });
    }

    [Fact]
    public void WithoutNetworkIsolationEverythingElseIsTheSame()
    {
        static IEnumerable<string> Names(TemplateSnapshot snapshot)
            => snapshot.Resources.Where(r => !((string)r["type"]!).StartsWith("Microsoft.Network/", StringComparison.OrdinalIgnoreCase))
                .Select(r => $"{r["type"]} {r["name"]}").Order();

        Assert.Equal(Names(template.Default), Names(template.WithoutNetworkIsolation));
        Assert.Equal(template.Default.AppSettings, template.WithoutNetworkIsolation.AppSettings);
    }

    private static string Id(JsonObject resource) => (string)resource["id"]!;

    // The zone names follow the cloud (environment().suffixes), which the snapshot leaves unevaluated: evaluate
    // the expression for the public cloud. Enough of ARM's format() and replace() for the names used here.
    private static string InPublicCloud(string value)
    {
        if (!value.StartsWith('[')) return value;

        var expression = value[1..^1]
            .Replace("environment().suffixes.storage", "'core.windows.net'", StringComparison.Ordinal)
            .Replace("environment().suffixes.keyvaultDns", "'.vault.azure.net'", StringComparison.Ordinal);
        for (var call = InnermostCall().Match(expression); call.Success; call = InnermostCall().Match(expression))
        {
            var arguments = call.Groups["argument"].Captures.Select(c => c.Value).ToArray();
            var result = call.Groups["function"].Value == "format"
                ? string.Format(System.Globalization.CultureInfo.InvariantCulture, arguments[0], arguments.Skip(1).Cast<object>().ToArray())
                : arguments[0].Replace(arguments[1], arguments[2], StringComparison.Ordinal);
            expression = string.Concat(expression.AsSpan(0, call.Index), $"'{result}'", expression.AsSpan(call.Index + call.Length));
        }

        Assert.Matches("^'[^']*'$", expression);
        return expression[1..^1];
    }

    [GeneratedRegex(@"(?<function>format|replace)\('(?<argument>[^']*)'(?:, '(?<argument>[^']*)')*\)")]
    private static partial Regex InnermostCall();

    private static string SubnetId(string vnetId, JsonNode subnet) => $"{vnetId}/subnets/{subnet["name"]}";

    private static IEnumerable<JsonNode> Subnets(TemplateSnapshot snapshot)
        => snapshot.OnlyResource("Microsoft.Network/virtualNetworks")["properties"]!["subnets"]!.AsArray().Select(s => s!);

    private static IEnumerable<string> Delegations(JsonNode subnet)
        => (subnet["properties"]!["delegations"]?.AsArray() ?? []).Select(d => (string)d!["properties"]!["serviceName"]!);

    private static JsonNode EndpointSubnet(TemplateSnapshot snapshot) => Assert.Single(Subnets(snapshot), s => !Delegations(s).Any());

    private static IEnumerable<string> GroupIds(JsonObject endpoint)
        => endpoint["properties"]!["privateLinkServiceConnections"]!.AsArray()
            .SelectMany(c => c!["properties"]!["groupIds"]!.AsArray().Select(g => (string)g!));

    // The DNS zone groups of one endpoint: the zones in which it registers its A records.
    private static IEnumerable<string> DnsZonesOf(TemplateSnapshot snapshot, JsonObject endpoint)
        => snapshot.ResourcesOfType("Microsoft.Network/privateEndpoints/privateDnsZoneGroups")
            .Where(g => ((string)g["name"]!).StartsWith((string)endpoint["name"]! + "/", StringComparison.Ordinal))
            .SelectMany(g => g["properties"]!["privateDnsZoneConfigs"]!.AsArray())
            .Select(c => (string)c!["properties"]!["privateDnsZoneId"]!);
}
