using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.Silo.Data;
using Microsoft.Extensions.Options;
using Npgsql;

namespace MedSpa.Api.Features.Auth;

/// <summary>Where a sign-in or refresh comes from, recorded on the session.</summary>
public sealed record ClientContext(string? UserAgent, string? Ip)
{
    public static ClientContext From(HttpContext http) => new(
        http.Request.Headers.UserAgent.ToString() is { Length: > 0 } ua ? Truncate(ua, 512) : null,
        http.Connection.RemoteIpAddress?.ToString());

    internal static string? Truncate(string? value, int max) =>
        string.IsNullOrEmpty(value) ? null : value.Length <= max ? value : value[..max];
}

/// <summary>
/// Sessions (one per sign-in on a device) and their rotating refresh tokens. A refresh token is 32 random bytes,
/// given to the client once and stored only as its SHA-256. Each refresh uses the presented token up and issues the
/// next one; a token presented a second time means two parties hold it, so the session and every token it ever had
/// (its family) are revoked.
/// </summary>
public sealed class SessionService(
    NpgsqlDataSource db,
    AccessTokenIssuer issuer,
    IOptions<AuthOptions> options,
    TimeProvider time,
    RevokedAccessList revokedAccess,
    ILogger<SessionService> logger)
{
    public async Task<TokenResponse> StartAsync(UserAccount user, DeviceInfo? device, ClientContext client, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var sessionId = Guid.NewGuid();
        var (refreshToken, refreshHash) = NewRefreshToken();
        var refreshExpires = now + options.Value.RefreshTokenLifetime;

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO sessions (tenant_id, id, user_id, device_id, device_name, user_agent, fingerprint_hash, ip,
                                  created_at, last_seen_at, expires_at)
            VALUES (@TenantId, @sessionId, @Id, @deviceId, @deviceName, @userAgent, @fingerprintHash, @ip, @now, @now, @refreshExpires)
            """,
            new
            {
                user.TenantId,
                user.Id,
                sessionId,
                deviceId = ClientContext.Truncate(device?.Id, 200),
                deviceName = ClientContext.Truncate(device?.Name, 200),
                userAgent = client.UserAgent,
                fingerprintHash = string.IsNullOrEmpty(device?.Fingerprint) ? null : Sha256Hex(device.Fingerprint),
                ip = ClientContext.Truncate(client.Ip, 64),
                now,
                refreshExpires,
            },
            tx, cancellationToken: ct));
        await InsertRefreshTokenAsync(conn, tx, user.TenantId, sessionId, refreshHash, now, refreshExpires, ct);
        await tx.CommitAsync(ct);

        return Tokens(user, sessionId, refreshToken, refreshExpires);
    }

    /// <summary>Exchanges a refresh token for a new pair, or null when it must not be honoured.</summary>
    public async Task<TokenResponse?> RefreshAsync(string refreshToken, ClientContext client, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var hash = HashRefreshToken(refreshToken);

        await using var conn = await db.OpenUnscopedConnectionAsync("refresh token looked up by its hash: no tenant yet", ct);
        await using var tx = await conn.BeginTransactionAsync(ct);

        // Looked up by hash alone: the token is the only thing the caller has (no tenant yet).
        var owner = await conn.QuerySingleOrDefaultAsync<TokenOwner>(new CommandDefinition(
            "SELECT tenant_id, session_id, used_at FROM refresh_tokens WHERE token_hash = @hash",
            new { hash }, tx, cancellationToken: ct));
        if (owner is null)
        {
            return null;
        }

        await conn.ScopeToTenantAsync(tx, owner.TenantId, ct);

        // Every transaction on a session's token family locks the session row first (refresh, reuse revocation,
        // logout, revoke-all). One lock order means concurrent refreshes and revocations queue instead of deadlocking.
        var session = await conn.QuerySingleOrDefaultAsync<SessionRow>(new CommandDefinition(
            "SELECT user_id, revoked_at FROM sessions WHERE tenant_id = @TenantId AND id = @SessionId FOR UPDATE",
            owner, tx, cancellationToken: ct));

        // The conditional UPDATE is the race guard: of two concurrent refreshes with one token, the second waits on
        // the session lock, then finds used_at set, matches nothing, and is handled below as a reuse.
        var claimed = await conn.QuerySingleOrDefaultAsync<TokenOwner>(new CommandDefinition(
            """
            UPDATE refresh_tokens SET used_at = @now
            WHERE token_hash = @hash AND used_at IS NULL AND revoked_at IS NULL AND expires_at > @now
            RETURNING tenant_id, session_id
            """,
            new { hash, now }, tx, cancellationToken: ct));
        if (claimed is null)
        {
            var usedAt = await conn.ExecuteScalarAsync<DateTime?>(new CommandDefinition(
                "SELECT used_at FROM refresh_tokens WHERE token_hash = @hash",
                new { hash }, tx, cancellationToken: ct));
            if (usedAt is not null)
            {
                var revoked = await RevokeCoreAsync(conn, tx, owner.TenantId, owner.SessionId, "refresh-token-reuse", now, ct);
                await tx.CommitAsync(ct);
                revokedAccess.Apply(revoked);
                if (revoked.Count > 0)
                {
                    logger.LogWarning("Refresh token reused: session {SessionId} of tenant {TenantId} revoked", owner.SessionId, owner.TenantId);
                }
            }

            return null;
        }

        if (session is null || session.RevokedAt is not null)
        {
            await tx.CommitAsync(ct);
            return null;
        }

        var user = await UserAccounts.GetAsync(conn, tx, claimed.TenantId, session.UserId, ct);
        if (user is null || !user.IsActive)
        {
            var revoked = await RevokeCoreAsync(conn, tx, claimed.TenantId, claimed.SessionId, "user-inactive", now, ct);
            await tx.CommitAsync(ct);
            revokedAccess.Apply(revoked);
            return null;
        }

        var (nextToken, nextHash) = NewRefreshToken();
        var expires = now + options.Value.RefreshTokenLifetime;
        await InsertRefreshTokenAsync(conn, tx, claimed.TenantId, claimed.SessionId, nextHash, now, expires, ct);
        await conn.ExecuteAsync(new CommandDefinition(
            "UPDATE sessions SET last_seen_at = @now, expires_at = @expires, ip = COALESCE(@ip, ip) WHERE tenant_id = @TenantId AND id = @SessionId",
            new { claimed.TenantId, claimed.SessionId, now, expires, ip = ClientContext.Truncate(client.Ip, 64) }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);

        return Tokens(user, claimed.SessionId, nextToken, expires);
    }

    /// <summary>Revokes one of the user's sessions. False when the user has no such session (someone else's included).</summary>
    public async Task<bool> RevokeAsync(Guid tenantId, Guid userId, Guid sessionId, string reason, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var owned = await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM sessions WHERE tenant_id = @tenantId AND id = @sessionId AND user_id = @userId)",
            new { tenantId, userId, sessionId }, tx, cancellationToken: ct));
        if (!owned)
        {
            return false;
        }

        var revoked = await RevokeCoreAsync(conn, tx, tenantId, sessionId, reason, time.GetUtcNow(), ct);
        await tx.CommitAsync(ct);
        // This host refuses the token from the next request on; the others as soon as the notification arrives.
        revokedAccess.Apply(revoked);
        return true;
    }

    /// <summary>
    /// Revokes every live session of a user, except <paramref name="keepSessionId"/>, and their access tokens.
    /// Returns the revocations for <see cref="RevokedAccessList.Apply"/> once the transaction has committed.
    /// </summary>
    public static async Task<IReadOnlyList<AccessRevocation>> RevokeAllAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, Guid tenantId, Guid userId, Guid? keepSessionId, string reason, DateTimeOffset now,
        CancellationToken ct)
    {
        var sessions = (await conn.QueryAsync<Guid>(new CommandDefinition(
            """
            UPDATE sessions SET revoked_at = @now, revoked_reason = @reason
            WHERE tenant_id = @tenantId AND user_id = @userId AND revoked_at IS NULL AND id IS DISTINCT FROM @keepSessionId
            RETURNING id
            """,
            new { tenantId, userId, keepSessionId, reason, now }, tx, cancellationToken: ct))).AsList();
        await conn.ExecuteAsync(new CommandDefinition(
            """
            UPDATE refresh_tokens t SET revoked_at = @now
            FROM sessions s
            WHERE s.tenant_id = @tenantId AND s.user_id = @userId AND s.revoked_at IS NOT NULL
              AND t.tenant_id = s.tenant_id AND t.session_id = s.id AND t.revoked_at IS NULL
            """,
            new { tenantId, userId, now }, tx, cancellationToken: ct));
        return await AccessRevocationStore.RevokeSessionsAsync(conn, tx, tenantId, sessions, reason, now, ct);
    }

    public async Task<Paged<SessionResponse>> ListAsync(Guid tenantId, Guid userId, Guid? currentSessionId, PageRequest paging, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        return await conn.QueryPageAsync(
            paging, "sessions",
            "id, user_id, device_id, device_name, user_agent, ip, created_at, last_seen_at, expires_at, revoked_at",
            "WHERE tenant_id = @tenantId AND user_id = @userId AND revoked_at IS NULL AND expires_at > @now",
            "last_seen_at DESC, id",
            new { tenantId, userId, now = time.GetUtcNow(), paging.PageSize, paging.Offset },
            (SessionRow r) => new SessionResponse(
                r.Id, r.DeviceId, r.DeviceName, r.UserAgent, r.Ip,
                UserAccount.AsUtc(r.CreatedAt), UserAccount.AsUtc(r.LastSeenAt), UserAccount.AsUtc(r.ExpiresAt),
                r.Id == currentSessionId),
            ct);
    }

    public static byte[] HashRefreshToken(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    private static (string Token, byte[] Hash) NewRefreshToken()
    {
        var token = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        return (token, HashRefreshToken(token));
    }

    private static string Sha256Hex(string value) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value)));

    private TokenResponse Tokens(UserAccount user, Guid sessionId, string refreshToken, DateTimeOffset refreshExpires)
    {
        var (accessToken, accessExpires) = issuer.Issue(user.ToSubject(sessionId));
        return new TokenResponse(accessToken, accessExpires, refreshToken, refreshExpires, sessionId, user.ToResponse());
    }

    private static Task<int> InsertRefreshTokenAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, Guid tenantId, Guid sessionId, byte[] hash, DateTimeOffset now, DateTimeOffset expires,
        CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition(
            "INSERT INTO refresh_tokens (token_hash, tenant_id, session_id, created_at, expires_at) VALUES (@hash, @tenantId, @sessionId, @now, "
            + "@expires)",
            new { hash, tenantId, sessionId, now, expires }, tx, cancellationToken: ct));

    /// <summary>Revokes a session, its whole token family and its access tokens. Empty if it was revoked already.</summary>
    private static async Task<IReadOnlyList<AccessRevocation>> RevokeCoreAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, Guid tenantId, Guid sessionId, string reason, DateTimeOffset now, CancellationToken ct)
    {
        var revoked = await conn.ExecuteAsync(new CommandDefinition(
            "UPDATE sessions SET revoked_at = @now, revoked_reason = @reason WHERE tenant_id = @tenantId AND id = @sessionId AND revoked_at IS NULL",
            new { tenantId, sessionId, reason, now }, tx, cancellationToken: ct));
        await conn.ExecuteAsync(new CommandDefinition(
            "UPDATE refresh_tokens SET revoked_at = @now WHERE tenant_id = @tenantId AND session_id = @sessionId AND revoked_at IS NULL",
            new { tenantId, sessionId, now }, tx, cancellationToken: ct));
        return revoked > 0
            ? await AccessRevocationStore.RevokeSessionsAsync(conn, tx, tenantId, [sessionId], reason, now, ct)
            : [];
    }

    private sealed class TokenOwner
    {
        public Guid TenantId { get; set; }
        public Guid SessionId { get; set; }
        public DateTime? UsedAt { get; set; }
    }

    private sealed class SessionRow
    {
        public Guid Id { get; set; }
        public Guid UserId { get; set; }
        public string? DeviceId { get; set; }
        public string? DeviceName { get; set; }
        public string? UserAgent { get; set; }
        public string? Ip { get; set; }
        public DateTime CreatedAt { get; set; }
        public DateTime LastSeenAt { get; set; }
        public DateTime ExpiresAt { get; set; }
        public DateTime? RevokedAt { get; set; }
    }
}
