using Dapper;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Grains.Board;
using MedSpa.Grains.Domain.Board;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Silo.Board;

/// <summary>
/// The flow grains' few statements: the reference rows a visit, room or provider grain starts from, and the
/// appointment status and room flag they write back. Each opens a connection scoped to the tenant of the grain's key;
/// the <c>tenant_id</c> filters stay as a second line of defence.
/// </summary>
public sealed class PostgresBoardFlowStore(NpgsqlDataSource db) : IBoardFlowStore
{
    public async Task<AppointmentBooking?> LoadAppointmentAsync(Guid tenantId, Guid appointmentId)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId);
        var row = await conn.QuerySingleOrDefaultAsync<BookingRow>(
            """
            SELECT a.clinic_id, a.patient_id, p.first_name, p.last_name, a.provider_id, a.room_id, s.name AS service_name,
                   a.starts_at, a.duration_minutes, a.priority
            FROM appointments a
            JOIN patients p ON p.tenant_id = a.tenant_id AND p.id = a.patient_id
            JOIN services s ON s.tenant_id = a.tenant_id AND s.id = a.service_id
            WHERE a.tenant_id = @tenantId AND a.id = @appointmentId
            """, new { tenantId, appointmentId });
        return row is null
            ? null
            : new AppointmentBooking(row.ClinicId, row.PatientId, $"{row.FirstName} {row.LastName}", row.ProviderId, row.RoomId,
                row.ServiceName, new DateTimeOffset(DateTime.SpecifyKind(row.StartsAt, DateTimeKind.Utc)), row.DurationMinutes,
                (PatientPriority)row.Priority);
    }

    public async Task SyncAppointmentStatusAsync(Guid tenantId, VisitState visit)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId);
        await conn.ExecuteAsync(
            """
            UPDATE appointments
            SET status = @status, visit_version = @Version, cancel_reason = coalesce(@CancelReason, cancel_reason), updated_at = now()
            WHERE tenant_id = @tenantId AND id = @VisitId AND visit_version < @Version
            """,
            new { tenantId, status = VisitFlow.AppointmentStatus(visit.Status), visit.Version, visit.CancelReason, visit.VisitId });
    }

    public async Task<RoomDetails?> LoadRoomAsync(Guid tenantId, Guid roomId)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId);
        var row = await conn.QuerySingleOrDefaultAsync<RoomRow>(
            "SELECT clinic_id, number, name, out_of_service, out_of_service_reason, active FROM rooms WHERE tenant_id = @tenantId AND id = @roomId",
            new { tenantId, roomId });
        return row is null
            ? null
            : new RoomDetails(row.ClinicId, RoomLabel(row.Number, row.Name), row.OutOfService, row.OutOfServiceReason, row.Active);
    }

    /// <summary>The door label the room grain and the board's initial snapshot both show: "3 · Laser suite".</summary>
    internal static string RoomLabel(string number, string name) =>
        name.Contains(number, StringComparison.OrdinalIgnoreCase) ? name : $"{number} · {name}";

    public async Task SyncRoomServiceAsync(Guid tenantId, Guid roomId, bool outOfService, string? reason)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId);
        await conn.ExecuteAsync(
            """
            UPDATE rooms SET out_of_service = @outOfService, out_of_service_reason = @reason, updated_at = now()
            WHERE tenant_id = @tenantId AND id = @roomId
              AND (out_of_service, coalesce(out_of_service_reason, '')) IS DISTINCT FROM (@outOfService, coalesce(@reason, ''))
            """,
            new { tenantId, roomId, outOfService, reason });
    }

    public async Task<ProviderDetails?> LoadProviderAsync(Guid tenantId, Guid providerId)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId);
        var row = await conn.QuerySingleOrDefaultAsync<ProviderRow>(
            "SELECT display_name, clinic_ids FROM providers WHERE tenant_id = @tenantId AND id = @providerId",
            new { tenantId, providerId });
        return row is null ? null : new ProviderDetails(row.DisplayName, row.ClinicIds);
    }

    public async Task<PatientNameDisplay> LoadNameDisplayAsync(Guid tenantId, Guid clinicId)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId);
        var full = await conn.ExecuteScalarAsync<bool?>(
            "SELECT show_full_patient_names FROM clinics WHERE tenant_id = @tenantId AND id = @clinicId",
            new { tenantId, clinicId });
        return full == true ? PatientNameDisplay.FullName : PatientNameDisplay.Initials;
    }

    private sealed class BookingRow
    {
        public Guid ClinicId { get; init; }
        public Guid PatientId { get; init; }
        public string FirstName { get; init; } = "";
        public string LastName { get; init; } = "";
        public Guid ProviderId { get; init; }
        public Guid? RoomId { get; init; }
        public string ServiceName { get; init; } = "";
        public DateTime StartsAt { get; init; }
        public int DurationMinutes { get; init; }
        public short Priority { get; init; }
    }

    private sealed class RoomRow
    {
        public Guid ClinicId { get; init; }
        public string Number { get; init; } = "";
        public string Name { get; init; } = "";
        public bool OutOfService { get; init; }
        public string? OutOfServiceReason { get; init; }
        public bool Active { get; init; }
    }

    private sealed class ProviderRow
    {
        public string DisplayName { get; init; } = "";
        public Guid[] ClinicIds { get; init; } = [];
    }
}
