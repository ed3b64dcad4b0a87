using Dapper;
using MedSpa.GrainInterfaces.Board;
using Npgsql;

namespace MedSpa.Grains.Board;

/// <summary>The booking an appointment row holds, as the visit grain starts from it.</summary>
public sealed record AppointmentBooking(
    Guid ClinicId,
    Guid PatientId,
    string PatientName,
    Guid ProviderId,
    Guid? RoomId,
    string Treatment,
    DateTimeOffset StartsAt,
    int DurationMinutes,
    PatientPriority Priority);

/// <summary>
/// The live-board grains' few SQL statements: reading the reference rows a grain starts from, and writing back the
/// appointment status the visit grain owns. Every statement filters by the tenant of the grain's key.
/// </summary>
public sealed class BoardSql(NpgsqlDataSource db)
{
    // Also set by the api's features; a standalone silo has none of them.
    static BoardSql() => DefaultTypeMap.MatchNamesWithUnderscores = true;

    /// <summary>The SQL status of a visit status: the in-room steps are all "in-progress" in the schedule.</summary>
    public static string AppointmentStatus(VisitStatus status) => status switch
    {
        VisitStatus.Scheduled => "scheduled",
        VisitStatus.Confirmed => "confirmed",
        VisitStatus.Arrived => "arrived",
        VisitStatus.InRoom or VisitStatus.InProgress or VisitStatus.Documenting or VisitStatus.Ready => "in-progress",
        VisitStatus.Completed => "completed",
        VisitStatus.Cancelled => "cancelled",
        VisitStatus.NoShow => "no-show",
        _ => throw new ArgumentOutOfRangeException(nameof(status)),
    };

    public async Task<AppointmentBooking?> LoadAppointmentAsync(Guid tenantId, Guid appointmentId)
    {
        await using var conn = await db.OpenConnectionAsync();
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

    /// <summary>
    /// Writes the visit's status onto its appointment. Guarded by the visit version, so replays (after a crash, or a
    /// retried delivery) are no-ops and an older version can never overwrite a newer one.
    /// </summary>
    public async Task SyncAppointmentStatusAsync(Guid tenantId, VisitState visit)
    {
        await using var conn = await db.OpenConnectionAsync();
        await conn.ExecuteAsync(
            """
            UPDATE appointments
            SET status = @status, visit_version = @Version, cancel_reason = coalesce(@CancelReason, cancel_reason), updated_at = now()
            WHERE tenant_id = @tenantId AND id = @VisitId AND visit_version < @Version
            """,
            new { tenantId, status = AppointmentStatus(visit.Status), visit.Version, visit.CancelReason, visit.VisitId });
    }

    public async Task<(Guid ClinicId, string Name, bool OutOfService, string? Reason, bool Active)?> LoadRoomAsync(Guid tenantId, Guid roomId)
    {
        await using var conn = await db.OpenConnectionAsync();
        var row = await conn.QuerySingleOrDefaultAsync<RoomRow>(
            "SELECT clinic_id, number, name, out_of_service, out_of_service_reason, active FROM rooms WHERE tenant_id = @tenantId AND id = @roomId",
            new { tenantId, roomId });
        return row is null ? null : (row.ClinicId, RoomLabel(row.Number, row.Name), row.OutOfService, row.OutOfServiceReason, row.Active);
    }

    /// <summary>The door label the board's initial snapshot uses too (PostgresClinicBoardStore): "3 · Laser suite".</summary>
    public static string RoomLabel(string number, string name) =>
        name.Contains(number, StringComparison.OrdinalIgnoreCase) ? name : $"{number} · {name}";

    /// <summary>Keeps the reference list's out-of-service flag in step with the room grain (idempotent).</summary>
    public async Task SyncRoomServiceAsync(Guid tenantId, Guid roomId, bool outOfService, string? reason)
    {
        await using var conn = await db.OpenConnectionAsync();
        await conn.ExecuteAsync(
            """
            UPDATE rooms SET out_of_service = @outOfService, out_of_service_reason = @reason, updated_at = now()
            WHERE tenant_id = @tenantId AND id = @roomId AND (out_of_service, coalesce(out_of_service_reason, '')) IS DISTINCT FROM (@outOfService, coalesce(@reason, ''))
            """,
            new { tenantId, roomId, outOfService, reason });
    }

    public async Task<(string Name, Guid[] ClinicIds)?> LoadProviderAsync(Guid tenantId, Guid providerId)
    {
        await using var conn = await db.OpenConnectionAsync();
        var row = await conn.QuerySingleOrDefaultAsync<ProviderRow>(
            "SELECT display_name, clinic_ids FROM providers WHERE tenant_id = @tenantId AND id = @providerId",
            new { tenantId, providerId });
        return row is null ? null : (row.DisplayName, row.ClinicIds);
    }

    /// <summary>Whether the clinic's wall screens show full names (clinics.show_full_patient_names); initials otherwise.</summary>
    public async Task<PatientNameDisplay> LoadNameDisplayAsync(Guid tenantId, Guid clinicId)
    {
        await using var conn = await db.OpenConnectionAsync();
        var full = await conn.ExecuteScalarAsync<bool?>(
            "SELECT show_full_patient_names FROM clinics WHERE tenant_id = @tenantId AND id = @clinicId",
            new { tenantId, clinicId });
        return full == true ? PatientNameDisplay.FullName : PatientNameDisplay.Initials;
    }

    public async Task<bool> ClinicExistsAsync(Guid tenantId, Guid clinicId)
    {
        await using var conn = await db.OpenConnectionAsync();
        return await conn.ExecuteScalarAsync<bool>(
            "SELECT EXISTS (SELECT 1 FROM clinics WHERE tenant_id = @tenantId AND id = @clinicId)", new { tenantId, clinicId });
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
