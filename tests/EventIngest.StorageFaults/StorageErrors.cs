using System.Globalization;
using System.Text;

namespace EventIngest.StorageFaults;

/// <summary>Error responses in each service's own format, so the SDK reads the status and error code as from real storage.</summary>
internal static class StorageErrors
{
    public static byte[] Response(StorageService service, int status, string code, bool headRequest)
    {
        var requestId = Guid.NewGuid().ToString();
        var message = code + " injected by StorageFaultProxy.\nRequestId:" + requestId + "\nTime:" + DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture);
        string contentType;
        string body;
        if (service == StorageService.Table)
        {
            contentType = "application/json;odata=minimalmetadata;streaming=true;charset=utf-8";
            var value = message.Replace("\n", "\\n", StringComparison.Ordinal);
            body = "{\"odata.error\":{\"code\":\"" + code + "\",\"message\":{\"lang\":\"en-US\",\"value\":\"" + value + "\"}}}";
        }
        else
        {
            contentType = "application/xml";
            body = $"<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>";
        }
        var bodyBytes = Encoding.UTF8.GetBytes(body);
        var reason = status switch { 503 => "Service Unavailable", 500 => "Internal Server Error", _ => "Error" };
        var date = DateTime.UtcNow.ToString("R", CultureInfo.InvariantCulture);
        var length = bodyBytes.Length.ToString(CultureInfo.InvariantCulture);
        var head =
            "HTTP/1.1 " + status.ToString(CultureInfo.InvariantCulture) + " " + reason + "\r\n" +
            "Content-Length: " + length + "\r\n" +
            "Content-Type: " + contentType + "\r\n" +
            "x-ms-request-id: " + requestId + "\r\n" +
            "x-ms-error-code: " + code + "\r\n" +
            "Date: " + date + "\r\n" +
            "Connection: keep-alive\r\n\r\n";
        var headBytes = Encoding.ASCII.GetBytes(head);
        return headRequest ? headBytes : [.. headBytes, .. bodyBytes];
    }
}
