using System.Net;
using System.Text.Json;
using EventIngest.Tests.Infrastructure;

namespace EventIngest.Tests.Api;

/// <summary>REST calls against a <see cref="TestHost"/>, with an optional signing key and environment.</summary>
internal static class ApiCalls
{
    public static Task<(HttpStatusCode Status, JsonElement Body)> GetAsync(this TestHost host, string path, string? key = null, string? environment = null) =>
        host.CallAsync(HttpMethod.Get, path, key, environment);

    public static Task<(HttpStatusCode Status, JsonElement Body)> ReplayAsync(this TestHost host, string internalId, string? key = null, string? environment = null) =>
        host.CallAsync(HttpMethod.Post, $"v1/events/{internalId}/replay", key, environment);

    public static async Task<(HttpStatusCode Status, JsonElement Body)> CallAsync(this TestHost host, HttpMethod method, string path, string? key = null, string? environment = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (key is not null) request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + key);
        if (environment is not null) request.Headers.TryAddWithoutValidation("x-inngest-env", environment);
        using var response = await host.Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>Sends a body to the event route and returns the internal ids it answered.</summary>
    public static async Task<List<string>> SendForIdsAsync(this TestHost host, string body, string? environment = null, IDictionary<string, string>? headers = null)
    {
        var all = new Dictionary<string, string>(headers ?? new Dictionary<string, string>());
        if (environment is not null) all["x-inngest-env"] = environment;
        var response = await host.SendAsync(body, headers: all);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await TestHost.JsonAsync(response)).GetProperty("ids").EnumerateArray().Select(e => e.GetString()!).ToList();
    }

    /// <summary>Follows next_cursor of a list route (<c>v1/events</c> unless <paramref name="path"/> says another) from
    /// <paramref name="cursor"/>, if given, to the end; returns every page's items in order and the number of pages.</summary>
    public static async Task<(List<JsonElement> Events, int Pages)> ListAllAsync(this TestHost host, string query, string? key = null, string? environment = null,
        Func<Task>? betweenPages = null, string? cursor = null, string path = "v1/events")
    {
        var (events, pages) = await Paging.AllAsync<JsonElement>(async next =>
        {
            var (status, body) = await host.GetAsync(path + "?" + query + (next is null ? "" : "&cursor=" + Uri.EscapeDataString(next)), key, environment);
            Assert.True(status == HttpStatusCode.OK, body.ToString());
            var nextCursor = body.GetProperty("metadata").GetProperty("next_cursor");
            return (body.GetProperty("data").EnumerateArray(), nextCursor.ValueKind == JsonValueKind.Null ? null : nextCursor.GetString());
        }, cursor, betweenPages);
        return (events, pages);
    }

    public static List<string> InternalIds(this IEnumerable<JsonElement> events) =>
        events.Select(e => e.GetProperty("internal_id").GetString()!).ToList();
}
