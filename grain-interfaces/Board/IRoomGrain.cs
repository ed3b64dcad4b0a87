namespace MedSpa.GrainInterfaces.Board;

/// <summary>
/// One treatment room's live state (key: <see cref="BoardKeys.For"/>(tenant, roomId)), through the pure RoomRules.
/// Keeps the occupant visit's latest state so the card it publishes never disagrees with the visit.
/// </summary>
public interface IRoomGrain : IGrainWithStringKey
{
    /// <summary>The card as of now, or null when the tenant has no such room.</summary>
    Task<RoomCard?> GetCardAsync();

    /// <summary>Seats <paramref name="visit"/> (already in its in-room state): refused with room_not_free unless free.</summary>
    Task<RoomCommandResult> OccupyAsync(VisitState visit, ChangeContext context);

    /// <summary>The occupant's visit moved on (started, documenting, ready, completed → turnover). Idempotent per version.</summary>
    Task ApplyVisitAsync(VisitState visit);

    /// <summary>The treatment chart of <paramref name="visitId"/> is doing <paramref name="activity"/> (injection, notes,
    /// review): shown on the card while that visit is the occupant; ignored for a visit not in this room. Idempotent.</summary>
    Task SetActivityAsync(Guid visitId, string? activity);

    /// <param name="operationId">The caller's operation (its user and Idempotency-Key), or null: a command with an id
    /// the room already applied is answered with its first answer, not run again (a resend after a lost answer).</param>
    Task<RoomCommandResult> MarkCleanAsync(ChangeContext context, string? operationId);

    /// <inheritdoc cref="MarkCleanAsync"/>
    Task<RoomCommandResult> TakeOutOfServiceAsync(string? reason, ChangeContext context, string? operationId);

    /// <inheritdoc cref="MarkCleanAsync"/>
    Task<RoomCommandResult> ReturnToServiceAsync(ChangeContext context, string? operationId);

    /// <summary>
    /// The room's reference row changed through the rooms API (created, renamed, archived, reactivated): re-read it
    /// and publish. A new room's card appears on the board; an archived room leaves it (room.removed) and refuses
    /// every command as not found until it is reactivated. Out-of-service is not read here: the rooms API changes it
    /// through <see cref="TakeOutOfServiceAsync"/>/<see cref="ReturnToServiceAsync"/>, so the rules decide it.
    /// </summary>
    Task RefreshDetailsAsync();
}

/// <summary>The answer to a room command. <see cref="Found"/> false: no such room in the tenant.</summary>
[GenerateSerializer, Immutable, Alias("medspa.board.room-command-result.v1")]
public sealed record RoomCommandResult(
    [property: Id(0)] bool Found,
    [property: Id(1)] RoomCard? Card,
    [property: Id(2)] Refusal? Refusal)
{
    public bool Accepted => Found && Refusal is null;

    public static RoomCommandResult NotFound { get; } = new(false, null, null);
}
