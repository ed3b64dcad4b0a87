using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Api.Features.Auth;

/// <summary>
/// Keeps this host's <see cref="RevokedAccessList"/> current. Why PostgreSQL LISTEN/NOTIFY and not an Orleans grain
/// fanning out to per-host observers: the notification is part of the revoking transaction (sent if and only if it
/// commits, so there is no window between "stored" and "announced" for a crash to fall into), it reaches every api
/// host the same way whether it co-hosts a silo or is a cluster client, and it needs no grain activation, lease or
/// re-subscription of its own. Its weak spot — a host that is not listening (starting, restarting, connection lost)
/// misses notifications — is covered by re-reading every revocation that can still matter (younger than an access
/// token's lifetime, a few rows): before the host serves its first request, on every reconnect right after LISTEN
/// (so nothing falls between), and every <see cref="AuthOptions.RevocationResync"/> as a backstop.
/// </summary>
public sealed class AccessRevocationListener(
    NpgsqlDataSource db,
    RevokedAccessList revoked,
    Microsoft.Extensions.Options.IOptions<AuthOptions> options,
    TimeProvider time,
    ILogger<AccessRevocationListener> logger) : BackgroundService
{
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // Hosted services start before the server accepts requests: a restarted host knows every live revocation
        // before it authenticates anyone. When PostgreSQL is unreachable the host still starts (liveness stays up,
        // readiness says 503), but it accepts no token until the listener has read the revocations (fail closed).
        try
        {
            await CatchUpAsync(cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
        {
            logger.LogWarning("Revocations could not be read at start-up ({Error}); access tokens are refused until they are", e.Message);
        }

        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var retry = TimeSpan.FromMilliseconds(250);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await ListenAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                logger.LogWarning("Revocation listener lost its PostgreSQL connection ({Error}); reconnecting in {Delay}", e.Message, retry);
                try
                {
                    await Task.Delay(retry, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                retry = TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
            }
        }
    }

    private async Task ListenAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenUnscopedConnectionAsync("every host listens to the revocations of all tenants", ct);
        conn.Notification += (_, e) =>
        {
            if (AccessRevocation.Parse(e.Payload) is { } r)
            {
                revoked.Apply([r]);
            }
        };
        await using (var listen = new NpgsqlCommand($"LISTEN {AccessRevocation.Channel}", conn))
        {
            await listen.ExecuteNonQueryAsync(ct);
        }

        try
        {
            await CatchUpAsync(ct);
            var period = options.Value.RevocationResync;
            var nextResync = time.GetUtcNow() + period;
            while (!ct.IsCancellationRequested)
            {
                // Notifications are raised from inside WaitAsync. The backstop re-read runs on its own deadline, not
                // only after a quiet period: a busy host (a notification every few seconds) would otherwise never
                // re-read, and a revocation whose notification it missed would stay unknown.
                var wait = nextResync - time.GetUtcNow();
                if (wait <= TimeSpan.Zero || !await conn.WaitAsync(wait, ct))
                {
                    await CatchUpAsync(ct);
                    revoked.Prune();
                    nextResync = time.GetUtcNow() + period;
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

    private async Task CatchUpAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenUnscopedConnectionAsync("the deny list holds the revocations of all tenants", ct);
        revoked.Apply(await AccessRevocationStore.SinceAsync(conn, time.GetUtcNow() - revoked.Horizon, ct));
        revoked.MarkCaughtUp();
    }
}
