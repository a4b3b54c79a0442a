using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;

namespace EventIngest.Tests.Infrastructure;

internal sealed record LogEntry(string Category, LogLevel Level, string Text);

/// <summary>Keeps what a log sink would keep: the message, every structured value, the exception,
/// and the values of the scopes around the entry (as Application Insights' logger does).</summary>
internal sealed class CapturedLogs : ILoggerProvider, ISupportExternalScope
{
    private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

    public ConcurrentQueue<LogEntry> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, Entries, () => _scopes);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public void Dispose() { }

    private sealed class Logger(string category, ConcurrentQueue<LogEntry> entries, Func<IExternalScopeProvider> scopes) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => scopes().Push(state);

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var text = new StringBuilder(formatter(state, exception));
            if (state is IEnumerable<KeyValuePair<string, object?>> values)
            {
                foreach (var (name, value) in values) text.Append(' ').Append(name).Append('=').Append(value);
            }
            scopes().ForEachScope((scope, builder) =>
            {
                builder.Append(" scope:").Append(scope);
                if (scope is IEnumerable<KeyValuePair<string, object?>> scopeValues)
                {
                    foreach (var (name, value) in scopeValues) builder.Append(' ').Append(name).Append('=').Append(value);
                }
            }, text);
            if (exception is not null) text.AppendLine().Append(exception);
            entries.Enqueue(new LogEntry(category, logLevel, text.ToString()));
        }
    }
}
