using Microsoft.AspNetCore.Http;

namespace EventIngest.Api;

/// <summary><c>docs/openapi.yaml</c>, embedded at build time, served by both hosts at <c>GET /openapi.yaml</c>.</summary>
internal static class OpenApiDocument
{
    public const string Route = "/openapi.yaml";

    private static readonly Lazy<byte[]> Content = new(() =>
    {
        using var stream = typeof(OpenApiDocument).Assembly.GetManifestResourceStream("EventIngest.openapi.yaml")
            ?? throw new InvalidOperationException("docs/openapi.yaml is not embedded in the EventIngest assembly.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    });

    public static ReadOnlyMemory<byte> Yaml => Content.Value;

    public static IResult Serve() => TypedResults.Bytes(Content.Value, "application/yaml");
}
