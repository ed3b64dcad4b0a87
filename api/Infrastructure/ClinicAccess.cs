using Dapper;
using Npgsql;

namespace MedSpa.Api.Infrastructure;

/// <summary>The one check every clinic-scoped endpoint (rooms, tax rates, providers, appointments, the board and its
/// display links) starts with.</summary>
public static class ClinicAccess
{
    /// <summary>
    /// True when the clinic exists in the caller's tenant and the caller may see it, so that "not yours" and
    /// "not there" look the same (both 404).
    /// </summary>
    public static async Task<bool> IsVisibleAsync(NpgsqlConnection conn, CurrentUser user, Guid clinicId, CancellationToken ct) =>
        user.CanAccessClinic(clinicId)
        && await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM clinics WHERE tenant_id = @TenantId AND id = @clinicId)",
            new { user.TenantId, clinicId }, cancellationToken: ct));
}
