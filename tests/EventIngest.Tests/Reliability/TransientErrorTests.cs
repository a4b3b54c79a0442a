using System.Net.Sockets;
using Azure;
using EventIngest.Storage;

namespace EventIngest.Tests.Reliability;

public sealed class TransientErrorTests
{
    [Fact]
    public void RetriesThatEndOnABareSocketErrorAreTransient()
    {
        // What Azure.Core threw when Azurite's connections were reset mid-request.
        var failed = new AggregateException("Retry failed after 2 tries.",
            new RequestFailedException("An error occurred while sending the request.", new HttpRequestException("reset", new IOException("reset", new SocketException(104)))),
            new SocketException(107));

        Assert.True(StorageErrors.IsTransient(failed));
    }

    [Fact]
    public void AStorageRefusalIsNotTransient()
    {
        Assert.False(StorageErrors.IsTransient(new RequestFailedException(400, "PropertyValueTooLarge")));
        Assert.False(StorageErrors.IsTransient(new AggregateException(new RequestFailedException(0, "reset"), new InvalidOperationException())));
    }
}
