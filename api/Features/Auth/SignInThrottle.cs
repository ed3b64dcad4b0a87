using System.Security.Cryptography;
using System.Text;
using Dapper;
using MedSpa.Silo.Data;
using Microsoft.Extensions.Options;
using Npgsql;

namespace MedSpa.Api.Features.Auth;

/// <summary>Settings under <c>Auth:Throttle:</c>. Delays double from <see cref="BaseDelay"/> once a scope's free failures are used.</summary>
public sealed class SignInThrottleOptions
{
    /// <summary>Failures of one account from one address before delays start; they then grow to <see cref="PairMaxDelay"/>.</summary>
    public int PairFreeFailures { get; set; } = 3;
    public TimeSpan PairMaxDelay { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Failures from one address, whatever the account (password spraying); then up to <see cref="AddressMaxDelay"/>.</summary>
    public int AddressFreeFailures { get; set; } = 20;
    public TimeSpan AddressMaxDelay { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Failures of one account from everywhere (guessing from many addresses). Bounded by <see cref="AccountMaxDelay"/>
    /// and never applied at an address the account signed in from before, so it cannot lock the owner out.
    /// </summary>
    public int AccountFreeFailures { get; set; } = 10;
    public TimeSpan AccountMaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A scope whose last failure is older than this starts counting afresh.</summary>
    public TimeSpan FailureWindow { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How long an address stays "where this user signs in" after their last successful sign-in there.</summary>
    public TimeSpan KnownAddressLifetime { get; set; } = TimeSpan.FromDays(90);
}

/// <summary>
/// Throttles password (and second-factor) guessing without handing anyone a way to lock someone else out. The old
/// rule — five wrong passwords for an email lock that account for 15 minutes — let anyone who knew the owner's email
/// keep the owner out for good. Failures now count in three scopes, each with delays that double after some free
/// failures (<see cref="SignInThrottleOptions"/>):
/// <list type="bullet">
/// <item><b>account + address</b> (3 free, up to 15 min): one guesser against one account;</item>
/// <item><b>address</b> (20 free, up to 1 h): one address spraying many accounts;</item>
/// <item><b>account</b> (10 free, at most 30 s): many addresses against one account. Bounded, and skipped at
/// addresses where the account signed in successfully in the last 90 days.</item>
/// </list>
/// So an attacker elsewhere can neither touch the owner's own (account, address) or address counters nor hold them
/// up at their usual place; from a new place the owner waits 30 s at most per attempt, and an owner or admin can clear
/// the account's counters (<c>POST /api/users/{id}/unlock</c>). A blocked attempt is refused before the password is
/// checked (429 with Retry-After), so waiting is the only way on. Unknown emails are throttled exactly like known
/// ones: the answers must not tell which emails exist. Subjects are stored as SHA-256 only.
/// </summary>
public sealed class SignInThrottle(NpgsqlDataSource db, IOptions<AuthOptions> options, TimeProvider time, ILogger<SignInThrottle> logger)
{
    private enum Scope
    {
        Pair,
        Address,
        Account,
    }

    private SignInThrottleOptions O => options.Value.Throttle;

    /// <summary>Until when a sign-in for <paramref name="email"/> from <paramref name="address"/> must wait, if it must.</summary>
    public async Task<DateTimeOffset?> BlockedUntilAsync(string email, string? address, UserAccount? user, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await using var conn = await OpenAsync(user, ct);
        var scopes = await ScopesAsync(conn, email, address, user, now, ct);
        var until = await conn.ExecuteScalarAsync<DateTime?>(new CommandDefinition(
            "SELECT max(blocked_until) FROM sign_in_throttle WHERE scope = ANY(@names) AND key = ANY(@keys) AND blocked_until > @now",
            new { names = scopes.Select(s => Name(s.Scope)).ToArray(), keys = scopes.Select(s => s.Key).ToArray(), now }, cancellationToken: ct));
        // scope = ANY and key = ANY match cross pairs too, but keys are hashes that include their scope: no false match.
        return until is { } u ? UserAccount.AsUtc(u) : null;
    }

    /// <summary>Counts a failure in every scope that applies; returns until when the next attempt must wait, if it must.</summary>
    public async Task<DateTimeOffset?> RecordFailureAsync(string email, string? address, UserAccount? user, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await using var conn = await OpenAsync(user, ct);
        var scopes = await ScopesAsync(conn, email, address, user, now, ct);
        return await CountFailureAsync(conn, email, scopes, user, ct);
    }

    private async Task<DateTimeOffset?> CountFailureAsync(
        NpgsqlConnection conn, string email, List<(Scope Scope, byte[] Key)> scopes, UserAccount? user, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await using var tx = await conn.BeginTransactionAsync(ct);
        DateTimeOffset? blockedUntil = null;
        foreach (var (scope, key) in scopes)
        {
            // The upsert locks the row: concurrent failures each count.
            var failures = await conn.ExecuteScalarAsync<int>(new CommandDefinition(
                """
                INSERT INTO sign_in_throttle AS t (scope, key, account_key, failures, last_failure_at)
                VALUES (@scope, @key, @accountKey, 1, @now)
                ON CONFLICT (scope, key) DO UPDATE
                SET failures = CASE WHEN t.last_failure_at < @windowStart THEN 1 ELSE t.failures + 1 END,
                    last_failure_at = @now
                RETURNING failures
                """,
                new { scope = Name(scope), key, accountKey = scope == Scope.Address ? null : AccountKey(email), now,
                    windowStart = now - O.FailureWindow },
                tx, cancellationToken: ct));
            var delay = Delay(scope, failures);
            if (delay <= TimeSpan.Zero)
            {
                continue;
            }

            var until = now + delay;
            await conn.ExecuteAsync(new CommandDefinition(
                "UPDATE sign_in_throttle SET blocked_until = @until WHERE scope = @scope AND key = @key",
                new { scope = Name(scope), key, until }, tx, cancellationToken: ct));
            blockedUntil = blockedUntil is { } b && b > until ? b : until;
            logger.LogWarning(
                "Sign-in throttled ({Scope}) after {Failures} failures for {Delay}; user {UserId}", Name(scope), failures, delay, user?.Id);
        }

        await tx.CommitAsync(ct);
        return blockedUntil;
    }

    /// <summary>
    /// Until when a platform operator sign-in (<c>POST /api/operator/session</c>) from <paramref name="address"/> must
    /// wait, if it must. The operator has one key and no account, so its failures count per address only: in an
    /// (operator, address) pair with the pair's delays, and in the address's own counter that tenant sign-ins from the
    /// same address share (one guesser is one guesser, whichever door it tries). There is no operator-wide counter:
    /// nobody elsewhere can hold up the operator at their own address.
    /// </summary>
    public async Task<DateTimeOffset?> OperatorBlockedUntilAsync(string? address, CancellationToken ct)
    {
        var scopes = OperatorScopes(address);
        await using var conn = await db.OpenUnscopedConnectionAsync("sign-in throttle counters belong to no tenant", ct);
        var until = await conn.ExecuteScalarAsync<DateTime?>(new CommandDefinition(
            "SELECT max(blocked_until) FROM sign_in_throttle WHERE scope = ANY(@names) AND key = ANY(@keys) AND blocked_until > @now",
            new { names = scopes.Select(s => Name(s.Scope)).ToArray(), keys = scopes.Select(s => s.Key).ToArray(), now = time.GetUtcNow() },
            cancellationToken: ct));
        return until is { } u ? UserAccount.AsUtc(u) : null;
    }

    /// <summary>Counts a wrong operator key from <paramref name="address"/>; returns until when the next attempt must wait, if it must.</summary>
    public async Task<DateTimeOffset?> RecordOperatorFailureAsync(string? address, CancellationToken ct)
    {
        await using var conn = await db.OpenUnscopedConnectionAsync("sign-in throttle counters belong to no tenant", ct);
        return await CountFailureAsync(conn, OperatorSubject, OperatorScopes(address), null, ct);
    }

    /// <summary>A right operator key clears its (operator, address) pair; the address counter stays (as for tenants).</summary>
    public async Task RecordOperatorSuccessAsync(string? address, CancellationToken ct)
    {
        await using var conn = await db.OpenUnscopedConnectionAsync("sign-in throttle counters belong to no tenant", ct);
        await conn.ExecuteAsync(new CommandDefinition(
            "DELETE FROM sign_in_throttle WHERE scope = 'pair' AND key = @pair",
            new { pair = Key(Scope.Pair, OperatorSubject, address) }, cancellationToken: ct));
    }

    // Not an email (it has a space, emails are refused with one), so its pair keys never meet a tenant account's.
    private const string OperatorSubject = "platform operator";

    private static List<(Scope Scope, byte[] Key)> OperatorScopes(string? address)
    {
        var scopes = new List<(Scope, byte[])> { (Scope.Pair, Key(Scope.Pair, OperatorSubject, address)) };
        if (address is not null) scopes.Add((Scope.Address, Key(Scope.Address, null, address)));
        return scopes;
    }

    /// <summary>
    /// A successful sign-in clears its own (account, address) and account counters and remembers the address as one
    /// where this user signs in. The address counter is left alone: one good password must not reset a sprayer.
    /// </summary>
    public async Task RecordSuccessAsync(UserAccount user, string? address, CancellationToken ct)
    {
        var email = user.Email;
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        await conn.ExecuteAsync(new CommandDefinition(
            "DELETE FROM sign_in_throttle WHERE (scope = 'pair' AND key = @pair) OR (scope = 'account' AND key = @account)",
            new { pair = Key(Scope.Pair, email, address), account = AccountKey(email) }, cancellationToken: ct));
        if (address is not null)
        {
            await conn.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO sign_in_known_addresses (tenant_id, user_id, address, last_success_at) VALUES (@TenantId, @Id, @address, @now)
                ON CONFLICT (tenant_id, user_id, address) DO UPDATE SET last_success_at = excluded.last_success_at
                """,
                new { user.TenantId, user.Id, address = ClientContext.Truncate(address, 64), now = time.GetUtcNow() }, cancellationToken: ct));
        }
    }

    /// <summary>Clears every counter of the account (its own and all its (account, address) pairs). Returns how many.</summary>
    public async Task<int> UnlockAsync(string email, CancellationToken ct)
    {
        await using var conn = await db.OpenUnscopedConnectionAsync("sign_in_throttle is global: counters by hashed email", ct);
        return await conn.ExecuteAsync(new CommandDefinition(
            "DELETE FROM sign_in_throttle WHERE account_key = @accountKey", new { accountKey = AccountKey(email) }, cancellationToken: ct));
    }

    /// <summary>No delay for the first <paramref name="free"/> failures, then BaseDelay doubling per failure up to <paramref name="max"/>.</summary>
    private TimeSpan Delay(int failures, int free, TimeSpan max)
    {
        if (failures <= free)
        {
            return TimeSpan.Zero;
        }

        var doublings = Math.Min(failures - free - 1, 30);
        var delay = O.BaseDelay * Math.Pow(2, doublings);
        return delay < max ? delay : max;
    }

    private TimeSpan Delay(Scope scope, int failures) => scope switch
    {
        Scope.Pair => Delay(failures, O.PairFreeFailures, O.PairMaxDelay),
        Scope.Address => Delay(failures, O.AddressFreeFailures, O.AddressMaxDelay),
        _ => Delay(failures, O.AccountFreeFailures, O.AccountMaxDelay),
    };

    /// <summary>The counters (sign_in_throttle) are global; the known addresses belong to the user's tenant.</summary>
    private ValueTask<NpgsqlConnection> OpenAsync(UserAccount? user, CancellationToken ct) => user is null
        ? db.OpenUnscopedConnectionAsync("sign-in throttle for an email that names no user: its counters are global", ct)
        : db.OpenTenantConnectionAsync(user.TenantId, ct);

    private async Task<List<(Scope Scope, byte[] Key)>> ScopesAsync(
        NpgsqlConnection conn, string email, string? address, UserAccount? user, DateTimeOffset now, CancellationToken ct)
    {
        var scopes = new List<(Scope, byte[])> { (Scope.Pair, Key(Scope.Pair, email, address)) };
        if (address is not null)
        {
            scopes.Add((Scope.Address, Key(Scope.Address, null, address)));
        }

        var familiar = user is not null && address is not null && await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            """
            SELECT EXISTS (SELECT 1 FROM sign_in_known_addresses
                           WHERE tenant_id = @TenantId AND user_id = @Id AND address = @address AND last_success_at > @since)
            """,
            new { user.TenantId, user.Id, address = ClientContext.Truncate(address, 64), since = now - O.KnownAddressLifetime },
            cancellationToken: ct));
        if (!familiar)
        {
            scopes.Add((Scope.Account, AccountKey(email)));
        }

        return scopes;
    }

    private static string Name(Scope scope) => scope switch
    {
        Scope.Pair => "pair",
        Scope.Address => "address",
        _ => "account",
    };

    private static string Normalise(string email) => email.Trim().ToLowerInvariant();

    private static byte[] AccountKey(string email) => Key(Scope.Account, email, null);

    private static byte[] Key(Scope scope, string? email, string? address) =>
        SHA256.HashData(Encoding.UTF8.GetBytes($"{Name(scope)}\n{(email is null ? "" : Normalise(email))}\n{address ?? "unknown"}"));
}
