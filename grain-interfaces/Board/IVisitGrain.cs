namespace MedSpa.GrainInterfaces.Board;

/// <summary>
/// One appointment's day (key: <see cref="BoardKeys.For"/>(tenant, appointmentId)). Owns the <see cref="VisitState"/>
/// through the pure VisitFlow rules, keeps the appointment's SQL status in step, and tells the room, provider and
/// waiting-room grains (and through them the clinic board) what changed.
/// </summary>
public interface IVisitGrain : IGrainWithStringKey
{
    /// <summary>The visit, or null when the tenant of the key has no such appointment.</summary>
    Task<VisitState?> GetAsync();

    /// <summary>Applies one command; a refusal leaves everything as it was and says why.</summary>
    Task<VisitCommandResult> ExecuteAsync(VisitCommand command, ChangeContext context);

    /// <summary>
    /// Re-reads the booking (start, duration, provider, room, priority) after the appointment was rescheduled in SQL.
    /// Only a visit that has not started flowing (scheduled or confirmed) takes the new booking.
    /// </summary>
    Task<VisitState?> RefreshBookingAsync();

    /// <summary>
    /// Finishes a seat whose room claim's answer was lost (a silo died between the room and the visit): completed when
    /// the room takes or holds the visit, undone when the room went to another. Sent by a room that refuses a seat
    /// because this visit holds it, so a holder whose seat was interrupted converges even if nobody else calls it.
    /// One-way: the room does not wait for it.
    /// </summary>
    [Orleans.Concurrency.OneWay]
    Task ResolveSeatAsync();
}

/// <summary>The answer to a visit command. <see cref="Found"/> false: no such appointment in the tenant.</summary>
[GenerateSerializer, Immutable, Alias("medspa.board.visit-command-result.v1")]
public sealed record VisitCommandResult(
    [property: Id(0)] bool Found,
    [property: Id(1)] VisitState? State,
    [property: Id(2)] Refusal? Refusal)
{
    public bool Accepted => Found && Refusal is null;

    public static VisitCommandResult NotFound { get; } = new(false, null, null);
}

/// <summary>
/// The clinic's waiting room (key: <see cref="BoardKeys.For"/>(tenant, clinicId)): the arrived visits not yet in a
/// room. One writer per clinic, so queue updates reach the board in the order they happened.
/// </summary>
public interface IWaitingRoomGrain : IGrainWithStringKey
{
    /// <summary>The queue in WaitingQueue order, with minutes waited as of now.</summary>
    Task<WaitingQueueView> GetQueueAsync();

    /// <summary>A visit of this clinic changed: it joins, moves in or leaves the queue. Idempotent per visit version.</summary>
    Task ApplyVisitAsync(VisitState visit);
}
