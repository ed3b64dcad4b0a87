using MedSpa.GrainInterfaces.Board;

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

/// <summary>A room as the rooms table describes it; <see cref="Name"/> is the door label ("3 · Laser suite").</summary>
public sealed record RoomDetails(Guid ClinicId, string Name, bool OutOfService, string? OutOfServiceReason, bool Active);

/// <summary>A provider as the providers table describes it: the name on the board and the clinics they are assigned to.</summary>
public sealed record ProviderDetails(string Name, IReadOnlyList<Guid> ClinicIds);

/// <summary>
/// What the visit, room, provider and waiting-room grains read from the reference tables and write back to them
/// (MedSpa.Silo's PostgresBoardFlowStore). Every call names the tenant of the grain's key and sees only its rows.
/// Database failures surface as <see cref="System.Data.Common.DbException"/>.
/// </summary>
public interface IBoardFlowStore
{
    Task<AppointmentBooking?> LoadAppointmentAsync(Guid tenantId, Guid appointmentId);

    /// <summary>
    /// Writes the visit's status onto its appointment. Guarded by the visit version, so replays (after a crash, or a
    /// retried delivery) are no-ops and an older version can never overwrite a newer one.
    /// </summary>
    Task SyncAppointmentStatusAsync(Guid tenantId, VisitState visit);

    Task<RoomDetails?> LoadRoomAsync(Guid tenantId, Guid roomId);

    /// <summary>Keeps the reference list's out-of-service flag in step with the room grain (idempotent).</summary>
    Task SyncRoomServiceAsync(Guid tenantId, Guid roomId, bool outOfService, string? reason);

    Task<ProviderDetails?> LoadProviderAsync(Guid tenantId, Guid providerId);

    /// <summary>Whether the clinic's wall screens show full names (clinics.show_full_patient_names); initials otherwise.</summary>
    Task<PatientNameDisplay> LoadNameDisplayAsync(Guid tenantId, Guid clinicId);
}
