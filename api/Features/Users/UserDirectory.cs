using Dapper;
using MedSpa.Api.Features.Auth;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Api.Features.Users;

public sealed record NewUser(
    string Email, string DisplayName, string Role, string PasswordHash, IReadOnlyCollection<Guid> ClinicIds, Guid? PatientId = null);

public sealed record UserChanges(string? DisplayName, string? Role, IReadOnlyCollection<Guid>? ClinicIds, bool? Active);

public enum UserChangeOutcome
{
    Updated,
    NotFound,
    EmailTaken,
    LastOwner,
}

/// <summary>Writes to the tenant's users. Every statement is scoped by tenant_id.</summary>
public sealed class UserDirectory(NpgsqlDataSource db, TimeProvider time, RevokedAccessList revokedAccess)
{
    /// <summary>The ids among <paramref name="clinicIds"/> that are not clinics of the tenant.</summary>
    public async Task<IReadOnlyList<Guid>> ForeignClinicsAsync(Guid tenantId, IReadOnlyCollection<Guid> clinicIds, CancellationToken ct)
    {
        if (clinicIds.Count == 0)
        {
            return [];
        }

        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        var known = (await conn.QueryAsync<Guid>(new CommandDefinition(
            "SELECT id FROM clinics WHERE tenant_id = @tenantId AND id = ANY(@ids)",
            new { tenantId, ids = clinicIds.Distinct().ToArray() }, cancellationToken: ct))).ToHashSet();
        return clinicIds.Where(id => !known.Contains(id)).Distinct().ToList();
    }

    public async Task<bool> PatientExistsAsync(Guid tenantId, Guid patientId, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        return await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM patients WHERE tenant_id = @tenantId AND id = @patientId)",
            new { tenantId, patientId }, cancellationToken: ct));
    }

    public async Task<(UserChangeOutcome Outcome, Guid UserId)> CreateAsync(Guid tenantId, NewUser user, CancellationToken ct)
    {
        var userId = Guid.NewGuid();
        var now = time.GetUtcNow();
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        try
        {
            await conn.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO users (tenant_id, id, email, display_name, role, password_hash, created_at, updated_at, password_changed_at, patient_id)
                VALUES (@tenantId, @userId, @Email, @DisplayName, @Role, @PasswordHash, @now, @now, @now, @PatientId)
                """,
                new { tenantId, userId, user.Email, user.DisplayName, user.Role, user.PasswordHash, now, user.PatientId }, tx,
                cancellationToken: ct));
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            return (UserChangeOutcome.EmailTaken, Guid.Empty);
        }

        await SetClinicsAsync(conn, tx, tenantId, userId, user.ClinicIds, ct);
        await tx.CommitAsync(ct);
        return (UserChangeOutcome.Updated, userId);
    }

    /// <summary>
    /// Applies the changes. Refuses to leave the tenant without an active owner: the active owners are locked for
    /// the transaction, so two owners demoting each other at once cannot both succeed.
    /// </summary>
    public async Task<UserChangeOutcome> UpdateAsync(Guid tenantId, Guid userId, UserChanges changes, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var owners = (await conn.QueryAsync<Guid>(new CommandDefinition(
            "SELECT id FROM users WHERE tenant_id = @tenantId AND role = 'owner' AND is_active ORDER BY id FOR UPDATE",
            new { tenantId }, tx, cancellationToken: ct))).ToList();
        var current = await UserAccounts.GetAsync(conn, tx, tenantId, userId, ct);
        if (current is null)
        {
            return UserChangeOutcome.NotFound;
        }

        var stillOwner = (changes.Role ?? current.Role) == "owner" && (changes.Active ?? current.IsActive);
        if (owners.Contains(userId) && !stillOwner && owners.Count == 1)
        {
            return UserChangeOutcome.LastOwner;
        }

        await conn.ExecuteAsync(new CommandDefinition(
            """
            UPDATE users SET display_name = COALESCE(@DisplayName, display_name),
                             role = COALESCE(@Role, role),
                             is_active = COALESCE(@Active, is_active),
                             updated_at = @now
            WHERE tenant_id = @tenantId AND id = @userId
            """,
            new { tenantId, userId, changes.DisplayName, changes.Role, changes.Active, now }, tx, cancellationToken: ct));
        if (changes.ClinicIds is not null)
        {
            await SetClinicsAsync(conn, tx, tenantId, userId, changes.ClinicIds, ct);
        }

        var revoked = new List<AccessRevocation>();
        if (changes.Active == false && current.IsActive)
        {
            // A deactivated user is signed out everywhere, and every access token and hub connection of theirs ends now.
            revoked.AddRange(await SessionService.RevokeAllAsync(conn, tx, tenantId, userId, keepSessionId: null, "user-deactivated", now, ct));
            await RevokeTokensAsync(conn, tx, tenantId, userId, "user-deactivated", now, revoked, ct);
        }
        else if ((changes.Role is not null && changes.Role != current.Role)
                 || (changes.ClinicIds is not null && !changes.ClinicIds.ToHashSet().SetEquals(current.ClinicIds)))
        {
            // The role and the clinics travel in the access token: tokens issued before the change are refused, and the
            // next refresh (which reads the user again) issues one with what the user may do now.
            await RevokeTokensAsync(conn, tx, tenantId, userId, "user-rights-changed", now, revoked, ct);
        }

        await tx.CommitAsync(ct);
        revokedAccess.Apply(revoked);
        return UserChangeOutcome.Updated;
    }

    /// <summary>Sets a password chosen by an admin and signs the user out everywhere.</summary>
    public async Task ResetPasswordAsync(Guid tenantId, Guid userId, string passwordHash, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await UserAccounts.SetPasswordAsync(conn, tx, tenantId, userId, passwordHash, now, ct);
        var revoked = new List<AccessRevocation>(
            await SessionService.RevokeAllAsync(conn, tx, tenantId, userId, keepSessionId: null, "password-reset", now, ct));
        await RevokeTokensAsync(conn, tx, tenantId, userId, "password-reset", now, revoked, ct);
        await tx.CommitAsync(ct);
        revokedAccess.Apply(revoked);
    }

    private static async Task RevokeTokensAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, Guid tenantId, Guid userId, string reason, DateTimeOffset now, List<AccessRevocation> into,
        CancellationToken ct)
    {
        if (await AccessRevocationStore.RevokeUserTokensAsync(conn, tx, tenantId, userId, reason, now, ct) is { } revocation)
        {
            into.Add(revocation);
        }
    }

    private static async Task SetClinicsAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, Guid tenantId, Guid userId, IReadOnlyCollection<Guid> clinicIds, CancellationToken ct)
    {
        await conn.ExecuteAsync(new CommandDefinition(
            "DELETE FROM user_clinics WHERE tenant_id = @tenantId AND user_id = @userId",
            new { tenantId, userId }, tx, cancellationToken: ct));
        await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO user_clinics (tenant_id, user_id, clinic_id)
            SELECT @tenantId, @userId, c FROM unnest(@ids) AS c
            """,
            new { tenantId, userId, ids = clinicIds.Distinct().ToArray() }, tx, cancellationToken: ct));
    }
}
