using System.Collections.Immutable;

namespace MedSpa.GrainInterfaces.Board;

/// <summary>Who changed something, when, and from which device. Every transition records one.</summary>
[GenerateSerializer, Immutable, Alias("medspa.board.change-context.v1")]
public sealed record ChangeContext(
    [property: Id(0)] Guid UserId,
    [property: Id(1)] string DeviceId,
    [property: Id(2)] DateTimeOffset At);

/// <summary>
/// A request to move a visit along its flow. <see cref="RoomId"/> is used by <see cref="VisitCommandKind.SeatInRoom"/>
/// and <see cref="VisitCommandKind.CallToRoom"/>, <see cref="ProviderId"/> by
/// <see cref="VisitCommandKind.StartTreatment"/>, <see cref="Reason"/> by <see cref="VisitCommandKind.Cancel"/>;
/// the others ignore them.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.board.visit-command.v1")]
public sealed record VisitCommand(
    [property: Id(0)] VisitCommandKind Kind,
    [property: Id(1)] Guid? RoomId = null,
    [property: Id(2)] Guid? ProviderId = null,
    [property: Id(3)] string? Reason = null)
{
    public static VisitCommand Confirm() => new(VisitCommandKind.Confirm);
    public static VisitCommand MarkInCar() => new(VisitCommandKind.MarkInCar);
    public static VisitCommand CheckIn() => new(VisitCommandKind.CheckIn);
    public static VisitCommand CallToRoom(Guid? roomId = null) => new(VisitCommandKind.CallToRoom, RoomId: roomId);
    public static VisitCommand SeatInRoom(Guid? roomId = null) => new(VisitCommandKind.SeatInRoom, RoomId: roomId);
    public static VisitCommand StartTreatment(Guid? providerId = null) =>
        new(VisitCommandKind.StartTreatment, ProviderId: providerId);
    public static VisitCommand StartDocumenting() => new(VisitCommandKind.StartDocumenting);
    public static VisitCommand MarkReady() => new(VisitCommandKind.MarkReady);
    public static VisitCommand Complete() => new(VisitCommandKind.Complete);
    public static VisitCommand Cancel(string reason) => new(VisitCommandKind.Cancel, Reason: reason);
    public static VisitCommand MarkNoShow() => new(VisitCommandKind.MarkNoShow);
}

/// <summary>One accepted transition, kept in the visit's history (the audit of who moved the patient when).</summary>
[GenerateSerializer, Immutable, Alias("medspa.board.visit-transition.v1")]
public sealed record VisitTransitionRecord(
    [property: Id(0)] long Version,
    [property: Id(1)] VisitCommandKind Command,
    [property: Id(2)] VisitStatus From,
    [property: Id(3)] WaitingSubStatus? WaitingFrom,
    [property: Id(4)] VisitStatus To,
    [property: Id(5)] WaitingSubStatus? WaitingTo,
    [property: Id(6)] Guid UserId,
    [property: Id(7)] string DeviceId,
    [property: Id(8)] DateTimeOffset At);

/// <summary>
/// The patient-flow state of one appointment's day, owned by the visit grain. <see cref="Waiting"/> is set while
/// the patient has not reached a room (scheduled, confirmed, arrived) and null afterwards.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.board.visit-state.v1")]
public sealed record VisitState
{
    [Id(0)] public required Guid VisitId { get; init; }
    [Id(1)] public required Guid ClinicId { get; init; }
    [Id(2)] public required Guid PatientId { get; init; }
    /// <summary>Full name as booked; wall screens show it through the clinic's <see cref="PatientNameDisplay"/>.</summary>
    [Id(3)] public required string PatientName { get; init; }
    /// <summary>The booked provider; replaced by whoever actually starts the treatment.</summary>
    [Id(4)] public Guid? ProviderId { get; init; }
    /// <summary>The booked or called room; replaced by the room the patient is seated in.</summary>
    [Id(5)] public Guid? RoomId { get; init; }
    /// <summary>Service name shown on the room card.</summary>
    [Id(6)] public string? Treatment { get; init; }
    [Id(7)] public required DateTimeOffset ScheduledStart { get; init; }
    [Id(8)] public required int EstimatedMinutes { get; init; }
    [Id(9)] public PatientPriority Priority { get; init; }
    [Id(10)] public required VisitStatus Status { get; init; }
    [Id(11)] public WaitingSubStatus? Waiting { get; init; }
    /// <summary>Number of accepted transitions so far (0 for a new visit).</summary>
    [Id(12)] public long Version { get; init; }
    [Id(13)] public DateTimeOffset? ConfirmedAt { get; init; }
    /// <summary>First arrival (in the car or at the desk); the waiting queue counts from here.</summary>
    [Id(14)] public DateTimeOffset? ArrivedAt { get; init; }
    [Id(15)] public DateTimeOffset? CheckedInAt { get; init; }
    [Id(16)] public DateTimeOffset? CalledAt { get; init; }
    [Id(17)] public DateTimeOffset? InRoomAt { get; init; }
    [Id(18)] public DateTimeOffset? StartedAt { get; init; }
    [Id(19)] public DateTimeOffset? DocumentingAt { get; init; }
    [Id(20)] public DateTimeOffset? ReadyAt { get; init; }
    [Id(21)] public DateTimeOffset? CompletedAt { get; init; }
    [Id(22)] public DateTimeOffset? CancelledAt { get; init; }
    [Id(23)] public string? CancelReason { get; init; }
    [Id(24)] public DateTimeOffset? NoShowAt { get; init; }
    [Id(25)] public ImmutableList<VisitTransitionRecord> History { get; init; } = [];
}

/// <summary>
/// A fact about one visit transition. Besides the visit's own events (<c>treatment.started</c>,
/// <c>waitingRoom.patient_checked_in</c>, ...) a transition names the live views it touched:
/// <c>room.updated</c> (<see cref="RoomId"/>), <c>provider.status_changed</c> (<see cref="ProviderId"/>),
/// <c>waitingRoom.queue_updated</c>. The room, provider and board grains react to those by re-deriving the view and
/// publishing it; a view whose derived status did not change need not be published.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.board.visit-flow-event.v1")]
public sealed record VisitFlowEvent(
    [property: Id(0)] string Event,
    [property: Id(1)] Guid VisitId,
    [property: Id(2)] Guid ClinicId,
    [property: Id(3)] Guid? RoomId,
    [property: Id(4)] Guid? ProviderId,
    [property: Id(5)] VisitStatus From,
    [property: Id(6)] VisitStatus To,
    [property: Id(7)] WaitingSubStatus? WaitingTo,
    [property: Id(8)] Guid UserId,
    [property: Id(9)] string DeviceId,
    [property: Id(10)] DateTimeOffset At,
    [property: Id(11)] long Version) : BoardEventData;

/// <summary>
/// The answer to a visit command: accepted (the new <see cref="State"/> and its <see cref="Events"/>) or refused
/// (<see cref="Refusal"/> set, <see cref="State"/> is the unchanged current state, no events).
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.board.visit-transition-outcome.v1")]
public sealed record VisitTransitionOutcome(
    [property: Id(0)] VisitState State,
    [property: Id(1)] ImmutableArray<VisitFlowEvent> Events,
    [property: Id(2)] Refusal? Refusal)
{
    public bool Accepted => Refusal is null;
}

/// <summary>Stable refusal codes of the live board (the API maps them to 409 or 400).</summary>
public static class BoardErrorCodes
{
    /// <summary>The current state does not allow the command (409 with the current state).</summary>
    public const string InvalidTransition = "invalid_transition";
    /// <summary>Seating a patient needs a room: none given and none booked (400, field roomId).</summary>
    public const string RoomRequired = "room_required";
    /// <summary>Starting a treatment needs a provider: none given and none booked (400, field providerId).</summary>
    public const string ProviderRequired = "provider_required";
    /// <summary>Cancelling a visit or taking a room out of service needs a reason (400, field reason).</summary>
    public const string ReasonRequired = "reason_required";
    /// <summary>The room is occupied, in turnover or out of service (409).</summary>
    public const string RoomNotFree = "room_not_free";
}

/// <summary>Refusal codes of the flow grains and the rooms API beyond the domain's <see cref="BoardErrorCodes"/>.</summary>
public static class BoardFlowCodes
{
    /// <summary>The room named does not exist in the tenant (400, field roomId).</summary>
    public const string RoomNotFound = "room_not_found";
    /// <summary>The room belongs to another clinic than the visit (400, field roomId).</summary>
    public const string RoomInOtherClinic = "room_in_other_clinic";
    /// <summary>A room with a visit in it cannot be archived (409).</summary>
    public const string RoomOccupied = "room_occupied";
    /// <summary>An operation id (Idempotency-Key) the room or provider already applied to a different command (422).</summary>
    public const string OperationReused = "board_operation_reused";
}
