using System.Diagnostics;
using EventIngest.Client.Tests.Infrastructure;
using EventIngest.Tests.Infrastructure;

namespace EventIngest.Client.Tests.Client;

/// <summary>The client against a server that fails on purpose.</summary>
public sealed class RetryTests : IAsyncLifetime
{
    private FlakyServer _server = null!;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_server is not null) await _server.DisposeAsync();
    }

    /// <summary>Cancels once the server has the request, after <paramref name="pause"/>: a timer started
    /// with the call could fire before a slow machine has sent anything.</summary>
    private CancellationTokenSource CancelAfterFirstRequest(TimeSpan pause)
    {
        var cancel = new CancellationTokenSource();
        _ = Task.Run(async () =>
        {
            await Waits.UntilAsync(() => Task.FromResult(_server.Requests.Count), n => n > 0);
            await Task.Delay(pause);
            cancel.Cancel();
        });
        return cancel;
    }

    private async Task<EventIngestClient> ClientAsync(Action<EventIngestClientOptions>? configure = null, params Func<Microsoft.AspNetCore.Http.HttpContext, string, Task>[] steps)
    {
        _server = await FlakyServer.StartAsync(steps);
        var options = new EventIngestClientOptions
        {
            BaseUrl = _server.BaseAddress,
            EventKey = "secret-key",
            InitialRetryDelay = TimeSpan.FromMilliseconds(20),
            MaxRetryDelay = TimeSpan.FromMilliseconds(100),
        };
        configure?.Invoke(options);
        return new EventIngestClient(new HttpClient(), options);
    }

    [Fact]
    public async Task ServiceUnavailableIsRetriedAfterRetryAfterWithTheSameSeed()
    {
        var client = await ClientAsync(null, FlakyServer.Fail(503, "Storage is unavailable; retry later", retryAfterSeconds: 1));

        var result = await client.SendAsync([new Event("app/a"), new Event("app/b")]);

        Assert.Equal(2, result.Ids.Count);
        var requests = _server.Requests.ToArray();
        Assert.Equal(2, requests.Length);
        Assert.NotNull(requests[0].Seed);
        Assert.Equal(requests[0].Seed, requests[1].Seed);
        Assert.Equal(requests[0].Body, requests[1].Body);
        Assert.True(requests[1].At - requests[0].At >= TimeSpan.FromMilliseconds(950), $"retried after {(requests[1].At - requests[0].At).TotalMilliseconds} ms");
    }

    [Fact]
    public async Task TooManyRequestsAndServerErrorsAreRetried()
    {
        var client = await ClientAsync(null, FlakyServer.Fail(429, "slow down"), FlakyServer.Fail(500, "boom"), FlakyServer.Fail(502, "bad gateway"));

        var result = await client.SendAsync(new Event("app/a"));

        Assert.Single(result.Ids);
        Assert.Equal(4, _server.Requests.Count);
        Assert.Single(_server.Requests.Select(r => r.Seed).Distinct());
    }

    [Theory]
    [InlineData(400)]
    [InlineData(401)]
    [InlineData(413)]
    public async Task RefusalsAreNotRetried(int status)
    {
        var client = await ClientAsync(null, FlakyServer.Fail(status, "refused"));

        var error = await Assert.ThrowsAsync<EventIngestException>(() => client.SendAsync(new Event("app/a")));

        Assert.Equal(status, error.StatusCode);
        Assert.Equal(1, error.Attempts);
        Assert.Single(_server.Requests);
        Assert.Contains("refused", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ValidationErrorsAreReportedPerEvent()
    {
        var client = await ClientAsync(null, FlakyServer.Fail(400, "name is empty", index: 1));

        var error = await Assert.ThrowsAsync<EventIngestException>(() => client.SendAsync([new Event("app/a"), new Event("app/b")]));

        var detail = Assert.Single(error.Errors);
        Assert.Equal(new EventError(1, "name", "name is empty"), detail);
        Assert.Null(error.Sent);
    }

    [Fact]
    public async Task ADroppedConnectionIsRetriedWithTheSameSeed()
    {
        var client = await ClientAsync(null, FlakyServer.Abort, FlakyServer.Abort);

        var result = await client.SendAsync(new Event("app/a"));

        Assert.Single(result.Ids);
        Assert.Equal(3, _server.Requests.Count);
        Assert.Single(_server.Requests.Select(r => r.Seed).Distinct());
    }

    [Fact]
    public async Task AnUnreachableServerFailsAfterTheLastAttempt()
    {
        var unreachable = new EventIngestClient(new HttpClient(), new EventIngestClientOptions
        {
            BaseUrl = new Uri($"http://127.0.0.1:{DeadPort.Port}/"),
            EventKey = "secret-key",
            MaxAttempts = 3,
            InitialRetryDelay = TimeSpan.FromMilliseconds(10),
            MaxRetryDelay = TimeSpan.FromMilliseconds(20),
        });

        var error = await Assert.ThrowsAsync<EventIngestException>(() => unreachable.SendAsync(new Event("app/a")));

        Assert.Null(error.StatusCode);
        Assert.Equal(3, error.Attempts);
        Assert.IsType<HttpRequestException>(error.InnerException);
        Assert.DoesNotContain("secret-key", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnAttemptWithoutAnswerTimesOutAndIsRetried()
    {
        var client = await ClientAsync(o => o.RequestTimeout = TimeSpan.FromSeconds(1), FlakyServer.Hang);

        var result = await client.SendAsync(new Event("app/a"));

        Assert.Single(result.Ids);
        // The hung attempt and at least one more (a loaded machine may time out a second one too).
        Assert.True(_server.Requests.Count >= 2, $"{_server.Requests.Count} requests");
    }

    [Fact]
    public async Task GivingUpReportsTheLastStatusAndRetryAfter()
    {
        var client = await ClientAsync(o => o.MaxAttempts = 3,
            FlakyServer.Fail(503, "down", 0), FlakyServer.Fail(503, "down", 0), FlakyServer.Fail(503, "still down", 0));

        var error = await Assert.ThrowsAsync<EventIngestException>(() => client.SendAsync(new Event("app/a")));

        Assert.Equal(503, error.StatusCode);
        Assert.Equal(3, error.Attempts);
        Assert.Equal(TimeSpan.Zero, error.RetryAfter);
        Assert.Contains("still down", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARetryAfterBeyondTheLimitIsNotWaitedFor()
    {
        var client = await ClientAsync(o => o.MaxRetryAfter = TimeSpan.FromSeconds(5), FlakyServer.Fail(503, "down", retryAfterSeconds: 120));

        var error = await Assert.ThrowsAsync<EventIngestException>(() => client.SendAsync(new Event("app/a")));

        Assert.Equal(TimeSpan.FromSeconds(120), error.RetryAfter);
        Assert.Single(_server.Requests);
    }

    [Fact]
    public async Task CancellationStopsTheWaitBeforeARetry()
    {
        var client = await ClientAsync(null, FlakyServer.Fail(503, "down", retryAfterSeconds: 60));
        using var cancel = CancelAfterFirstRequest(TimeSpan.FromMilliseconds(200));
        var clock = Stopwatch.StartNew();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.SendAsync(new Event("app/a"), cancel.Token));

        // Half the Retry-After: the wait was cut short, however slow the machine.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"took {clock.Elapsed}");
        Assert.Single(_server.Requests);
    }

    [Fact]
    public async Task CancellationStopsARequestInFlight()
    {
        var client = await ClientAsync(null, FlakyServer.Hang);
        using var cancel = CancelAfterFirstRequest(TimeSpan.Zero);

        var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.SendAsync(new Event("app/a"), cancel.Token));

        Assert.Equal(cancel.Token, error.CancellationToken);
        Assert.Single(_server.Requests);
    }

    [Fact]
    public async Task AFailingLaterRequestReportsTheEventsAlreadyStored()
    {
        var client = await ClientAsync(o => o.MaxEventsPerRequest = 2, FlakyServer.Success, FlakyServer.Fail(400, "name is empty", index: 1));

        var error = await Assert.ThrowsAsync<EventIngestException>(() =>
            client.SendAsync(Enumerable.Range(0, 5).Select(i => new Event("app/" + i))));

        Assert.Equal(2, error.Sent!.Ids.Count);
        Assert.Equal(3, Assert.Single(error.Errors).Index);
        Assert.StartsWith("The event API answered 400: event 3: name is empty", error.Message, StringComparison.Ordinal);
        Assert.Equal(2, _server.Requests.Count);
    }

    [Fact]
    public async Task EachRequestOfASplitCallHasItsOwnSeed()
    {
        var client = await ClientAsync(o => o.MaxEventsPerRequest = 2);

        var result = await client.SendAsync(Enumerable.Range(0, 5).Select(i => new Event("app/" + i)));

        Assert.Equal(5, result.Events.Count);
        Assert.Equal(3, _server.Requests.Select(r => r.Seed).Distinct().Count());
    }

    [Fact]
    public async Task TheKeyGoesInThePathAndTheEnvironmentInItsHeader()
    {
        var client = await ClientAsync(o => o.Environment = "branch-7");

        await client.SendAsync(new Event("app/a"));

        var request = Assert.Single(_server.Requests);
        Assert.Equal("/e/secret-key", request.Path);
        Assert.Equal("branch-7", request.Environment);
        Assert.Equal("application/json", request.ContentType);
        Assert.Equal("""[{"name":"app/a","data":{}}]""", request.Body);
    }
}
