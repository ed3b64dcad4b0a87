using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Api.Features.Auth;

/// <summary>A <c>users</c> row with what sign-in needs. Timestamps are UTC DateTimes as Npgsql reads timestamptz.</summary>
public sealed class UserAccount
{
    public Guid TenantId { get; set; }
    public Guid Id { get; set; }
    public string Email { get; set; } = "";
    public string DisplayName { get; set; } = "";
    public string Role { get; set; } = "";
    public string PasswordHash { get; set; } = "";
    public bool IsActive { get; set; }
    public int FailedLoginCount { get; set; }
    public DateTime? LockedUntil { get; set; }
    public string? MfaSecret { get; set; }
    public DateTime? MfaEnabledAt { get; set; }
    public long? MfaLastTimeStep { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
    public Guid[] ClinicIds { get; set; } = [];

    /// <summary>For a <c>patient</c> user: the patients-directory row they are (migration 0181).</summary>
    public Guid? PatientId { get; set; }

    /// <summary>Raised by every revocation of the user's tokens (role, clinics, deactivation): tokens carry it.</summary>
    public int TokenEpoch { get; set; }

    public bool MfaEnabled => MfaSecret is not null;

    public UserResponse ToResponse() => new(
        Id, TenantId, Email, DisplayName, Role, ClinicIds, IsActive, MfaEnabled, AsUtc(CreatedAt), AsUtc(UpdatedAt), PatientId);

    public TokenSubject ToSubject(Guid sessionId) => new(Id, TenantId, Role, Email, DisplayName, ClinicIds, sessionId, TokenEpoch);

    internal static DateTimeOffset AsUtc(DateTime value) => new(DateTime.SpecifyKind(value, DateTimeKind.Utc));
}

/// <summary>Reads users and keeps their sign-in counters. Every query names the tenant, except the look-up by email
/// at sign-in: the caller has no tenant yet, and emails are unique across the deployment.</summary>
public sealed class UserAccounts(NpgsqlDataSource db)
{
    internal const string Columns = """
        u.tenant_id, u.id, u.email, u.display_name, u.role, u.password_hash, u.is_active, u.failed_login_count,
        u.locked_until, u.mfa_secret, u.mfa_enabled_at, u.mfa_last_time_step, u.created_at, u.updated_at, u.patient_id, u.token_epoch,
        ARRAY(SELECT uc.clinic_id FROM user_clinics uc WHERE uc.tenant_id = u.tenant_id AND uc.user_id = u.id ORDER BY uc.clinic_id) AS clinic_ids
        """;

    public async Task<UserAccount?> FindByEmailAsync(string email, CancellationToken ct)
    {
        await using var conn = await db.OpenUnscopedConnectionAsync("sign-in looks a user up by email: no tenant yet", ct);
        return await conn.QuerySingleOrDefaultAsync<UserAccount>(new CommandDefinition(
            $"SELECT {Columns} FROM users u WHERE lower(u.email) = lower(@email)", new { email }, cancellationToken: ct));
    }

    public async Task<UserAccount?> GetAsync(Guid tenantId, Guid userId, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        return await GetAsync(conn, null, tenantId, userId, ct);
    }

    public static Task<UserAccount?> GetAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, Guid tenantId, Guid userId, CancellationToken ct) =>
        conn.QuerySingleOrDefaultAsync<UserAccount>(new CommandDefinition(
            $"SELECT {Columns} FROM users u WHERE u.tenant_id = @tenantId AND u.id = @userId",
            new { tenantId, userId }, tx, cancellationToken: ct));

    /// <summary>One page of the tenant's users, by name.</summary>
    public async Task<Paged<UserResponse>> ListAsync(Guid tenantId, PageRequest paging, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        return await conn.QueryPageAsync(
            paging, "users u", Columns, "WHERE u.tenant_id = @tenantId", "lower(u.display_name), u.id",
            new { tenantId, paging.PageSize, paging.Offset }, (UserAccount u) => u.ToResponse(), ct);
    }

    public async Task<TenantSummary?> GetTenantAsync(Guid tenantId, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        return await conn.QuerySingleOrDefaultAsync<TenantSummary>(new CommandDefinition(
            "SELECT id, name, slug FROM tenants WHERE id = @tenantId", new { tenantId }, cancellationToken: ct));
    }

    public async Task RecordSuccessfulLoginAsync(Guid tenantId, Guid userId, string? newPasswordHash, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        await conn.ExecuteAsync(new CommandDefinition(
            """
            UPDATE users SET failed_login_count = 0, locked_until = NULL,
                             password_hash = COALESCE(@newPasswordHash, password_hash)
            WHERE tenant_id = @tenantId AND id = @userId
            """,
            new { tenantId, userId, newPasswordHash }, cancellationToken: ct));
    }

    /// <summary>Sets a new password hash and clears any lockout (a reset is how a locked-out user gets back in).</summary>
    public static Task SetPasswordAsync(
        NpgsqlConnection conn, NpgsqlTransaction? tx, Guid tenantId, Guid userId, string passwordHash, DateTimeOffset now, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition(
            """
            UPDATE users SET password_hash = @passwordHash, password_changed_at = @now, updated_at = @now,
                             failed_login_count = 0, locked_until = NULL
            WHERE tenant_id = @tenantId AND id = @userId
            """,
            new { tenantId, userId, passwordHash, now }, tx, cancellationToken: ct));
}
