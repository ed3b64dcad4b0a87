using System.Security.Cryptography;
using System.Text;
using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Api.Features.GiftCards;

/// <summary>Settings under <c>GiftCards:Lookup:</c>.</summary>
public sealed class GiftCardLookupOptions
{
    public const string Section = "GiftCards:Lookup";

    /// <summary>Wrong codes allowed per caller, and per client address, within <see cref="Window"/>.</summary>
    public int MaxFailures { get; set; } = 10;

    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(10);
}

/// <summary>
/// The guessing limit of gift card codes: each wrong code (unknown, or not even code-shaped) counts against the caller
/// and against the client address, in PostgreSQL so every API node sees the same count (rows in
/// <c>gift_card_lookup_failures</c>, subjects as SHA-256 only). Once either scope has <see cref="GiftCardLookupOptions.MaxFailures"/>
/// failures inside the window, lookups answer 429 <c>too_many_attempts</c> with Retry-After until the oldest of them
/// leaves the window; the block is recorded once in <c>gift_card_security_events</c> and logged (without any code).
/// A right code does not reset the count: otherwise one real card would launder unlimited guesses.
/// </summary>
public sealed class GiftCardLookupThrottle(NpgsqlDataSource db, Microsoft.Extensions.Options.IOptions<GiftCardLookupOptions> options, TimeProvider time,
    ILogger<GiftCardLookupThrottle> logger)
{
    private GiftCardLookupOptions O => options.Value;

    /// <summary>Until when the caller must wait, or null.</summary>
    public async Task<DateTimeOffset?> BlockedUntilAsync(CurrentUser user, string? address, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        return await BlockedUntilAsync(conn, user, Scopes(user, address), time.GetUtcNow(), ct);
    }

    /// <summary>Counts a wrong code in both scopes; answers until when the next lookup must wait, if it must.</summary>
    public async Task<DateTimeOffset?> RecordFailureAsync(CurrentUser user, string? address, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var scopes = Scopes(user, address);
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        foreach (var (scope, key) in scopes)
        {
            await conn.ExecuteAsync(new CommandDefinition(
                """
                DELETE FROM gift_card_lookup_failures WHERE tenant_id = @TenantId AND scope = @scope AND key = @key AND failed_at <= @windowStart;
                INSERT INTO gift_card_lookup_failures (tenant_id, scope, key, failed_at) VALUES (@TenantId, @scope, @key, @now);
                """,
                new { user.TenantId, scope, key, now, windowStart = now - O.Window }, tx, cancellationToken: ct));
        }

        DateTimeOffset? blocked = null;
        foreach (var (scope, key) in scopes)
        {
            var count = await conn.ExecuteScalarAsync<int>(new CommandDefinition(
                "SELECT count(*) FROM gift_card_lookup_failures WHERE tenant_id = @TenantId AND scope = @scope AND key = @key AND failed_at > @windowStart",
                new { user.TenantId, scope, key, windowStart = now - O.Window }, tx, cancellationToken: ct));
            if (count < O.MaxFailures)
            {
                continue;
            }

            var until = await UntilAsync(conn, tx, user, scope, key, now, ct);
            blocked = blocked is { } b && b > until ? b : until;
            if (count == O.MaxFailures)
            {
                // The failure that starts a block is the audit event (later refusals only extend it).
                await conn.ExecuteAsync(new CommandDefinition(
                    """
                    INSERT INTO gift_card_security_events (tenant_id, id, kind, scope, user_id, address_hash, failures, blocked_until, occurred_at)
                    VALUES (@TenantId, @id, 'lookup-throttled', @scope, @UserId, @addressHash, @count, @until, @now)
                    """,
                    new { user.TenantId, id = Guid.NewGuid(), scope, user.UserId, addressHash = scope == "address" ? key : null, count, until, now },
                    tx, cancellationToken: ct));
                logger.LogWarning("Gift card lookups throttled ({Scope}) for user {UserId} of tenant {TenantId} after {Failures} wrong codes, until {Until}",
                    scope, user.UserId, user.TenantId, count, until);
            }
        }

        await tx.CommitAsync(ct);
        return blocked;
    }

    private async Task<DateTimeOffset?> BlockedUntilAsync(NpgsqlConnection conn, CurrentUser user, (string Scope, byte[] Key)[] scopes, DateTimeOffset now,
        CancellationToken ct)
    {
        DateTimeOffset? blocked = null;
        foreach (var (scope, key) in scopes)
        {
            if (await UntilAsync(conn, null, user, scope, key, now, ct) is { } until && until > now)
            {
                blocked = blocked is { } b && b > until ? b : until;
            }
        }

        return blocked;
    }

    /// <summary>When the scope's count falls below the limit again: the limit-th most recent failure leaves the window.</summary>
    private async Task<DateTimeOffset?> UntilAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, CurrentUser user, string scope, byte[] key,
        DateTimeOffset now, CancellationToken ct)
    {
        var at = await conn.ExecuteScalarAsync<DateTime?>(new CommandDefinition(
            """
            SELECT failed_at FROM gift_card_lookup_failures
            WHERE tenant_id = @TenantId AND scope = @scope AND key = @key AND failed_at > @windowStart
            ORDER BY failed_at DESC OFFSET @offset LIMIT 1
            """,
            new { user.TenantId, scope, key, windowStart = now - O.Window, offset = O.MaxFailures - 1 }, tx, cancellationToken: ct));
        return at is { } t ? new DateTimeOffset(DateTime.SpecifyKind(t, DateTimeKind.Utc)) + O.Window : null;
    }

    private static (string Scope, byte[] Key)[] Scopes(CurrentUser user, string? address) =>
    [
        ("caller", SHA256.HashData(Encoding.UTF8.GetBytes($"gift-card-lookup|caller|{user.TenantId:N}|{user.UserId:N}"))),
        ("address", SHA256.HashData(Encoding.UTF8.GetBytes($"gift-card-lookup|address|{user.TenantId:N}|{address ?? "unknown"}"))),
    ];
}
