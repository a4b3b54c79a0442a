using System.Net;
using Microsoft.Extensions.DependencyInjection;

namespace EventIngest.Tests.Infrastructure;

/// <summary>
/// A request that died between recording its events and enqueueing them, and the host that repairs it:
/// the request goes through a host whose queues are down (it records its events and its outbox row,
/// cannot enqueue, and answers 503), then a host on the same storage starts with a clock the test moves
/// past <c>RepairAfter</c>.
/// </summary>
public sealed class DiedRequest : IAsyncDisposable
{
    /// <summary>Past the one-minute <c>RepairAfter</c>, whatever minute the outbox row was written in.</summary>
    public static readonly TimeSpan PastRepairAfter = TimeSpan.FromMinutes(3);

    private DiedRequest(TestHost host, ShiftedTime time)
    {
        Host = host;
        Time = time;
    }

    /// <summary>The host started after the request died, on <see cref="Time"/>.</summary>
    public TestHost Host { get; }

    public ShiftedTime Time { get; }

    /// <param name="settings">Of both hosts, unless <paramref name="brokenSettings"/> gives the first its own.</param>
    public static async Task<DiedRequest> StartAsync(string connectionString, string prefix, string body, IDictionary<string, string>? headers = null,
        IDictionary<string, string?>? settings = null, IDictionary<string, string?>? brokenSettings = null)
    {
        await using (var broken = await TestHost.StartAsync(TestHost.WithDeadQueues(connectionString), prefix, brokenSettings ?? settings))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await broken.SendAsync(body, headers: headers)).StatusCode);
        }
        var time = new ShiftedTime();
        return new DiedRequest(await TestHost.StartAsync(connectionString, prefix, settings, s => s.AddSingleton<TimeProvider>(time)), time);
    }

    /// <summary>Moves the clock past <c>RepairAfter</c>: the repair may take the request over now.</summary>
    public void PassRepairAfter() => Time.Offset = PastRepairAfter;

    /// <summary>Moves the clock past <c>RepairAfter</c> and runs one repair pass; returns the events it sent.</summary>
    public Task<int> RepairAsync()
    {
        PassRepairAfter();
        return Host.Services.GetRequiredService<Jobs>().RepairOutboxAsync(default);
    }

    public ValueTask DisposeAsync() => Host.DisposeAsync();
}
