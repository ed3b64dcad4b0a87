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

    /// <summary>One lookup's place in the count, taken before its code is checked. <see cref="BlockedUntil"/>: the
    /// caller must wait (nothing was counted). <see cref="Starts"/>: per scope, whether this attempt, if wrong, is the
    /// one that reaches the limit (the block's audit event).</summary>
    public sealed record Attempt(DateTimeOffset? BlockedUntil, (string Scope, byte[] Key)[] Scopes, DateTimeOffset At, bool[] Starts);

    /// <summary>
    /// Takes a place in both scopes' counts before the code is checked, or answers until when the caller must wait.
    /// Check and count are one step under a per-scope lock: concurrent guessers can never have more codes checked than
    /// the limit (they could when the count was only taken after a wrong answer).
    /// </summary>
    public async Task<Attempt> BeginAsync(CurrentUser user, string? address, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        now = now.AddTicks(-(now.Ticks % 10)); // PostgreSQL keeps microseconds: the row is found again by this instant
        var scopes = Scopes(user, address);
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        foreach (var (_, key) in scopes)
        {
            await conn.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(@id)", new { id = BitConverter.ToInt64(key, 0) }, tx,
                cancellationToken: ct));
        }

        if (await BlockedUntilAsync(conn, tx, user, scopes, now, ct) is { } blocked)
        {
            await tx.CommitAsync(ct);
            return new Attempt(blocked, scopes, now, new bool[scopes.Length]);
        }

        var starts = new bool[scopes.Length];
        for (var i = 0; i < scopes.Length; i++)
        {
            var (scope, key) = scopes[i];
            var before = await conn.ExecuteScalarAsync<int>(new CommandDefinition(
                """
                DELETE FROM gift_card_lookup_failures WHERE tenant_id = @TenantId AND scope = @scope AND key = @key AND failed_at <= @windowStart;
                INSERT INTO gift_card_lookup_failures (tenant_id, scope, key, failed_at) VALUES (@TenantId, @scope, @key, @now);
                SELECT count(*)::int - 1 FROM gift_card_lookup_failures
                WHERE tenant_id = @TenantId AND scope = @scope AND key = @key AND failed_at > @windowStart;
                """,
                new { user.TenantId, scope, key, now, windowStart = now - O.Window }, tx, cancellationToken: ct));
            starts[i] = before == O.MaxFailures - 1;
        }

        await tx.CommitAsync(ct);
        return new Attempt(null, scopes, now, starts);
    }

    /// <summary>The code was wrong: the attempt stays counted; if it is the one that reached the limit, the block
    /// starts here and is recorded once (audit event and a log line, without any code).</summary>
    public async Task FailedAsync(CurrentUser user, Attempt attempt, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        if (!attempt.Starts.Any(s => s))
        {
            return;
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        for (var i = 0; i < attempt.Scopes.Length; i++)
        {
            if (!attempt.Starts[i])
            {
                continue;
            }

            var (scope, key) = attempt.Scopes[i];
            var until = await UntilAsync(conn, null, user, scope, key, attempt.At, ct) ?? attempt.At + O.Window;
            await conn.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO gift_card_security_events (tenant_id, id, kind, scope, user_id, address_hash, failures, blocked_until, occurred_at)
                VALUES (@TenantId, @id, 'lookup-throttled', @scope, @UserId, @addressHash, @count, @until, @now)
                """,
                new
                {
                    user.TenantId, id = Guid.NewGuid(), scope, user.UserId, addressHash = scope == "address" ? key : null, count = O.MaxFailures,
                    until, now = attempt.At,
                },
                cancellationToken: ct));
            logger.LogWarning("Gift card lookups throttled ({Scope}) for user {UserId} of tenant {TenantId} after {Failures} wrong codes, until {Until}",
                scope, user.UserId, user.TenantId, O.MaxFailures, until);
        }
    }

    /// <summary>The code was right: its place in the count is given back (a right code is not a wrong one; it does
    /// not reset the others either, or one real card would launder unlimited guesses).</summary>
    public async Task SucceededAsync(CurrentUser user, Attempt attempt, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        foreach (var (scope, key) in attempt.Scopes)
        {
            await conn.ExecuteAsync(new CommandDefinition(
                """
                DELETE FROM gift_card_lookup_failures WHERE ctid IN (
                    SELECT ctid FROM gift_card_lookup_failures
                    WHERE tenant_id = @TenantId AND scope = @scope AND key = @key AND failed_at = @at LIMIT 1)
                """,
                new { user.TenantId, scope, key, at = attempt.At }, cancellationToken: ct));
        }
    }

    private async Task<DateTimeOffset?> BlockedUntilAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, CurrentUser user,
        (string Scope, byte[] Key)[] scopes, DateTimeOffset now, CancellationToken ct)
    {
        DateTimeOffset? blocked = null;
        foreach (var (scope, key) in scopes)
        {
            if (await UntilAsync(conn, tx, user, scope, key, now, ct) is { } until && until > now)
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

    /// <summary>The counts an attempt joins: the signed-in caller's and the client address's. A holder of a redemption
    /// link has no account (user id empty) and is counted by address only: one shared count for every anonymous holder
    /// would let anyone lock every holder of the organisation out with ten wrong codes, and guessing a code of 60 random
    /// bits is not helped by spreading guesses over addresses at ten per address per window.</summary>
    private static (string Scope, byte[] Key)[] Scopes(CurrentUser user, string? address)
    {
        var byAddress = ("address", SHA256.HashData(Encoding.UTF8.GetBytes($"gift-card-lookup|address|{user.TenantId:N}|{address ?? "unknown"}")));
        return user.UserId == Guid.Empty
            ? [byAddress]
            : [("caller", SHA256.HashData(Encoding.UTF8.GetBytes($"gift-card-lookup|caller|{user.TenantId:N}|{user.UserId:N}"))), byAddress];
    }
}
