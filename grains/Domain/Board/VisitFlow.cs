using System.Collections.Immutable;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Board;

namespace MedSpa.Grains.Domain.Board;

/// <summary>
/// The patient-flow state machine of one visit (issue 3 §1):
/// <code>
/// scheduled ─confirm→ confirmed
/// scheduled | confirmed ─mark-in-car→ arrived/in-car ─check-in→ arrived/checked-in
/// scheduled | confirmed ─check-in→ arrived/checked-in
/// arrived/in-car | arrived/checked-in ─call-to-room→ arrived/room-ready
/// arrived/* ─seat-in-room (needs a room)→ in-room ─start-treatment (needs a provider)→ in-progress
/// in-progress ─start-documenting→ documenting ─mark-ready→ ready ─complete→ completed
/// scheduled | confirmed | arrived/* ─cancel (needs a reason)→ cancelled
/// scheduled | confirmed ─mark-no-show→ no-show
/// </code>
/// Everything else is refused with <see cref="BoardErrorCodes.InvalidTransition"/>, including repeating the step the
/// visit is already in: retries are the grain's business (idempotency keys), not the state machine's.
/// Once in a room a visit can no longer be cancelled: the treatment has begun and the flow has to finish at checkout.
/// </summary>
public static class VisitFlow
{
    public static VisitState NewVisit(
        Guid visitId,
        Guid clinicId,
        Guid patientId,
        string patientName,
        DateTimeOffset scheduledStart,
        int estimatedMinutes,
        Guid? providerId = null,
        Guid? roomId = null,
        string? treatment = null,
        PatientPriority priority = PatientPriority.Normal)
    {
        ArgumentNullException.ThrowIfNull(patientName);
        ArgumentOutOfRangeException.ThrowIfNegative(estimatedMinutes);
        if (!Enum.IsDefined(priority)) throw new ArgumentOutOfRangeException(nameof(priority));

        return new VisitState
        {
            VisitId = visitId,
            ClinicId = clinicId,
            PatientId = patientId,
            PatientName = patientName,
            ProviderId = providerId,
            RoomId = roomId,
            Treatment = treatment,
            ScheduledStart = scheduledStart,
            EstimatedMinutes = estimatedMinutes,
            Priority = priority,
            Status = VisitStatus.Scheduled,
            Waiting = WaitingSubStatus.NotArrived,
        };
    }

    /// <summary>Where a command takes a visit from (status, waiting sub-status), or null when it is not allowed.</summary>
    public static (VisitStatus Status, WaitingSubStatus? Waiting)? Target(
        VisitStatus status, WaitingSubStatus? waiting, VisitCommandKind command) =>
        (command, status, waiting) switch
        {
            (VisitCommandKind.Confirm, VisitStatus.Scheduled, _) => (VisitStatus.Confirmed, WaitingSubStatus.NotArrived),
            (VisitCommandKind.MarkInCar, VisitStatus.Scheduled or VisitStatus.Confirmed, _) =>
                (VisitStatus.Arrived, WaitingSubStatus.InCar),
            (VisitCommandKind.CheckIn, VisitStatus.Scheduled or VisitStatus.Confirmed, _) =>
                (VisitStatus.Arrived, WaitingSubStatus.CheckedIn),
            (VisitCommandKind.CheckIn, VisitStatus.Arrived, WaitingSubStatus.InCar) =>
                (VisitStatus.Arrived, WaitingSubStatus.CheckedIn),
            (VisitCommandKind.CallToRoom, VisitStatus.Arrived, WaitingSubStatus.InCar or WaitingSubStatus.CheckedIn) =>
                (VisitStatus.Arrived, WaitingSubStatus.RoomReady),
            (VisitCommandKind.SeatInRoom, VisitStatus.Arrived, _) => (VisitStatus.InRoom, null),
            (VisitCommandKind.StartTreatment, VisitStatus.InRoom, _) => (VisitStatus.InProgress, null),
            (VisitCommandKind.StartDocumenting, VisitStatus.InProgress, _) => (VisitStatus.Documenting, null),
            (VisitCommandKind.MarkReady, VisitStatus.Documenting, _) => (VisitStatus.Ready, null),
            (VisitCommandKind.Complete, VisitStatus.Ready, _) => (VisitStatus.Completed, null),
            (VisitCommandKind.Cancel, VisitStatus.Scheduled or VisitStatus.Confirmed or VisitStatus.Arrived, _) =>
                (VisitStatus.Cancelled, null),
            (VisitCommandKind.MarkNoShow, VisitStatus.Scheduled or VisitStatus.Confirmed, _) =>
                (VisitStatus.NoShow, null),
            _ => null,
        };

    public static bool IsAllowed(VisitState state, VisitCommandKind command) =>
        Target(state.Status, state.Waiting, command) is not null;

    /// <summary>The commands the current state allows (which buttons a front desk or tablet shows).</summary>
    public static ImmutableArray<VisitCommandKind> AllowedCommands(VisitState state) =>
        [.. Enum.GetValues<VisitCommandKind>().Where(c => IsAllowed(state, c))];

    public static bool IsTerminal(VisitStatus status) =>
        status is VisitStatus.Completed or VisitStatus.Cancelled or VisitStatus.NoShow;

    /// <summary>The schedule's word for a visit status (appointments.status): the in-room steps are all "in-progress".</summary>
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

    /// <summary>
    /// Applies <paramref name="command"/> to <paramref name="state"/>. Refusals leave the state untouched and carry
    /// the reason; the state check comes first, so a command the state forbids is <c>invalid_transition</c> even when
    /// its input is also missing.
    /// </summary>
    /// <exception cref="ArgumentException">The context has no user or device: a server bug, not a user error.</exception>
    public static VisitTransitionOutcome Transition(VisitState state, VisitCommand command, ChangeContext context)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(command);
        ValidateContext(context);

        var target = Target(state.Status, state.Waiting, command.Kind);
        if (target is null)
        {
            return Refuse(state, BoardErrorCodes.InvalidTransition,
                $"A visit that is {Describe(state)} cannot {Words(command.Kind)}.");
        }

        var at = context.At;
        var next = state with
        {
            Status = target.Value.Status,
            Waiting = target.Value.Waiting,
            Version = state.Version + 1,
        };

        switch (command.Kind)
        {
            case VisitCommandKind.Confirm:
                next = next with { ConfirmedAt = at };
                break;
            case VisitCommandKind.MarkInCar:
                next = next with { ArrivedAt = at };
                break;
            case VisitCommandKind.CheckIn:
                // A patient who waited in the car arrived when they texted; the queue counts from then.
                next = next with { CheckedInAt = at, ArrivedAt = state.ArrivedAt ?? at };
                break;
            case VisitCommandKind.CallToRoom:
                next = next with { CalledAt = at, RoomId = command.RoomId ?? state.RoomId };
                break;
            case VisitCommandKind.SeatInRoom:
                var roomId = command.RoomId ?? state.RoomId;
                if (roomId is null)
                {
                    return Refuse(state, BoardErrorCodes.RoomRequired,
                        "Seating a patient needs a room: none was given and none is booked.", "roomId");
                }

                next = next with { InRoomAt = at, RoomId = roomId };
                break;
            case VisitCommandKind.StartTreatment:
                var providerId = command.ProviderId ?? state.ProviderId;
                if (providerId is null)
                {
                    return Refuse(state, BoardErrorCodes.ProviderRequired,
                        "Starting a treatment needs a provider: none was given and none is booked.", "providerId");
                }

                next = next with { StartedAt = at, ProviderId = providerId };
                break;
            case VisitCommandKind.StartDocumenting:
                next = next with { DocumentingAt = at };
                break;
            case VisitCommandKind.MarkReady:
                next = next with { ReadyAt = at };
                break;
            case VisitCommandKind.Complete:
                next = next with { CompletedAt = at };
                break;
            case VisitCommandKind.Cancel:
                var reason = command.Reason?.Trim();
                if (string.IsNullOrEmpty(reason))
                {
                    return Refuse(state, BoardErrorCodes.ReasonRequired, "Cancelling a visit needs a reason.", "reason");
                }

                next = next with { CancelledAt = at, CancelReason = reason };
                break;
            case VisitCommandKind.MarkNoShow:
                next = next with { NoShowAt = at };
                break;
        }

        next = next with
        {
            History = state.History.Add(new VisitTransitionRecord(next.Version, command.Kind, state.Status,
                state.Waiting, next.Status, next.Waiting, context.UserId, context.DeviceId, at)),
        };

        return new VisitTransitionOutcome(next, EventsFor(command.Kind, state, next, context), null);
    }

    /// <summary>
    /// The events of one accepted transition: always <c>visit.status_changed</c> first, then the visit's own event, then
    /// the live views it touched (room, provider, waiting queue).
    /// </summary>
    private static ImmutableArray<VisitFlowEvent> EventsFor(
        VisitCommandKind command, VisitState before, VisitState after, ChangeContext context)
    {
        var names = ImmutableArray.CreateBuilder<string>(4);
        names.Add(BoardEventNames.VisitStatusChanged);
        switch (command)
        {
            case VisitCommandKind.MarkInCar:
                names.Add(BoardEventNames.QueueUpdated);
                break;
            case VisitCommandKind.CheckIn:
                names.Add(BoardEventNames.PatientCheckedIn);
                names.Add(BoardEventNames.QueueUpdated);
                break;
            case VisitCommandKind.CallToRoom:
                names.Add(BoardEventNames.PatientCalled);
                names.Add(BoardEventNames.QueueUpdated);
                break;
            case VisitCommandKind.SeatInRoom:
                names.Add(BoardEventNames.QueueUpdated);
                names.Add(BoardEventNames.RoomUpdated);
                break;
            case VisitCommandKind.StartTreatment:
                names.Add(BoardEventNames.TreatmentStarted);
                names.Add(BoardEventNames.RoomUpdated);
                names.Add(BoardEventNames.ProviderStatusChanged);
                break;
            case VisitCommandKind.StartDocumenting:
                names.Add(BoardEventNames.RoomUpdated);
                names.Add(BoardEventNames.ProviderStatusChanged);
                break;
            case VisitCommandKind.MarkReady:
                names.Add(BoardEventNames.TreatmentReadyForPayment);
                names.Add(BoardEventNames.RoomUpdated);
                names.Add(BoardEventNames.ProviderStatusChanged);
                break;
            case VisitCommandKind.Complete:
                names.Add(BoardEventNames.TreatmentCompleted);
                names.Add(BoardEventNames.RoomUpdated);
                names.Add(BoardEventNames.ProviderStatusChanged);
                break;
            case VisitCommandKind.Cancel when before.Status == VisitStatus.Arrived:
                // Only an arrived patient was in the queue; cancelling a future visit leaves the board as it was.
                names.Add(BoardEventNames.QueueUpdated);
                break;
        }

        return [.. names.Select(name => new VisitFlowEvent(name, after.VisitId, after.ClinicId, after.RoomId,
            after.ProviderId, before.Status, after.Status, after.Waiting, context.UserId, context.DeviceId, context.At,
            after.Version))];
    }

    internal static void ValidateContext(ChangeContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.UserId == Guid.Empty) throw new ArgumentException("A change needs the user who made it.", nameof(context));
        if (string.IsNullOrWhiteSpace(context.DeviceId))
            throw new ArgumentException("A change needs the device it came from.", nameof(context));
    }

    private static VisitTransitionOutcome Refuse(VisitState state, string code, string message, string? field = null) =>
        new(state, [], new Refusal(code, message, field));

    private static string Describe(VisitState state) =>
        state.Status == VisitStatus.Arrived && state.Waiting is { } waiting
            ? $"{Kebab(state.Status)} ({Kebab(waiting)})"
            : Kebab(state.Status);

    private static string Words(VisitCommandKind command) => Kebab(command).Replace('-', ' ');

    internal static string Kebab<T>(T value) where T : struct, Enum =>
        System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(value.ToString());
}
