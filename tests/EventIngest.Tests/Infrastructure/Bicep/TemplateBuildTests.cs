using System.Text.Json.Nodes;

namespace EventIngest.Tests.Infrastructure.Bicep;

[Collection(BicepTemplateCollection.Name)]
public sealed class TemplateBuildTests(BicepTemplateFixture template)
{
    [Fact]
    public void BuildPrintsNoDiagnostics()
        => Assert.Equal("", template.Build.Output);

    [Fact]
    public void LintPrintsNothing()
    {
        var lint = BicepCli.Run(template.BicepFolder, null, "lint", template.MainBicep);

        Assert.Equal("", lint.Output);
        Assert.Equal(0, lint.ExitCode);
    }

    [Fact]
    public void ExampleParametersFileBuildsWithTheEventKeyHashFromTheEnvironment()
    {
        var hash = new string('d', 64);
        var environment = new Dictionary<string, string?> { ["EVENTINGEST_EVENT_KEY_HASH"] = hash, ["AZURE_ENV_NAME"] = "example" };

        var lint = BicepCli.Run(template.BicepFolder, environment, "lint", Path.Combine(template.BicepFolder, "main.bicepparam"));
        var build = BicepCli.Run(template.BicepFolder, environment, "build-params", Path.Combine(template.BicepFolder, "main.bicepparam"), "--stdout");

        Assert.Equal("", lint.Output);
        Assert.Equal(0, build.ExitCode);
        Assert.Contains(hash, build.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void ExampleParametersFileIsAProductionSetupWithNetworkIsolationAndZoneRedundantStorage()
    {
        var parameters = ExampleParameters(new() { ["EVENTINGEST_NETWORK_ISOLATION"] = null });

        Assert.True((bool)parameters["networkIsolation"]!["value"]!);
        Assert.Equal("Standard_ZRS", (string?)parameters["storageSkuName"]!["value"]);
    }

    [Fact]
    public void ExampleParametersFileTurnsNetworkIsolationOffForATrialFromTheEnvironment()
    {
        var parameters = ExampleParameters(new() { ["EVENTINGEST_NETWORK_ISOLATION"] = "false" });

        Assert.False((bool)parameters["networkIsolation"]!["value"]!);
    }

    [Fact]
    public void ExampleParametersFileRefusesToBuildWithoutAnEventKeyHash()
    {
        var environment = new Dictionary<string, string?> { ["EVENTINGEST_EVENT_KEY_HASH"] = null };

        var build = BicepCli.Run(template.BicepFolder, environment, "build-params", Path.Combine(template.BicepFolder, "main.bicepparam"), "--stdout");

        Assert.NotEqual(0, build.ExitCode);
        Assert.Contains("EVENTINGEST_EVENT_KEY_HASH", build.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void OutputsGiveAzdWhatItNeeds()
    {
        string[] expected =
        [
            "AZURE_LOCATION", "AZURE_TENANT_ID", "AZURE_RESOURCE_GROUP", "AZURE_FUNCTION_NAME", "AZURE_FUNCTION_URL",
            "AZURE_STORAGE_ACCOUNT_NAME", "AZURE_KEY_VAULT_NAME", "AZURE_KEY_VAULT_KEY_ID", "AZURE_MANAGED_IDENTITY_CLIENT_ID",
        ];

        Assert.All(expected, name => Assert.True(template.Outputs.ContainsKey(name), $"Output {name} is missing."));
        Assert.Equal((string?)template.FunctionApp["name"], (string?)template.Outputs["AZURE_FUNCTION_NAME"]);
        Assert.Equal("ingest", (string?)template.FunctionApp["tags"]!["azd-service-name"]);
    }

    [Fact]
    public void EveryParameterOfMainAndOfEachModuleIsDescribed()
    {
        var parameters = Templates(template.Template).SelectMany(t => t["parameters"]?.AsObject() ?? []).ToList();

        Assert.True(parameters.Count > 20, "Expected the parameters of main.bicep and of its modules.");
        Assert.All(parameters, p => Assert.False(
            string.IsNullOrWhiteSpace((string?)p.Value!["metadata"]?["description"]),
            $"Parameter {p.Key} has no @description."));
    }

    // main.bicepparam built with a sample key hash and the given environment variables: its parameters.
    private JsonNode ExampleParameters(Dictionary<string, string?> environment)
    {
        environment["EVENTINGEST_EVENT_KEY_HASH"] = new string('d', 64);
        environment["AZURE_ENV_NAME"] = "example";

        var build = BicepCli.Run(template.BicepFolder, environment, "build-params", Path.Combine(template.BicepFolder, "main.bicepparam"), "--stdout");

        Assert.True(build.ExitCode == 0, build.Output);
        var parametersJson = (string)JsonNode.Parse(build.StandardOutput)!["parametersJson"]!;
        return JsonNode.Parse(parametersJson)!["parameters"]!;
    }

    // The compiled template and the module templates nested in it.
    private static IEnumerable<JsonObject> Templates(JsonNode? node) => node switch
    {
        JsonObject obj => (obj.ContainsKey("$schema") ? [obj] : Enumerable.Empty<JsonObject>())
            .Concat(obj.SelectMany(p => Templates(p.Value))),
        JsonArray array => array.SelectMany(Templates),
        _ => [],
    };
}
