using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;

namespace EventIngest.Tests.Infrastructure;

internal sealed record LogEntry(string Category, LogLevel Level, string Text);

/// <summary>Keeps what a log sink would keep: the message, every structured value and the exception.</summary>
internal sealed class CapturedLogs : ILoggerProvider
{
    public ConcurrentQueue<LogEntry> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, Entries);

    public void Dispose() { }

    private sealed class Logger(string category, ConcurrentQueue<LogEntry> entries) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var text = new StringBuilder(formatter(state, exception));
            if (state is IEnumerable<KeyValuePair<string, object?>> values)
            {
                foreach (var (name, value) in values) text.Append(' ').Append(name).Append('=').Append(value);
            }
            if (exception is not null) text.AppendLine().Append(exception);
            entries.Enqueue(new LogEntry(category, logLevel, text.ToString()));
        }
    }
}
