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

    /// <summary>How long a lookup waits for the lookups in flight ahead of it when their places fill the count (their
    /// codes may all be right); after that it answers 429 for a few seconds.</summary>
    public TimeSpan PendingWait { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A lookup whose code was never found right or wrong (its server died meanwhile) counts as a wrong code
    /// after this long.</summary>
    public TimeSpan PendingTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// The guessing limit of gift card codes: each wrong code (unknown, or not even code-shaped) counts against the caller
/// and against the client address, in PostgreSQL so every API node sees the same count (rows in
/// <c>gift_card_lookup_failures</c>, subjects as SHA-256 only). Once either scope has <see cref="GiftCardLookupOptions.MaxFailures"/>
/// wrong codes inside the window, lookups answer 429 <c>too_many_attempts</c> with Retry-After until the oldest of them
/// leaves the window; the block is recorded once in <c>gift_card_security_events</c> and logged (without any code).
/// A right code does not reset the count: otherwise one real card would launder unlimited guesses.
/// <para>
/// Each lookup takes a place in both counts before its code is checked, as a pending row of its own: a right code gives
/// it back, a wrong one confirms it. Only confirmed wrong codes block; a lookup that finds the count full (wrong codes
/// and lookups in flight together at the limit) waits for those in flight instead (bounded by
/// <see cref="GiftCardLookupOptions.PendingWait"/>). So never more codes are checked than the limit allows wrong ones,
/// and desks behind one address with right codes in flight are never blocked for the window.
/// </para>
/// </summary>
public sealed class GiftCardLookupThrottle(NpgsqlDataSource db, Microsoft.Extensions.Options.IOptions<GiftCardLookupOptions> options, TimeProvider time,
    ILogger<GiftCardLookupThrottle> logger)
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(20);

    private GiftCardLookupOptions O => options.Value;

    /// <summary>One lookup's place in the counts (its pending rows, <see cref="Id"/>), taken before its code is checked.
    /// <see cref="BlockedUntil"/>: the caller must wait (nothing was counted).</summary>
    public sealed record Attempt(DateTimeOffset? BlockedUntil, (string Scope, byte[] Key)[] Scopes, DateTimeOffset At, Guid Id);

    /// <summary>
    /// Takes a pending place in both scopes' counts before the code is checked, or answers until when the caller must
    /// wait. Check and count are one step under a per-scope lock: concurrent guessers can never have more codes checked
    /// than the limit. When the places are all taken by lookups in flight (not by wrong codes) it waits for them.
    /// </summary>
    public async Task<Attempt> BeginAsync(CurrentUser user, string? address, CancellationToken ct)
    {
        var scopes = Scopes(user, address);
        var id = Guid.NewGuid();
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var now = Now();
            var (blocked, full) = await TryTakeAsync(user, scopes, id, now, ct);
            if (blocked is not null)
            {
                return new Attempt(blocked, scopes, now, id);
            }

            if (full is null)
            {
                return new Attempt(null, scopes, now, id);
            }

            if (waited.Elapsed >= O.PendingWait)
            {
                // Lookups in flight held every place all this while: the caller tries again once the oldest of them
                // counts either way (found, or timed out as wrong).
                return new Attempt(full, scopes, now, id);
            }

            // Polling, not a notification: a lookup in flight takes milliseconds, and only a count at its limit waits.
            await Task.Delay(PollInterval, ct);
        }
    }

    /// <summary>One try under the scopes' locks: blocked (confirmed wrong codes at the limit), or full (wrong codes and
    /// lookups in flight at the limit: until when the oldest in flight would count as wrong), or the place taken.</summary>
    private async Task<(DateTimeOffset? Blocked, DateTimeOffset? Full)> TryTakeAsync(CurrentUser user, (string Scope, byte[] Key)[] scopes, Guid id,
        DateTimeOffset now, CancellationToken ct)
    {
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
            return (blocked, null);
        }

        DateTimeOffset? full = null;
        foreach (var (scope, key) in scopes)
        {
            var (taken, oldestPending) = await conn.QuerySingleAsync<(int, DateTime?)>(new CommandDefinition(
                """
                DELETE FROM gift_card_lookup_failures WHERE tenant_id = @TenantId AND scope = @scope AND key = @key AND failed_at <= @windowStart;
                SELECT count(*)::int, min(failed_at) FILTER (WHERE pending AND failed_at > @staleBefore) FROM gift_card_lookup_failures
                WHERE tenant_id = @TenantId AND scope = @scope AND key = @key AND failed_at > @windowStart;
                """,
                new { user.TenantId, scope, key, windowStart = now - O.Window, staleBefore = now - O.PendingTimeout }, tx, cancellationToken: ct));
            if (taken >= O.MaxFailures)
            {
                var until = (oldestPending is { } p ? new DateTimeOffset(DateTime.SpecifyKind(p, DateTimeKind.Utc)) + O.PendingTimeout : now + PollInterval);
                full = full is { } f && f > until ? f : until;
            }
        }

        if (full is null)
        {
            foreach (var (scope, key) in scopes)
            {
                await conn.ExecuteAsync(new CommandDefinition(
                    """
                    INSERT INTO gift_card_lookup_failures (tenant_id, scope, key, failed_at, attempt_id, pending)
                    VALUES (@TenantId, @scope, @key, @now, @id, true)
                    """,
                    new { user.TenantId, scope, key, now, id }, tx, cancellationToken: ct));
            }
        }

        await tx.CommitAsync(ct);
        return (null, full);
    }

    /// <summary>The code was wrong: the attempt's place is confirmed as a wrong code; if that brings a scope to the
    /// limit, the block starts here and is recorded once (audit event and a log line, without any code).</summary>
    public async Task FailedAsync(CurrentUser user, Attempt attempt, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        var now = Now();
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        foreach (var (_, key) in attempt.Scopes)
        {
            await conn.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(@id)", new { id = BitConverter.ToInt64(key, 0) }, tx,
                cancellationToken: ct));
        }

        await conn.ExecuteAsync(new CommandDefinition(
            "UPDATE gift_card_lookup_failures SET pending = false WHERE tenant_id = @TenantId AND attempt_id = @Id",
            new { user.TenantId, attempt.Id }, tx, cancellationToken: ct));
        foreach (var (scope, key) in attempt.Scopes)
        {
            // Under the scope's lock, each confirmation adds one: exactly one of them is the limit-th.
            var wrong = await conn.ExecuteScalarAsync<int>(new CommandDefinition(
                $"SELECT count(*)::int FROM gift_card_lookup_failures WHERE tenant_id = @TenantId AND scope = @scope AND key = @key AND {Counted}",
                new { user.TenantId, scope, key, windowStart = now - O.Window, staleBefore = now - O.PendingTimeout }, tx, cancellationToken: ct));
            if (wrong != O.MaxFailures)
            {
                continue;
            }

            var until = await UntilAsync(conn, tx, user, scope, key, now, ct) ?? attempt.At + O.Window;
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
                tx, cancellationToken: ct));
            logger.LogWarning("Gift card lookups throttled ({Scope}) for user {UserId} of tenant {TenantId} after {Failures} wrong codes, until {Until}",
                scope, user.UserId, user.TenantId, O.MaxFailures, until);
        }

        await tx.CommitAsync(ct);
    }

    /// <summary>The code was right: its place in the count is given back (a right code is not a wrong one; it does
    /// not reset the others either, or one real card would launder unlimited guesses).</summary>
    public async Task SucceededAsync(CurrentUser user, Attempt attempt, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        await conn.ExecuteAsync(new CommandDefinition(
            "DELETE FROM gift_card_lookup_failures WHERE tenant_id = @TenantId AND attempt_id = @Id",
            new { user.TenantId, attempt.Id }, cancellationToken: ct));
    }

    /// <summary>The rows that count as wrong codes in the window: confirmed, or in flight for longer than any lookup
    /// takes (its server died before it knew).</summary>
    private const string Counted = "failed_at > @windowStart AND (NOT pending OR failed_at <= @staleBefore)";

    /// <summary>PostgreSQL keeps microseconds: an instant it stored compares equal to this one.</summary>
    private DateTimeOffset Now()
    {
        var now = time.GetUtcNow();
        return now.AddTicks(-(now.Ticks % 10));
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

    /// <summary>When the scope's count of wrong codes falls below the limit again: the limit-th most recent one leaves
    /// the window.</summary>
    private async Task<DateTimeOffset?> UntilAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, CurrentUser user, string scope, byte[] key,
        DateTimeOffset now, CancellationToken ct)
    {
        var at = await conn.ExecuteScalarAsync<DateTime?>(new CommandDefinition(
            $"""
            SELECT failed_at FROM gift_card_lookup_failures
            WHERE tenant_id = @TenantId AND scope = @scope AND key = @key AND {Counted}
            ORDER BY failed_at DESC OFFSET @offset LIMIT 1
            """,
            new { user.TenantId, scope, key, windowStart = now - O.Window, staleBefore = now - O.PendingTimeout, offset = O.MaxFailures - 1 }, tx,
            cancellationToken: ct));
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
