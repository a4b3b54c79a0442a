using System.Text.Json;
using EventIngest.Consumer;
using EventIngest.Tests.Infrastructure;

namespace EventIngest.Client.Tests.Consumer;

/// <summary>The consumer kit reading real messages that the service put on its queue.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class EventReaderTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private ConsumerHost _host = null!;

    public async Task InitializeAsync() => _host = await ConsumerHost.StartAsync(azurite);

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private sealed record OrderPlaced(string OrderId, decimal Total, string[] Items);

    private sealed record Customer(string External_id, string Email);

    [Fact]
    public async Task AMessageBecomesATypedEventWithItsUserOpened()
    {
        var ts = DateTimeOffset.UtcNow.AddMinutes(-1);
        var sent = await _host.Client().SendAsync(new Event<OrderPlaced>("app/order.placed", new OrderPlaced("o-1", 19.99m, ["book"]))
        {
            User = new { external_id = "u-1", email = "ada@example.com" },
            Id = "order-o-1",
            Version = "3",
            Timestamp = ts,
        });

        var e = await _host.Reader.ReadAsync<OrderPlaced>(Assert.Single(await _host.ReceiveMessagesAsync()));

        Assert.Equal(sent.Ids[0], e.InternalId);
        Assert.Equal("dev", e.Environment);
        Assert.Equal("app/order.placed", e.Name);
        Assert.Equal("order-o-1", e.Id);
        Assert.Equal("3", e.Version);
        Assert.Equal(ts.ToUnixTimeMilliseconds(), e.Timestamp.ToUnixTimeMilliseconds());
        Assert.True(e.ReceivedAt >= e.Timestamp);
        Assert.Equal("o-1", e.Data.OrderId);
        Assert.Equal(19.99m, e.Data.Total);
        Assert.Equal(["book"], e.Data.Items);
        Assert.False(e.UserErased);
        Assert.Equal("ada@example.com", e.User!.Value.GetProperty("email").GetString());
        Assert.Equal(new Customer("u-1", "ada@example.com"), e.GetUser<Customer>(new JsonSerializerOptions { PropertyNameCaseInsensitive = true }));
        Assert.False(e.IsReplay);
    }

    [Fact]
    public async Task AClaimCheckIsFollowedToTheBlobHoldingTheEvent()
    {
        var report = new string('r', 60_000);
        await _host.Client().SendAsync(new Event<object>("app/report.generated", new { report }) { User = new { external_id = "u-big" } });

        var message = Assert.Single(await _host.ReceiveMessagesAsync());
        Assert.True(JsonDocument.Parse(message).RootElement.TryGetProperty("claim_check", out _), "expected a claim-check message");

        var e = await _host.Reader.ReadAsync(message.ToString());

        Assert.Equal(report, e.Data.GetProperty("report").GetString());
        Assert.Equal("u-big", e.User!.Value.GetProperty("external_id").GetString());
    }

    [Fact]
    public async Task AnErasedPersonsEventArrivesWithoutUserAndFlagged()
    {
        await _host.Client().SendAsync(new Event("app/user.updated") { User = new { external_id = "u-gone", email = "gone@example.com" } });
        var erase = await _host.Service.Client.DeleteAsync(new Uri("v1/users/u-gone", UriKind.Relative));
        Assert.True(erase.IsSuccessStatusCode, $"erase answered {(int)erase.StatusCode}");

        var e = await _host.Reader.ReadAsync(Assert.Single(await _host.ReceiveMessagesAsync()).ToString());

        Assert.True(e.UserErased);
        Assert.Null(e.User);
        Assert.Null(e.GetUser<Customer>());
        Assert.Equal("app/user.updated", e.Name);
    }

    [Fact]
    public async Task AnEventWithoutUserOpensToAnEmptyObject()
    {
        await _host.Client().SendAsync(new Event("app/ping"));

        var e = await _host.Reader.ReadAsync<JsonElement>(Assert.Single(await _host.ReceiveMessagesAsync()));

        Assert.Equal("{}", e.User!.Value.GetRawText());
        Assert.Equal("{}", e.Data.GetRawText());
    }

    [Fact]
    public async Task AMessageStillInBase64IsDecoded()
    {
        await _host.Client().SendAsync(Event.Create("app/encoded", new { n = 5 }));

        var raw = await _host.ReceiveUndecodedAsync();
        Assert.DoesNotContain("{", raw, StringComparison.Ordinal);

        var e = await _host.Reader.ReadAsync(raw);
        Assert.Equal(5, e.Data.GetProperty("n").GetInt32());
    }

    [Theory]
    [InlineData("""{"format":2,"internal_id":"01JQDAE4RQF8MBCR55T5AK4KXS"}""", "format 2")]
    [InlineData("""{"internal_id":"01JQDAE4RQF8MBCR55T5AK4KXS"}""", "no format")]
    [InlineData("""[1,2]""", "not a JSON object")]
    [InlineData("""{"format":1""", "not JSON")]
    [InlineData("""{"format":1,"internal_id":"01JQDAE4RQF8MBCR55T5AK4KXS","env":"dev"}""", "'name'")]
    public async Task AMessageThatIsNotAKnownEnvelopeIsRefused(string message, string reason)
    {
        var error = await Assert.ThrowsAsync<EventFormatException>(() => _host.Reader.ReadAsync(message));

        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AReaderThatDoesNotOpenUsersNeedsNoKeys()
    {
        await _host.Client().SendAsync(new Event("app/x") { User = new { external_id = "u-9" } });
        var blobs = new Azure.Storage.Blobs.BlobServiceClient(azurite.ConnectionString);
        var reader = new EventReader(blobs, users: null, new EventConsumerOptions { OpenUser = false });

        var e = await reader.ReadAsync(Assert.Single(await _host.ReceiveMessagesAsync()).ToString());

        Assert.Null(e.User);
        Assert.False(e.UserErased);
    }
}
