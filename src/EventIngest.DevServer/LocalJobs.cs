namespace EventIngest.DevServer;

/// <summary>Runs the jobs the Functions app runs on timers, on short intervals.</summary>
internal sealed class LocalJobs(Jobs jobs, IConfiguration configuration, ILogger<LocalJobs> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.WhenAll(
        Every(configuration.GetValue("EventIngest:Local:RepairInterval", TimeSpan.FromSeconds(5)), jobs.RepairOutboxAsync, stoppingToken),
        Every(configuration.GetValue("EventIngest:Local:CleanupInterval", TimeSpan.FromMinutes(1)), jobs.DeleteExpiredClaimsAsync, stoppingToken),
        Every(configuration.GetValue("EventIngest:Local:ReleaseInterval", TimeSpan.FromSeconds(10)), jobs.ReleaseParkedAsync, stoppingToken),
        Every(configuration.GetValue("EventIngest:Local:MeasureInterval", TimeSpan.FromMinutes(1)), async ct => { await jobs.MeasureDepthsAsync(ct); return 0; }, stoppingToken),
        ReleaseDueAsync(configuration.GetValue("EventIngest:Local:DuePollInterval", TimeSpan.FromMilliseconds(250)), stoppingToken));

    /// <summary>Scheduled events are released as their due markers appear: the due queue is polled all the time.</summary>
    private async Task ReleaseDueAsync(TimeSpan pollInterval, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await jobs.ReleaseDueAsync(TimeSpan.FromSeconds(30), pollInterval, ct);
            }
            catch (Exception ex)
            {
                if (ct.IsCancellationRequested) return;
                logger.LogWarning(ex, "Releasing scheduled events failed; trying again in a second");
                await Task.Delay(TimeSpan.FromSeconds(1), ct).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    private async Task Every(TimeSpan interval, Func<CancellationToken, Task<int>> job, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(interval);
        while (await timer.WaitForNextTickAsync(ct))
        {
            try
            {
                await job(ct);
            }
            catch (Exception ex)
            {
                if (ct.IsCancellationRequested) return; // the host is stopping
                logger.LogWarning(ex, "A background job failed; it runs again in {Interval}", interval);
            }
        }
    }
}
