namespace MedSpa.Api.Infrastructure;

/// <summary>
/// SignalR logs every write to a connection that ends in an exception as "Failed writing message. Aborting
/// connection." at Error with its stack trace (<c>HubConnectionContext</c>, event <c>FailedWritingMessage</c>), including
/// a write the server cancelled on purpose: when the board cuts loose a screen that stopped reading or acknowledging
/// (<c>ScreenOutbox</c>), or closes a revoked or expired connection, the write still waiting for that screen is
/// cancelled so that it and SignalR's write lock are released. Such a write ends with an
/// <see cref="OperationCanceledException"/>, which is no server error: it is logged at Information, without a stack.
/// Any other write failure keeps SignalR's error.
/// </summary>
internal sealed class CancelledHubWriteLogger(ILogger inner) : ILogger
{
    public const string Category = "Microsoft.AspNetCore.SignalR.HubConnectionContext";
    private const string FailedWritingMessage = "FailedWritingMessage";

    public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => inner.BeginScope(state);

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (eventId.Name == FailedWritingMessage && exception is OperationCanceledException)
        {
            if (inner.IsEnabled(LogLevel.Information))
            {
                inner.Log(LogLevel.Information, eventId,
                    "A write to a connection the server is closing was cancelled (a screen cut loose, or a session that ended)");
            }

            return;
        }

        inner.Log(logLevel, eventId, state, exception, formatter);
    }
}
