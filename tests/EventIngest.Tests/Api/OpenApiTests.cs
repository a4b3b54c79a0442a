using System.Net;
using System.Text.RegularExpressions;
using EventIngest.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace EventIngest.Tests.Api;

[Collection(AzuriteFixture.CollectionName)]
public sealed partial class OpenApiTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task EveryMappedRouteIsDocumentedAndEveryDocumentedOperationIsMapped()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        var document = await host.Client.GetStringAsync("openapi.yaml");

        var mapped = host.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<IExcludeFromDescriptionMetadata>() is not { ExcludeFromDescription: true })
            .SelectMany(e => e.Metadata.GetMetadata<IHttpMethodMetadata>()!.HttpMethods.Select(m => $"{m} {e.RoutePattern.RawText}"))
            .Order(StringComparer.Ordinal)
            .ToList();

        Assert.Contains("GET /v1/events/{internalId}", mapped);
        Assert.Equal(mapped, Operations(document));
    }

    [Fact]
    public async Task TheServedDocumentIsDocsOpenApiYaml()
    {
        await using var host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());
        using var response = await host.Client.GetAsync("openapi.yaml");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/yaml", response.Content.Headers.ContentType?.MediaType);

        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root.FullName, "EventIngest.sln"))) root = root.Parent!;
        Assert.Equal(await File.ReadAllTextAsync(Path.Combine(root.FullName, "docs", "openapi.yaml")), await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public void OperationsAreReadFromThePathsSectionOnly()
    {
        const string yaml = """
            openapi: 3.1.0
            paths:
              /a/{id}:
                get:
                  summary: x
                  parameters: []
                post: {}
              /b:
                delete:
                  responses: {}
            components:
              schemas:
                get:
                  type: object
            """;
        Assert.Equal(["DELETE /b", "GET /a/{id}", "POST /a/{id}"], Operations(yaml));
    }

    /// <summary>"METHOD /path" for every operation under <c>paths:</c>; the document's own layout
    /// (two-space indents, one path or method per line) is all this reads.</summary>
    private static List<string> Operations(string yaml)
    {
        var operations = new List<string>();
        string? path = null;
        var inPaths = false;
        foreach (var line in yaml.Split('\n'))
        {
            if (line.Length > 0 && !char.IsWhiteSpace(line[0]))
            {
                inPaths = line.TrimEnd() == "paths:";
                continue;
            }
            if (!inPaths) continue;
            if (PathLine().Match(line) is { Success: true } p) path = p.Groups[1].Value;
            else if (MethodLine().Match(line) is { Success: true } m && path is not null) operations.Add($"{m.Groups[1].Value.ToUpperInvariant()} {path}");
        }
        return operations.Order(StringComparer.Ordinal).ToList();
    }

    [GeneratedRegex("^  (/[^:]*):\\s*$")]
    private static partial Regex PathLine();

    [GeneratedRegex("^    (get|put|post|delete|patch|head|options|trace):")]
    private static partial Regex MethodLine();
}
