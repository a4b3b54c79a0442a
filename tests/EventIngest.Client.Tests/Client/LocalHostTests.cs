using System.Net;
using EventIngest.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace EventIngest.Client.Tests.Client;

/// <summary>The client against the local host on Azurite.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class LocalHostTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private TestHost _host = null!;
    private readonly CountingHandler _counter = new();

    public async Task InitializeAsync() => _host = await TestHost.StartAsync(azurite.ConnectionString, azurite.NewStorageNamePrefix());

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private sealed record SignUp(int AccountId, string Plan);

    private EventIngestClient Client(Action<EventIngestClientOptions>? configure = null)
    {
        var options = new EventIngestClientOptions { BaseUrl = _host.BaseAddress, EventKey = "test-key" };
        configure?.Invoke(options);
        return new EventIngestClient(new HttpClient(_counter), options);
    }

    [Fact]
    public async Task ATypedEventIsAcceptedAndArrivesOnTheQueueAsSent()
    {
        var sent = await Client().SendAsync(new Event<SignUp>("app/account.created", new SignUp(42, "pro"))
        {
            User = new { external_id = "u-42" },
            Id = "signup-42",
            Version = "2025-01-01",
            Timestamp = DateTimeOffset.UtcNow.AddMinutes(-5),
        });

        var result = Assert.Single(sent.Events);
        Assert.Equal(EventOutcome.Accepted, result.Outcome);
        Assert.Null(result.Due);
        Assert.Equal(sent.Ids, [result.Id]);
        var message = Assert.Single(await _host.ReceiveAllAsync());
        Assert.Equal(result.Id, message.GetProperty("internal_id").GetString());
        Assert.Equal("""{"accountId":42,"plan":"pro"}""", message.GetProperty("data").GetRawText());
        Assert.Equal("signup-42", message.GetProperty("id").GetString());
        Assert.Equal("2025-01-01", message.GetProperty("v").GetString());
    }

    [Fact]
    public async Task ABatchOfMixedEventsGetsItsIdsInOrder()
    {
        Event[] events = [Event.Create("app/a", new { n = 1 }), new Event("app/b"), new Event<SignUp>("app/c", new SignUp(1, "free"))];

        var sent = await Client().SendAsync(events);

        Assert.Equal(3, sent.Ids.Distinct().Count());
        Assert.All(sent.Events, e => Assert.Equal(EventOutcome.Accepted, e.Outcome));
        var messages = await _host.ReceiveAllAsync();
        Assert.Equal(["app/a", "app/b", "app/c"], sent.Ids.Select(id => messages.Single(m => m.GetProperty("internal_id").GetString() == id).GetProperty("name").GetString()));
    }

    [Fact]
    public async Task AFutureTimestampIsScheduledForThatTime()
    {
        var due = DateTimeOffset.UtcNow.AddHours(2);
        var sent = await Client().SendAsync(new Event("app/reminder") { Timestamp = due });

        var result = Assert.Single(sent.Events);
        Assert.Equal(EventOutcome.Scheduled, result.Outcome);
        Assert.Equal(due.ToUnixTimeMilliseconds(), result.Due!.Value.ToUnixTimeMilliseconds());
        Assert.Empty(await _host.ReceiveAllAsync());
    }

    [Fact]
    public async Task TheSameIdTwiceIsADuplicateWithTheOriginalId()
    {
        var client = Client();
        var first = await client.SendAsync(new Event("app/order.placed") { Id = "order-1" });
        var second = await client.SendAsync(new Event("app/order.placed") { Id = "order-1" });

        Assert.Equal(EventOutcome.Duplicate, Assert.Single(second.Events).Outcome);
        Assert.Equal(first.Ids, second.Ids);
        Assert.Single(await _host.ReceiveAllAsync());
    }

    [Fact]
    public async Task ARetryOfARequestThatWasStoredIsAnsweredDuplicateAndDeliveredOnce()
    {
        // The first answer is lost on the way back: the server stored the events, the client saw a 503.
        _counter.LoseFirstAnswer = true;

        var sent = await Client(o => o.InitialRetryDelay = TimeSpan.FromMilliseconds(10)).SendAsync([new Event("app/a"), new Event("app/b")]);

        Assert.Equal(2, _counter.Requests);
        Assert.All(sent.Events, e => Assert.Equal(EventOutcome.Duplicate, e.Outcome));
        var messages = await _host.ReceiveAllAsync();
        Assert.Equal(sent.Ids.Order(), messages.Select(m => m.GetProperty("internal_id").GetString()).Order());
    }

    [Fact]
    public async Task FiveThousandAndOneEventsGoInTwoRequestsAndAllArrive()
    {
        var events = Enumerable.Range(0, 5001).Select(i => Event.Create("app/bulk", new { i })).ToList();

        // No retry for a slow answer on a loaded machine: the split is what is counted.
        var sent = await Client(o => o.RequestTimeout = TimeSpan.FromMinutes(3)).SendAsync(events);

        Assert.Equal(2, _counter.Requests);
        Assert.Equal(5001, sent.Ids.Distinct().Count());
        Assert.All(sent.Events, e => Assert.Equal(EventOutcome.Accepted, e.Outcome));
        Assert.Equal(5001, await _host.CountMessagesAsync());
    }

    [Fact]
    public async Task AnInvalidEventRejectsItsRequestWithTheServersReason()
    {
        var error = await Assert.ThrowsAsync<EventIngestException>(() =>
            Client().SendAsync([new Event("app/ok"), Event.Create("app/bad", 42)]));

        Assert.Equal(400, error.StatusCode);
        Assert.Equal(1, Assert.Single(error.Errors).Index);
        Assert.Equal("data", error.Errors[0].Field);
        Assert.Equal(1, _counter.Requests);
        Assert.Empty(await _host.ReceiveAllAsync());
    }

    [Fact]
    public async Task TheDependencyInjectionClientSendsThroughTheHttpClientFactory()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddEventIngestClient(o =>
        {
            o.BaseUrl = _host.BaseAddress;
            o.EventKey = "test-key";
            o.Environment = "staging";
        });
        await using var provider = services.BuildServiceProvider();
        provider.GetRequiredService<IStartupValidator>().Validate();

        var sent = await provider.GetRequiredService<EventIngestClient>().SendAsync(new Event("app/di"));

        var message = Assert.Single(await _host.ReceiveAllAsync());
        Assert.Equal(sent.Ids[0], message.GetProperty("internal_id").GetString());
        Assert.Equal("staging", message.GetProperty("env").GetString());
    }

    [Fact]
    public async Task DependencyInjectionRefusesToStartWithUnusableOptions()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddEventIngestClient(o =>
        {
            o.BaseUrl = _host.BaseAddress;
            o.EventKey = "test-key";
            o.MaxAttempts = 0;
        });
        await using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());

        Assert.Contains("MaxAttempts", error.Message, StringComparison.Ordinal);
    }

    /// <summary>Counts requests; can turn the first answer into a 503, as if it had been lost after the server acted.</summary>
    private sealed class CountingHandler() : DelegatingHandler(new SocketsHttpHandler())
    {
        private int _requests;

        public int Requests => _requests;

        public bool LoseFirstAnswer { get; set; }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var number = Interlocked.Increment(ref _requests);
            var response = await base.SendAsync(request, cancellationToken);
            if (number == 1 && LoseFirstAnswer && response.IsSuccessStatusCode)
            {
                response.Dispose();
                return new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
            }
            return response;
        }
    }
}
