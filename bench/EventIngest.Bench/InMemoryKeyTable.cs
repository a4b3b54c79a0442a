using System.Net;
using Azure.Core.Pipeline;
using Azure.Data.Tables;

namespace EventIngest.Bench;

/// <summary>
/// A key table that answers from memory, for benchmarks that load keys once and then measure CPU
/// work only: every read finds nothing and every insert succeeds, so the protector creates the
/// environment and person keys it needs (and keeps them in its caches). It stores nothing, so a
/// second protector over it would create new keys. <see cref="Requests"/> shows whether anything
/// reached it after the keys were loaded.
/// </summary>
public sealed class InMemoryKeyTable
{
    private int _requests;

    public InMemoryKeyTable()
    {
        var options = new TableClientOptions { Transport = new HttpClientTransport(new HttpClient(new Handler(this))) };
        options.Retry.MaxRetries = 0;
        Client = new TableServiceClient(
            new Uri("http://127.0.0.1:1/devstoreaccount1"),
            new TableSharedKeyCredential(DevServer.Azurite.AzuriteProcess.AccountName, DevServer.Azurite.AzuriteProcess.AccountKey),
            options);
    }

    public TableServiceClient Client { get; }

    public int Requests => Volatile.Read(ref _requests);

    private sealed class Handler(InMemoryKeyTable table) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref table._requests);
            var response = request.Method == HttpMethod.Get
                ? new HttpResponseMessage(HttpStatusCode.NotFound)
                {
                    Content = new StringContent("""{"odata.error":{"code":"ResourceNotFound","message":{"lang":"en-US","value":"The specified resource does not exist."}}}""",
                        System.Text.Encoding.UTF8, "application/json"),
                }
                : new HttpResponseMessage(HttpStatusCode.NoContent);
            response.RequestMessage = request;
            return Task.FromResult(response);
        }
    }
}
