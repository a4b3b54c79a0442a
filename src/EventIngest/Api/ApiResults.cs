using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace EventIngest.Api;

/// <summary>Metadata of every successful REST response.</summary>
internal sealed record ApiMetadata(string FetchedAt);

/// <summary>Metadata of a list page: <c>next_cursor</c> is null on the last page.</summary>
internal sealed record ListMetadata(string FetchedAt, string? NextCursor);

/// <summary>The REST API's success body: <c>{"data": ..., "metadata": {...}}</c>.</summary>
internal sealed record ApiResponse<TData, TMetadata>(TData Data, TMetadata Metadata);

/// <summary>
/// Every REST answer is built here: successes in the <c>data</c>/<c>metadata</c> envelope with
/// snake_case names, failures as RFC 9457 problem details. Serializer settings are our own, so
/// both hosts answer byte for byte the same whatever their JSON defaults.
/// </summary>
internal static class ApiResults
{
    public static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public static JsonHttpResult<ApiResponse<T, ApiMetadata>> Ok<T>(T data, DateTimeOffset fetchedAt) =>
        TypedResults.Json(new ApiResponse<T, ApiMetadata>(data, new ApiMetadata(Timestamp(fetchedAt))), JsonOptions);

    public static JsonHttpResult<ApiResponse<IReadOnlyList<T>, ListMetadata>> Page<T>(IReadOnlyList<T> data, string? nextCursor, DateTimeOffset fetchedAt) =>
        TypedResults.Json(new ApiResponse<IReadOnlyList<T>, ListMetadata>(data, new ListMetadata(Timestamp(fetchedAt), nextCursor)), JsonOptions);

    public static IResult BadRequest(string detail) => Problem(StatusCodes.Status400BadRequest, detail);

    public static IResult NotFound(string detail) => Problem(StatusCodes.Status404NotFound, detail);

    public static IResult Conflict(string detail) => Problem(StatusCodes.Status409Conflict, detail);

    /// <summary>401 with the challenge RFC 6750 asks for.</summary>
    public static IResult Unauthorized(string detail) =>
        new WithHeader(Problem(StatusCodes.Status401Unauthorized, detail), "WWW-Authenticate", "Bearer");

    public static IResult Unavailable(string detail, int retryAfterSeconds) =>
        new WithHeader(Problem(StatusCodes.Status503ServiceUnavailable, detail), "Retry-After", retryAfterSeconds.ToString(CultureInfo.InvariantCulture));

    public static ProblemHttpResult Problem(int status, string detail) =>
        TypedResults.Problem(new ProblemDetails { Status = status, Detail = detail });

    /// <summary>RFC 3339 in UTC with milliseconds.</summary>
    public static string Timestamp(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private sealed class WithHeader(ProblemHttpResult inner, string name, string value) : IResult, IStatusCodeHttpResult
    {
        public int? StatusCode => inner.StatusCode;

        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.Headers[name] = value;
            return inner.ExecuteAsync(httpContext);
        }
    }
}
