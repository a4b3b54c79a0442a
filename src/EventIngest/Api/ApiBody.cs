using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace EventIngest.Api;

/// <summary>The JSON body of a REST request.</summary>
internal static class ApiBody
{
    /// <summary>The body as one JSON value, or null when it is empty or not JSON.</summary>
    public static async Task<JsonDocument?> ReadJsonAsync(HttpRequest request, CancellationToken ct)
    {
        try
        {
            return await JsonDocument.ParseAsync(request.Body, cancellationToken: ct);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
