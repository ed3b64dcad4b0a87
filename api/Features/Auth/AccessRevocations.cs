using System.Collections.Concurrent;
using System.Globalization;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;

namespace MedSpa.Api.Features.Auth;

/// <summary>
/// One revocation: every access token of a session (<see cref="SessionId"/>; a display link's tokens carry the link id
/// as their session), or every token of a user whose epoch is below <see cref="MinTokenEpoch"/>.
/// </summary>
public sealed record AccessRevocation(Guid TenantId, Guid? SessionId, Guid? UserId, int? MinTokenEpoch, DateTimeOffset RevokedAt)
{
    public const string Channel = "medspa_access_revoked";

    /// <summary>The NOTIFY payload is <c>s|tenant|session|unix-ms</c> or <c>u|tenant|user|epoch|unix-ms</c>.</summary>
    public static AccessRevocation? Parse(string payload)
    {
        var p = payload.Split('|');
        if (p.Length == 4 && p[0] == "s" && Guid.TryParse(p[1], out var t) && Guid.TryParse(p[2], out var s)
            && long.TryParse(p[3], NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms))
        {
            return new AccessRevocation(t, s, null, null, DateTimeOffset.FromUnixTimeMilliseconds(ms));
        }

        if (p.Length == 5 && p[0] == "u" && Guid.TryParse(p[1], out t) && Guid.TryParse(p[2], out var u)
            && int.TryParse(p[3], NumberStyles.Integer, CultureInfo.InvariantCulture, out var epoch)
            && long.TryParse(p[4], NumberStyles.Integer, CultureInfo.InvariantCulture, out ms))
        {
            return new AccessRevocation(t, null, u, epoch, DateTimeOffset.FromUnixTimeMilliseconds(ms));
        }

        return null;
    }
}

/// <summary>
/// SQL behind revocations. Every write happens inside the caller's transaction, together with the change that causes
/// it, and NOTIFYs <see cref="AccessRevocation.Channel"/>: PostgreSQL delivers a notification only if that transaction
/// commits, so a host never drops a token whose revocation was rolled back, and never misses one that committed while
/// it was listening.
/// </summary>
public static class AccessRevocationStore
{
    private const string Notify =
        """
        SELECT count(pg_notify('medspa_access_revoked',
            CASE WHEN session_id IS NOT NULL
                 THEN concat_ws('|', 's', tenant_id, session_id, (extract(epoch FROM revoked_at) * 1000)::bigint)
                 ELSE concat_ws('|', 'u', tenant_id, user_id, min_token_epoch, (extract(epoch FROM revoked_at) * 1000)::bigint) END))
        FROM added
        """;

    /// <summary>Revokes every token of the given sessions.</summary>
    public static async Task<IReadOnlyList<AccessRevocation>> RevokeSessionsAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, Guid tenantId, IReadOnlyCollection<Guid> sessionIds, string reason, DateTimeOffset now,
        CancellationToken ct)
    {
        if (sessionIds.Count == 0)
        {
            return [];
        }

        await conn.ExecuteAsync(new CommandDefinition(
            $"""
            WITH added AS (
                INSERT INTO access_revocations (tenant_id, session_id, revoked_at, reason)
                SELECT @tenantId, s, @now, @reason FROM unnest(@ids) AS s
                RETURNING tenant_id, session_id, user_id, min_token_epoch, revoked_at)
            {Notify}
            """,
            new { tenantId, ids = sessionIds.Distinct().ToArray(), now, reason }, tx, cancellationToken: ct));
        return [.. sessionIds.Distinct().Select(s => new AccessRevocation(tenantId, s, null, null, now))];
    }

    /// <summary>
    /// Bumps the user's token epoch, so every access token issued so far is refused, while a refresh (which reads the
    /// user again) issues one that carries the new role, clinics or nothing at all (an inactive user cannot refresh).
    /// </summary>
    public static async Task<AccessRevocation?> RevokeUserTokensAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, Guid tenantId, Guid userId, string reason, DateTimeOffset now, CancellationToken ct)
    {
        var epoch = await conn.ExecuteScalarAsync<int?>(new CommandDefinition(
            $"""
            WITH bumped AS (
                UPDATE users SET token_epoch = token_epoch + 1 WHERE tenant_id = @tenantId AND id = @userId
                RETURNING tenant_id, id, token_epoch),
            added AS (
                INSERT INTO access_revocations (tenant_id, user_id, min_token_epoch, revoked_at, reason)
                SELECT tenant_id, id, token_epoch, @now, @reason FROM bumped
                RETURNING tenant_id, session_id, user_id, min_token_epoch, revoked_at),
            notified AS ({Notify})
            SELECT min_token_epoch FROM added, notified
            """,
            new { tenantId, userId, now, reason }, tx, cancellationToken: ct));
        return epoch is { } e ? new AccessRevocation(tenantId, null, userId, e, now) : null;
    }

    /// <summary>Every revocation since <paramref name="since"/>: what a host that may have missed some must know.</summary>
    public static async Task<IReadOnlyList<AccessRevocation>> SinceAsync(NpgsqlConnection conn, DateTimeOffset since, CancellationToken ct)
    {
        // Spans every tenant by design: the deny list is the host's, not a tenant's.
        var rows = await conn.QueryAsync<(Guid TenantId, Guid? SessionId, Guid? UserId, int? MinTokenEpoch, DateTime RevokedAt)>(
            new CommandDefinition(
            "SELECT tenant_id, session_id, user_id, min_token_epoch, revoked_at FROM access_revocations WHERE revoked_at > @since",
            new { since }, cancellationToken: ct));
        return [.. rows.Select(r => new AccessRevocation(r.TenantId, r.SessionId, r.UserId, r.MinTokenEpoch, UserAccount.AsUtc(r.RevokedAt)))];
    }
}

/// <summary>
/// This host's deny list of access tokens, checked on every authenticated request and hub connection in memory (two
/// dictionary look-ups, no database round trip). It is filled from PostgreSQL notifications and periodic re-reads
/// (<see cref="AccessRevocationListener"/>) and, for revocations made on this host, at once after their commit.
/// An entry is kept only as long as a token it refuses could still be valid: the access token lifetime plus the
/// validation clock skew after the revocation; then every such token has expired anyway.
/// </summary>
public sealed class RevokedAccessList(IOptions<AuthOptions> options, TimeProvider time, RevokedConnections connections)
{
    /// <summary>Room for a token issued by a refresh that raced the revocation, and for the validator's 30 s skew.</summary>
    private static readonly TimeSpan Margin = TimeSpan.FromMinutes(2);

    private readonly ConcurrentDictionary<(Guid Tenant, Guid Session), DateTimeOffset> _sessions = new();
    private readonly ConcurrentDictionary<(Guid Tenant, Guid User), (int MinEpoch, DateTimeOffset Until)> _users = new();

    /// <summary>How far back a host must read revocations to know every one that can still refuse a token.</summary>
    public TimeSpan Horizon => options.Value.AccessTokenLifetime + Margin;

    private volatile bool _caughtUp;

    /// <summary>
    /// False until this host has read the stored revocations once: until then it cannot tell a revoked token from a
    /// good one, so the token check refuses every token (fail closed) rather than trusting them all.
    /// </summary>
    public bool IsCaughtUp => _caughtUp;

    public void MarkCaughtUp() => _caughtUp = true;

    public bool IsRevoked(Guid tenantId, Guid userId, Guid? sessionId, int tokenEpoch) =>
        (sessionId is { } sid && _sessions.ContainsKey((tenantId, sid)))
        || (_users.TryGetValue((tenantId, userId), out var user) && tokenEpoch < user.MinEpoch);

    /// <summary>Adds revocations (repeats are harmless) and closes the hub connections they cover on this host.</summary>
    public void Apply(IEnumerable<AccessRevocation> revocations)
    {
        var added = false;
        foreach (var r in revocations)
        {
            var until = r.RevokedAt + Horizon;
            if (until <= time.GetUtcNow())
            {
                continue;
            }

            if (r.SessionId is { } sid)
            {
                _sessions.AddOrUpdate((r.TenantId, sid), until, (_, old) => old > until ? old : until);
                added = true;
            }
            else if (r.UserId is { } uid && r.MinTokenEpoch is { } epoch)
            {
                _users.AddOrUpdate((r.TenantId, uid), (epoch, until),
                    (_, old) => (Math.Max(old.MinEpoch, epoch), old.Until > until ? old.Until : until));
                added = true;
            }
        }

        if (added)
        {
            connections.CloseRevoked(this);
        }
    }

    /// <summary>Drops entries whose tokens have all expired.</summary>
    public void Prune()
    {
        var now = time.GetUtcNow();
        foreach (var (key, until) in _sessions)
        {
            if (until <= now) _sessions.TryRemove(KeyValuePair.Create(key, until));
        }

        foreach (var (key, entry) in _users)
        {
            if (entry.Until <= now) _users.TryRemove(KeyValuePair.Create(key, entry));
        }
    }

    /// <summary>Entries held (tests and diagnostics).</summary>
    public int Count => _sessions.Count + _users.Count;
}
