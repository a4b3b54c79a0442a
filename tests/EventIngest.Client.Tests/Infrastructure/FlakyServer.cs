using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EventIngest.Client.Tests.Infrastructure;

/// <summary>
/// An event API on Kestrel (127.0.0.1, free port) that answers each request with the next scripted step, so
/// failures happen on purpose; after the script it answers success. Records every request.
/// </summary>
public sealed class FlakyServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<Func<HttpContext, string, Task>> _steps;

    private FlakyServer(WebApplication app, IEnumerable<Func<HttpContext, string, Task>> steps)
    {
        _app = app;
        _steps = new ConcurrentQueue<Func<HttpContext, string, Task>>(steps);
    }

    public Uri BaseAddress { get; private set; } = null!;

    public ConcurrentQueue<Recorded> Requests { get; } = new();

    public sealed record Recorded(string Path, string? Seed, string? Environment, string? ContentType, string Body, DateTimeOffset At);

    public static async Task<FlakyServer> StartAsync(params Func<HttpContext, string, Task>[] steps)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var server = new FlakyServer(app, steps);
        app.Run(server.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.BaseAddress = new Uri(address + "/");
        return server;
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        Requests.Enqueue(new Recorded(context.Request.Path.Value!, context.Request.Headers["x-inngest-event-id-seed"].FirstOrDefault(),
            context.Request.Headers["x-inngest-env"].FirstOrDefault(), context.Request.ContentType, body, DateTimeOffset.UtcNow));
        var step = _steps.TryDequeue(out var next) ? next : Success;
        await step(context, body);
    }

    /// <summary>Answers 200 with one accepted id per event in the body.</summary>
    public static async Task Success(HttpContext context, string body)
    {
        using var document = System.Text.Json.JsonDocument.Parse(body);
        var count = document.RootElement.GetArrayLength();
        var ids = Enumerable.Range(0, count).Select(i => $"01JQDAE4RQF8MBCR55T5AK{i:D4}").ToList();
        var events = string.Join(",", ids.Select(id => $$"""{"id":"{{id}}","outcome":"accepted"}"""));
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync($$"""{"ids":[{{string.Join(",", ids.Select(id => $"\"{id}\""))}}],"status":200,"events":[{{events}}]}""");
    }

    public static Func<HttpContext, string, Task> Fail(int status, string error, int? retryAfterSeconds = null, int? index = null) => async (context, _) =>
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        if (retryAfterSeconds is { } seconds) context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var detail = index is { } i ? $$"""{"index":{{i}},"field":"name","message":"{{error}}"}""" : $$"""{"message":"{{error}}"}""";
        var message = index is { } n ? $"event {n}: {error}" : error;
        await context.Response.WriteAsync($$"""{"ids":[],"status":{{status}},"error":"{{message}}","errors":[{{detail}}]}""");
    };

    /// <summary>Drops the connection without an answer: a transport error for the client.</summary>
    public static Task Abort(HttpContext context, string body)
    {
        context.Abort();
        return Task.CompletedTask;
    }

    /// <summary>Never answers (until the client gives up).</summary>
    public static async Task Hang(HttpContext context, string body)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, context.RequestAborted);
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
