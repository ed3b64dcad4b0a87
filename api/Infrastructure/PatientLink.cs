using Dapper;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Api.Infrastructure;

/// <summary>
/// Which patient a <c>patient</c> user is: <c>users.patient_id</c> (migrations 0181/0185). The one place every feature
/// (invoices, receipts, saved cards) asks, so that if the link moves (another table, a claim in the token) only this
/// class changes.
/// </summary>
public static class PatientLink
{
    /// <summary>The caller's patient id, or null for staff and for a patient user not linked to a patient.</summary>
    public static async Task<Guid?> PatientOfAsync(NpgsqlDataSource db, CurrentUser user, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(user);
        if (user.Role != Roles.Patient)
        {
            return null;
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        return await PatientOfAsync(conn, user, ct);
    }

    /// <summary>The same, on a connection the caller already holds.</summary>
    public static Task<Guid?> PatientOfAsync(NpgsqlConnection conn, CurrentUser user, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(conn);
        ArgumentNullException.ThrowIfNull(user);
        return user.Role != Roles.Patient
            ? Task.FromResult<Guid?>(null)
            : conn.ExecuteScalarAsync<Guid?>(new CommandDefinition(
                "SELECT patient_id FROM users WHERE tenant_id = @TenantId AND id = @UserId AND is_active",
                new { user.TenantId, user.UserId }, cancellationToken: ct));
    }
}
