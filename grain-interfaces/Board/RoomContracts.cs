namespace MedSpa.GrainInterfaces.Board;

/// <summary>
/// What the room grain owns. The status a wall screen shows is derived from these flags plus the visit in the room
/// (see MedSpa.Grains.Domain.Board.RoomRules.DeriveStatus), so it can never disagree with the visit.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.board.room-state.v1")]
public sealed record RoomState
{
    [Id(0)] public required Guid RoomId { get; init; }
    [Id(1)] public required Guid ClinicId { get; init; }
    /// <summary>Room number or name as printed on the door.</summary>
    [Id(2)] public required string Name { get; init; }
    [Id(3)] public Guid? CurrentVisitId { get; init; }
    /// <summary>Set when a visit leaves after checkout; cleared when staff mark the room clean.</summary>
    [Id(4)] public bool NeedsCleaning { get; init; }
    [Id(5)] public bool OutOfService { get; init; }
    [Id(6)] public string? OutOfServiceReason { get; init; }
    /// <summary>When the room's own flags or occupant last changed (the card's "since").</summary>
    [Id(7)] public DateTimeOffset? Since { get; init; }
    [Id(8)] public long Version { get; init; }
    [Id(9)] public ChangeContext? LastChange { get; init; }
}

/// <summary>The answer to a room command: the new state, or the unchanged one with a refusal.</summary>
[GenerateSerializer, Immutable, Alias("medspa.board.room-change-outcome.v1")]
public sealed record RoomChangeOutcome(
    [property: Id(0)] RoomState State,
    [property: Id(1)] Refusal? Refusal)
{
    public bool Accepted => Refusal is null;
}

/// <summary>
/// One room as the wall screen draws it (data of <c>room.updated</c>). <see cref="Phase"/>, <see cref="ElapsedMinutes"/>
/// and <see cref="Overdue"/> are as of <see cref="AsOf"/>; the page keeps the timer running from
/// <see cref="StartedAt"/> with the same thresholds (MedSpa.Grains.Domain.Board.TreatmentPhases).
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.board.room-card.v1")]
public sealed record RoomCard(
    [property: Id(0)] Guid RoomId,
    [property: Id(1)] string Name,
    [property: Id(2)] RoomStatus Status,
    [property: Id(3)] TreatmentPhase? Phase,
    [property: Id(4)] Guid? VisitId,
    [property: Id(5)] string? Patient,
    [property: Id(6)] Guid? ProviderId,
    [property: Id(7)] string? Treatment,
    [property: Id(8)] DateTimeOffset? StartedAt,
    [property: Id(9)] int? EstimatedMinutes,
    [property: Id(10)] int? ElapsedMinutes,
    [property: Id(11)] bool Overdue,
    [property: Id(12)] DateTimeOffset? Since,
    [property: Id(13)] string? OutOfServiceReason,
    [property: Id(14)] DateTimeOffset AsOf,
    // What the treatment chart of the visit in the room is doing now: injection, notes or review (issue 16).
    [property: Id(15)] string? Activity = null) : BoardEventData;
