using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Board;

namespace MedSpa.Grains.Domain.Board;

/// <summary>
/// A treatment room's own changes (occupy, vacate, clean, out of service) and the status a wall screen shows for it.
/// The room grain stores only flags and its occupant; the status is derived with the occupant's visit, so the room
/// can never say <c>in-progress</c> while the visit says <c>documenting</c>.
/// </summary>
public static class RoomRules
{
    public static RoomState NewRoom(Guid roomId, Guid clinicId, string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return new RoomState { RoomId = roomId, ClinicId = clinicId, Name = name.Trim() };
    }

    /// <summary>Free means a patient may be seated: nobody in it, clean, in service.</summary>
    public static bool IsFree(RoomState room) =>
        room.CurrentVisitId is null && !room.NeedsCleaning && !room.OutOfService;

    /// <summary>
    /// Out of service wins; then the occupant's visit decides (<c>in-room</c> → waiting, <c>in-progress</c>,
    /// <c>documenting</c>, <c>ready</c>, and <c>completed</c> → turnover until the room is vacated); an occupant whose
    /// visit is not at hand counts as waiting; an empty room is turnover until cleaned, else empty.
    /// </summary>
    /// <param name="visit">The visit of <see cref="RoomState.CurrentVisitId"/>, if the caller has it.</param>
    public static RoomStatus DeriveStatus(RoomState room, VisitState? visit)
    {
        ArgumentNullException.ThrowIfNull(room);
        if (visit is not null && visit.VisitId != room.CurrentVisitId)
            throw new ArgumentException("The visit is not the one in this room.", nameof(visit));

        if (room.OutOfService) return RoomStatus.OutOfService;
        if (room.CurrentVisitId is not null)
        {
            return visit?.Status switch
            {
                VisitStatus.InProgress => RoomStatus.InProgress,
                VisitStatus.Documenting => RoomStatus.Documenting,
                VisitStatus.Ready => RoomStatus.Ready,
                VisitStatus.Completed => RoomStatus.Turnover,
                _ => RoomStatus.Waiting,
            };
        }

        return room.NeedsCleaning ? RoomStatus.Turnover : RoomStatus.Empty;
    }

    /// <summary>
    /// Seats a visit. Only a free room accepts one; seating the visit that is already there again is accepted
    /// unchanged, so a retried call after a lost acknowledgement does not fail.
    /// </summary>
    public static RoomChangeOutcome Occupy(RoomState room, Guid visitId, ChangeContext context)
    {
        VisitFlow.ValidateContext(context);
        if (room.CurrentVisitId == visitId) return new RoomChangeOutcome(room, null);
        if (!IsFree(room))
        {
            return Refuse(room, BoardErrorCodes.RoomNotFree,
                $"Room {room.Name} is {VisitFlow.Kebab(DeriveStatus(room, null))}, not free.");
        }

        return Accept(room with { CurrentVisitId = visitId }, context);
    }

    /// <summary>
    /// The visit leaves the room: after checkout (<paramref name="needsCleaning"/>) the room goes to turnover,
    /// otherwise straight back to empty.
    /// </summary>
    public static RoomChangeOutcome Vacate(RoomState room, Guid visitId, bool needsCleaning, ChangeContext context)
    {
        VisitFlow.ValidateContext(context);
        if (room.CurrentVisitId != visitId)
        {
            return Refuse(room, BoardErrorCodes.InvalidTransition,
                $"That visit is not in room {room.Name}.");
        }

        return Accept(room with { CurrentVisitId = null, NeedsCleaning = needsCleaning || room.NeedsCleaning }, context);
    }

    /// <summary>Staff mark a room in turnover clean: it becomes empty.</summary>
    public static RoomChangeOutcome MarkClean(RoomState room, ChangeContext context)
    {
        VisitFlow.ValidateContext(context);
        if (!room.NeedsCleaning || room.CurrentVisitId is not null || room.OutOfService)
        {
            return Refuse(room, BoardErrorCodes.InvalidTransition,
                $"Room {room.Name} is {VisitFlow.Kebab(DeriveStatus(room, null))}; only a room in turnover can be marked clean.");
        }

        return Accept(room with { NeedsCleaning = false }, context);
    }

    /// <summary>
    /// Takes an unoccupied room out of service (broken laser, maintenance). An occupied room cannot be: the patient
    /// in it has to leave first.
    /// </summary>
    public static RoomChangeOutcome TakeOutOfService(RoomState room, string? reason, ChangeContext context)
    {
        VisitFlow.ValidateContext(context);
        if (room.OutOfService || room.CurrentVisitId is not null)
        {
            return Refuse(room, BoardErrorCodes.InvalidTransition,
                $"Room {room.Name} is {VisitFlow.Kebab(DeriveStatus(room, null))}; only an unoccupied room in service can be taken out of service.");
        }

        if (string.IsNullOrWhiteSpace(reason))
            return Refuse(room, BoardErrorCodes.ReasonRequired, "Taking a room out of service needs a reason.", "reason");

        return Accept(room with { OutOfService = true, OutOfServiceReason = reason.Trim() }, context);
    }

    /// <summary>
    /// Back in service. A room taken out during turnover still needs cleaning afterwards: the flag is kept, because
    /// nobody said it was cleaned.
    /// </summary>
    public static RoomChangeOutcome ReturnToService(RoomState room, ChangeContext context)
    {
        VisitFlow.ValidateContext(context);
        if (!room.OutOfService)
        {
            return Refuse(room, BoardErrorCodes.InvalidTransition,
                $"Room {room.Name} is {VisitFlow.Kebab(DeriveStatus(room, null))}, not out of service.");
        }

        return Accept(room with { OutOfService = false, OutOfServiceReason = null }, context);
    }

    /// <summary>The card a wall screen draws for the room, as of <paramref name="now"/>.</summary>
    public static RoomCard Card(RoomState room, VisitState? visit, PatientNameDisplay display, DateTimeOffset now)
    {
        var status = DeriveStatus(room, visit);
        // A completed visit still attached shows as turnover, without the patient.
        var shown = visit is not null && status is RoomStatus.Waiting or RoomStatus.InProgress or RoomStatus.Documenting
            or RoomStatus.Ready
            ? visit
            : null;
        var started = shown?.StartedAt;
        var estimated = shown?.EstimatedMinutes;

        var since = room.Since;
        var visitChangedAt = shown?.History.LastOrDefault()?.At;
        if (visitChangedAt is not null && (since is null || visitChangedAt > since)) since = visitChangedAt;

        return new RoomCard(
            room.RoomId,
            room.Name,
            status,
            status == RoomStatus.InProgress && started is not null
                ? TreatmentPhases.Of(started.Value, estimated!.Value, now)
                : null,
            shown?.VisitId,
            shown is null ? null : PatientNames.ForDisplay(shown.PatientName, display),
            shown?.ProviderId,
            shown?.Treatment,
            started,
            estimated,
            started is null ? null : TreatmentPhases.ElapsedMinutes(started.Value, now),
            status == RoomStatus.InProgress && started is not null &&
                TreatmentPhases.IsOverdue(started.Value, estimated!.Value, now),
            since,
            room.OutOfService ? room.OutOfServiceReason : null,
            now);
    }

    private static RoomChangeOutcome Accept(RoomState next, ChangeContext context) =>
        new(next with { Version = next.Version + 1, Since = context.At, LastChange = context }, null);

    private static RoomChangeOutcome Refuse(RoomState room, string code, string message, string? field = null) =>
        new(room, new Refusal(code, message, field));
}
