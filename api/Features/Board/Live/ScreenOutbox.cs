using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;

namespace MedSpa.Api.Features.Board.Live;

/// <summary>
/// One screen's outgoing board messages on this host: a bounded queue in front of its SignalR connection, so that a
/// clinic's feed never waits for any single screen.
/// <para>
/// Why: SignalR's group send completes only when every member's write has, and a write waits when that screen stops
/// reading (its socket and pipe fill) or, with stateful reconnect, stops acknowledging (the replay buffer holds 100 KB,
/// then writes wait for an ack). Awaiting the group send, the feed held every other screen of the clinic for as long —
/// a sleeping TV or a background tab delayed the wall screens by seconds.
/// </para>
/// <para>
/// Here the feed posts each message to every screen's outbox and moves on. A screen that keeps up is written to inline
/// (the common case: no queue, no thread hop, the same work as the group send did). A screen whose write is pending gets
/// the following messages queued, in order, and written by its own drain loop as it catches up. Past
/// <see cref="BoardLiveOptions.ScreenQueueLimit"/> queued messages the screen is cut loose: its connection is aborted
/// (without stateful-reconnect resume), and the client reconnects and catches up by seq from the board's event log
/// (or a snapshot), which the board page does on its own. Queued entries are references to messages serialized once for
/// the whole clinic, so a queue costs a pointer per message.
/// </para>
/// </summary>
internal sealed class ScreenOutbox : IDisposable
{
    private readonly HubConnectionContext _connection;
    private readonly int _limit;
    private readonly ILogger _logger;
    private readonly string _board;
    // Cancels a write that waits on this screen (an ack that never comes, a full pipe) once the screen is cut or its
    // connection ends any other way, so its drain loop and SignalR's write lock are released.
    private readonly CancellationTokenSource _cut = new();
    private readonly CancellationTokenRegistration _aborted;
    private readonly Queue<SerializedHubMessage> _queue = new();
    private bool _writing;
    private bool _closed;

    public ScreenOutbox(HubConnectionContext connection, int limit, ILogger logger, string board)
    {
        _connection = connection;
        _limit = limit;
        _logger = logger;
        _board = board;
        _aborted = connection.ConnectionAborted.UnsafeRegister(static s => ((ScreenOutbox)s!).Close(), this);
    }

    public string ConnectionId => _connection.ConnectionId;

    /// <summary>Messages waiting behind a pending write (0 for a screen that keeps up).</summary>
    public int Queued
    {
        get
        {
            lock (_queue) return _queue.Count;
        }
    }

    /// <summary>Whether the screen was cut loose (or its connection ended): nothing more is written to it.</summary>
    public bool IsClosed
    {
        get
        {
            lock (_queue) return _closed;
        }
    }

    /// <summary>
    /// Queues <paramref name="message"/> for this screen and returns without waiting for it. Called by one clinic feed's
    /// single reader, so messages reach the screen in the order posted.
    /// </summary>
    public void Post(SerializedHubMessage message)
    {
        int behind;
        lock (_queue)
        {
            if (_closed) return;
            if (_writing)
            {
                if (_queue.Count < _limit)
                {
                    _queue.Enqueue(message);
                    return;
                }

                behind = _queue.Count;
                _closed = true;
                _queue.Clear();
            }
            else
            {
                _writing = true;
                behind = -1;
            }
        }

        if (behind >= 0)
        {
            CutLoose(behind);
            return;
        }

        // Inline: a screen that keeps up completes the write synchronously (it only lands in the connection's pipe).
        ValueTask write;
        try
        {
            write = _connection.WriteAsync(message, _cut.Token);
        }
        catch (Exception ex)
        {
            Failed(ex);
            return;
        }

        if (!write.IsCompletedSuccessfully)
        {
            _ = DrainAsync(write);
            return;
        }

        write.GetAwaiter().GetResult();
        lock (_queue)
        {
            if (_queue.Count == 0)
            {
                _writing = false;
                return;
            }
        }

        _ = DrainAsync(ValueTask.CompletedTask);
    }

    private async Task DrainAsync(ValueTask pending)
    {
        try
        {
            await pending;
            while (true)
            {
                SerializedHubMessage next;
                lock (_queue)
                {
                    if (_closed || !_queue.TryDequeue(out next!))
                    {
                        _writing = false;
                        return;
                    }
                }

                await _connection.WriteAsync(next, _cut.Token);
            }
        }
        catch (Exception ex)
        {
            Failed(ex);
        }
    }

    private void CutLoose(int behind)
    {
        _logger.LogInformation(
            "Board {Board}: screen {ConnectionId} fell {Behind} messages behind; closing it so it catches up by seq when it reconnects",
            _board, _connection.ConnectionId, behind);
        Cancel();
        _connection.Abort();
    }

    private void Failed(Exception ex)
    {
        // A write cancelled because the connection ended is the normal way out; anything else ends the connection too.
        lock (_queue)
        {
            _closed = true;
            _writing = false;
            _queue.Clear();
        }

        if (ex is not OperationCanceledException)
        {
            _logger.LogWarning(ex, "Board {Board}: writing to screen {ConnectionId} failed; closing it", _board, _connection.ConnectionId);
            _connection.Abort();
        }
    }

    private void Close()
    {
        lock (_queue)
        {
            _closed = true;
            _queue.Clear();
        }

        Cancel();
    }

    private void Cancel()
    {
        try
        {
            _cut.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Whether the screen left the clinic's board on this host (<see cref="Dispose"/>).</summary>
    public bool IsRemoved => Volatile.Read(ref _removed);

    private bool _removed;

    /// <summary>The screen left the clinic's board on this host: stop writing to it.</summary>
    public void Dispose()
    {
        _aborted.Dispose();
        lock (_queue)
        {
            _closed = true;
            _queue.Clear();
        }

        Volatile.Write(ref _removed, true);
    }
}
