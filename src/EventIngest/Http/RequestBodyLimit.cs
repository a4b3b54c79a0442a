using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace EventIngest.Http;

/// <summary>
/// Request bodies are limited by the service's own settings, the same on both hosts: the server's
/// default (Kestrel's 30,000,000 bytes, which the Functions worker keeps) is set to ours for each
/// request before its body is read, so it neither cuts in below <c>MaxRequestBytes</c> nor lets more through.
/// </summary>
internal static class RequestBodyLimit
{
    public const string Unreadable = "Request body could not be read: it ended before its declared length or its framing was invalid; nothing was done";

    public static void Set(HttpRequest request, long maxBytes)
    {
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit) limit.MaxRequestBodySize = maxBytes;
    }
}
