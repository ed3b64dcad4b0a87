using Microsoft.Extensions.Logging;
using Npgsql;

namespace MedSpa.Silo.Data;

/// <summary>
/// Holds a PostgreSQL <c>LISTEN</c> open on one channel until stopped, for the hosts' NOTIFY-driven services (access
/// revocations, staff notifications). Why one helper: each of them must get the same awkward details right — reconnect
/// with a capped backoff when the connection drops (PostgreSQL restarting), run their catch-up read right after each
/// <c>LISTEN</c> so that nothing falls between "was not listening" and "listens again", and hand the connection back to
/// a pool that does not reset connections listening to nothing.
/// </summary>
public static class PostgresListener
{
    private static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan LongestRetry = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Listens on <paramref name="channel"/> until <paramref name="ct"/> is cancelled. <paramref name="onPayload"/> runs on
    /// the listening connection's thread for each notification: it must only record or queue. <paramref name="catchUp"/>,
    /// when given, runs after every (re)established <c>LISTEN</c> and then every <paramref name="resyncEvery"/> (when
    /// given) as a backstop, on its own deadline — a busy channel does not postpone it.
    /// </summary>
    public static async Task RunAsync(
        NpgsqlDataSource db,
        string channel,
        string why,
        Action<string> onPayload,
        ILogger logger,
        CancellationToken ct,
        Func<CancellationToken, Task>? catchUp = null,
        Func<TimeSpan>? resyncEvery = null,
        TimeProvider? time = null)
    {
        time ??= TimeProvider.System;
        var retry = FirstRetry;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await ListenAsync(db, channel, why, onPayload, catchUp, resyncEvery, time, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                // The message only: a connection failure's stack says nothing new, and the log must stay readable
                // through a database restart.
                logger.LogWarning("The listener on {Channel} lost its PostgreSQL connection ({Error}); reconnecting in {Delay}", channel, e.Message, retry);
                try
                {
                    await Task.Delay(retry, time, ct);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                retry = TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, LongestRetry.Ticks));
            }
        }
    }

    private static async Task ListenAsync(
        NpgsqlDataSource db,
        string channel,
        string why,
        Action<string> onPayload,
        Func<CancellationToken, Task>? catchUp,
        Func<TimeSpan>? resyncEvery,
        TimeProvider time,
        CancellationToken ct)
    {
        await using var conn = await db.OpenUnscopedConnectionAsync(why, ct);
        conn.Notification += (_, e) => onPayload(e.Payload);
        await using (var listen = new NpgsqlCommand($"LISTEN {channel}", conn))
        {
            await listen.ExecuteNonQueryAsync(ct);
        }

        try
        {
            if (catchUp is not null) await catchUp(ct);
            var period = catchUp is null ? null : resyncEvery?.Invoke();
            var nextResync = period is { } p ? time.GetUtcNow() + p : DateTimeOffset.MaxValue;
            while (!ct.IsCancellationRequested)
            {
                // Notifications are raised from inside WaitAsync.
                if (period is null)
                {
                    await conn.WaitAsync(ct);
                    continue;
                }

                var wait = nextResync - time.GetUtcNow();
                if (wait <= TimeSpan.Zero || !await conn.WaitAsync(wait, ct))
                {
                    await catchUp!(ct);
                    nextResync = time.GetUtcNow() + period.Value;
                }
            }
        }
        finally
        {
            // The connection goes back to a pool that does not reset connections: leave it listening to nothing.
            if (conn.State == System.Data.ConnectionState.Open)
            {
                try
                {
                    await using var unlisten = new NpgsqlCommand("UNLISTEN *", conn);
                    await unlisten.ExecuteNonQueryAsync(CancellationToken.None);
                }
                catch (NpgsqlException)
                {
                    // A broken connection is not returned to the pool; nothing is left listening.
                }
            }
        }
    }
}
