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

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        PostgresListener.RunAsync(
            db,
            AccessRevocation.Channel,
            "every host listens to the revocations of all tenants",
            payload =>
            {
                if (AccessRevocation.Parse(payload) is { } r)
                {
                    revoked.Apply([r]);
                }
            },
            logger,
            stoppingToken,
            // After every LISTEN (nothing falls between) and every RevocationResync as the backstop.
            catchUp: async ct =>
            {
                await CatchUpAsync(ct);
                revoked.Prune();
            },
            resyncEvery: () => options.Value.RevocationResync,
            time: time);

    private async Task CatchUpAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenUnscopedConnectionAsync("the deny list holds the revocations of all tenants", ct);
        revoked.Apply(await AccessRevocationStore.SinceAsync(conn, time.GetUtcNow() - revoked.Horizon, ct));
        revoked.MarkCaughtUp();
    }
}
