using System.Collections.Immutable;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Grains.Domain.Board;
using Microsoft.Extensions.Logging;

namespace MedSpa.Grains.Board;

[GenerateSerializer, Alias("medspa.board.visit-grain-state.v1")]
public sealed record VisitGrainState
{
    [Id(0)] public VisitState? Visit { get; init; }

    /// <summary>
    /// Events of accepted transitions whose follow-ups (SQL status, room/provider/queue grains, board) were not yet
    /// confirmed when the state was written. Replayed on activation: delivery is at least once, and every follow-up
    /// is idempotent per visit version.
    /// </summary>
    [Id(1)] public ImmutableList<VisitFlowEvent> Undelivered { get; init; } = [];

    /// <summary>A seat in progress: written before the room is asked, cleared when the visit is seated or the seat undone.</summary>
    [Id(2)] public PendingSeat? Seat { get; init; }

    /// <summary>The visit version a seat finished by recovery (not by its own request) reached: the client's retry of
    /// that seat is answered with it instead of "already in the room".</summary>
    [Id(3)] public long? RecoveredSeatVersion { get; init; }
}

/// <summary>The intent of a seat command: the visit as it will be once seated, the events that then follow, and who asked.</summary>
[GenerateSerializer, Alias("medspa.board.pending-seat.v1")]
public sealed record PendingSeat(
    [property: Id(0)] VisitState Target,
    [property: Id(1)] ImmutableArray<VisitFlowEvent> Events,
    [property: Id(2)] ChangeContext Context);

/// <summary>
/// The visit of one appointment. Order of work for a command: decide with VisitFlow (nothing written on a refusal);
/// for seat-in-room, claim the room first (the room grain is the single writer deciding who gets it); persist the
/// visit (the point of no return); then deliver the follow-ups. A crash after the write is repaired on the next
/// activation or command, because the undelivered events are part of the written state.
/// Seating changes two grains (the room, then the visit), so its intent (<see cref="PendingSeat"/>) is written before
/// the room is asked. When the room's answer is lost (its silo died, the call timed out) or the visit's write fails, the
/// intent stays: a timer of this activation, the next activation, the next command, or the room refusing someone else
/// (<see cref="IVisitGrain.ResolveSeatAsync"/>) asks the room again — the room answers a repeated claim by the same
/// visit as accepted — and the seat is completed, or undone when the room went to another visit. A room is then never
/// left holding a visit that is still waiting.
/// </summary>
public sealed class VisitGrain(
    [PersistentState("visit", GrainStorage.Name)] IPersistentState<VisitGrainState> store,
    IBoardFlowStore rows,
    IBoardPublisher board,
    ILogger<VisitGrain> logger) : Grain, IVisitGrain
{
    private BoardRetry _retry = null!;
    private BoardRetry _seatRetry = null!;
    private Guid _tenantId;
    private Guid _appointmentId;
    private bool _missing;
    // Undelivered events in memory; the stored list may be longer until the next write (replays are harmless).
    private ImmutableList<VisitFlowEvent> _undelivered = [];
    private long _ownPublishedVersion;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_tenantId, _appointmentId) = BoardKeys.Parse(this.GetPrimaryKeyString());
        _retry = new BoardRetry(this, DeliverAsync);
        _seatRetry = new BoardRetry(this, TryResolveSeatAsync);

        if (store.State.Visit is null)
        {
            var booking = await rows.LoadAppointmentAsync(_tenantId, _appointmentId);
            if (booking is null)
            {
                _missing = true;
                return;
            }

            // Not written until the first transition: an untouched visit is fully described by its appointment row.
            store.State = new VisitGrainState { Visit = NewVisit(booking) };
            return;
        }

        _undelivered = store.State.Undelivered;
        if (!_undelivered.IsEmpty)
        {
            await _retry.RunAsync();
        }

        if (store.State.Seat is not null)
        {
            // Not now: activation must not wait on a room that may be on the silo that just died.
            _seatRetry.Schedule();
        }
    }

    public Task<VisitState?> GetAsync()
    {
        if (_missing)
        {
            this.DeactivateOnIdle();
        }

        return Task.FromResult(_missing ? null : store.State.Visit);
    }

    public async Task<VisitCommandResult> ExecuteAsync(VisitCommand command, ChangeContext context)
    {
        if (_missing)
        {
            this.DeactivateOnIdle();
            return VisitCommandResult.NotFound;
        }

        // An interrupted seat is finished first: every command starts from a visit that is either seated or not.
        if (store.State.Seat is { } pending && await ResolveSeatAsync(pending) && IsSameSeat(command, pending.Target))
        {
            // The retry of the interrupted seat itself: it is done now.
            return new VisitCommandResult(true, store.State.Visit, null);
        }

        var current = store.State.Visit!;
        if (store.State.RecoveredSeatVersion == current.Version && IsSameSeat(command, current))
        {
            return new VisitCommandResult(true, current, null);
        }

        var outcome = VisitFlow.Transition(current, command, context);
        if (!outcome.Accepted)
        {
            return new VisitCommandResult(true, current, outcome.Refusal);
        }

        if (command.Kind == VisitCommandKind.SeatInRoom)
        {
            return await SeatAsync(current, new PendingSeat(outcome.State, outcome.Events, context));
        }

        var undelivered = _undelivered.AddRange(outcome.Events);
        store.State = new VisitGrainState { Visit = outcome.State, Undelivered = undelivered };
        await store.WriteStateAsync();
        _undelivered = undelivered;
        await _retry.RunAsync();

        return new VisitCommandResult(true, outcome.State, null);
    }

    public async Task ResolveSeatAsync()
    {
        if (!_missing && store.State.Seat is not null)
        {
            await _seatRetry.RunAsync();
        }
    }

    /// <summary>Seats the visit: intent, room, visit. A failure after the intent leaves it for recovery and is passed on.</summary>
    private async Task<VisitCommandResult> SeatAsync(VisitState current, PendingSeat seat)
    {
        var before = store.State;
        store.State = before with { Seat = seat, RecoveredSeatVersion = null };
        try
        {
            await store.WriteStateAsync();
        }
        catch
        {
            // Nothing was asked of the room: the seat never started.
            store.State = before;
            throw;
        }

        RoomCommandResult claim;
        try
        {
            claim = await Room(seat).OccupyAsync(seat.Target, seat.Context);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The room may or may not have taken the visit: recovery asks it again.
            _seatRetry.Schedule();
            throw;
        }

        if (!claim.Found || !claim.Accepted)
        {
            await UndoSeatAsync();
            return new VisitCommandResult(true, current, claim.Found
                ? claim.Refusal
                : new Refusal(BoardFlowCodes.RoomNotFound, "There is no such room in this clinic.", "roomId"));
        }

        await CompleteSeatAsync(seat, recovered: false);
        return new VisitCommandResult(true, seat.Target, null);
    }

    /// <summary>True when the seat is now complete, false when it was undone. Throws while the room cannot be reached.</summary>
    private async Task<bool> ResolveSeatAsync(PendingSeat seat)
    {
        // A repeated claim by the same visit is accepted unchanged by the room (RoomRules.Occupy).
        var claim = await Room(seat).OccupyAsync(seat.Target, seat.Context);
        if (claim.Found && claim.Accepted)
        {
            await CompleteSeatAsync(seat, recovered: true);
            return true;
        }

        logger.LogWarning("Visit {VisitKey}: an interrupted seat was undone; the room answered {Refusal}",
            this.GetPrimaryKeyString(), claim.Refusal?.Code ?? "not found");
        await UndoSeatAsync();
        return false;
    }

    private async Task<bool> TryResolveSeatAsync()
    {
        if (store.State.Seat is not { } seat)
        {
            return true;
        }

        try
        {
            await ResolveSeatAsync(seat);
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "Visit {VisitKey}: an interrupted seat is not resolved yet; will retry", this.GetPrimaryKeyString());
            if (e is Orleans.Storage.InconsistentStateException)
            {
                // Another activation wrote since: the next activation reads the stored truth and resolves from there.
                this.DeactivateOnIdle();
                return true;
            }

            return false;
        }
    }

    private async Task CompleteSeatAsync(PendingSeat seat, bool recovered)
    {
        var before = store.State;
        var undelivered = _undelivered.AddRange(seat.Events);
        store.State = new VisitGrainState
        {
            Visit = seat.Target, Undelivered = undelivered, RecoveredSeatVersion = recovered ? seat.Target.Version : null,
        };
        try
        {
            await store.WriteStateAsync();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The room holds the visit but the visit is not written: keep the intent and finish it later.
            store.State = before;
            _seatRetry.Schedule();
            throw;
        }

        _undelivered = undelivered;
        await _retry.RunAsync();
    }

    private async Task UndoSeatAsync()
    {
        store.State = store.State with { Seat = null };
        await store.WriteStateAsync();
    }

    private IRoomGrain Room(PendingSeat seat) => GrainFactory.GetGrain<IRoomGrain>(BoardKeys.For(_tenantId, seat.Target.RoomId!.Value));

    /// <summary>A seat command naming the room of <paramref name="seated"/> (or no room: the one the visit was called to).</summary>
    private static bool IsSameSeat(VisitCommand command, VisitState seated) =>
        command.Kind == VisitCommandKind.SeatInRoom && (command.RoomId is null || command.RoomId == seated.RoomId);

    public async Task<VisitState?> RefreshBookingAsync()
    {
        if (_missing)
        {
            return null;
        }

        var visit = store.State.Visit!;
        if (visit.Status is not (VisitStatus.Scheduled or VisitStatus.Confirmed))
        {
            return visit;
        }

        var booking = await rows.LoadAppointmentAsync(_tenantId, _appointmentId);
        if (booking is null)
        {
            return visit;
        }

        var refreshed = visit with
        {
            ProviderId = booking.ProviderId,
            RoomId = booking.RoomId,
            Treatment = booking.Treatment,
            ScheduledStart = booking.StartsAt,
            EstimatedMinutes = booking.DurationMinutes,
            Priority = booking.Priority,
        };
        if (refreshed == visit)
        {
            return visit;
        }

        store.State = store.State with { Visit = refreshed };
        // An untouched visit is not stored yet (see activation); only a stored one has to be rewritten.
        if (visit.Version > 0 || store.RecordExists)
        {
            await store.WriteStateAsync();
        }

        return refreshed;
    }

    /// <summary>
    /// Delivers the follow-ups of the undelivered events, all from the latest visit state: the SQL status, the room,
    /// each provider involved, the waiting room, and the visit's own events to the board. True when all went through.
    /// </summary>
    private async Task<bool> DeliverAsync()
    {
        if (_undelivered.IsEmpty)
        {
            return true;
        }

        var visit = store.State.Visit!;
        var events = _undelivered;
        try
        {
            await rows.SyncAppointmentStatusAsync(_tenantId, visit);

            // The visit's own events first (visit.status_changed leads), then the views they touched. A retry after a
            // later step failed does not repeat what this activation already published.
            var own = events
                .Where(e => e.Version > _ownPublishedVersion && !IsView(e.Event))
                .Select(e => new BoardChange(e.Event, e))
                .ToImmutableArray();
            if (!own.IsEmpty)
            {
                await board.PublishAsync(_tenantId, visit.ClinicId, own);
            }

            _ownPublishedVersion = events.Max(e => e.Version);

            // The views in the order the flow named them (seat: queue then room; start: room then provider).
            foreach (var view in events.Select(e => e.Event).Where(IsView).Distinct().ToList())
            {
                switch (view)
                {
                    case BoardEventNames.RoomUpdated when visit.RoomId is { } roomId:
                        await GrainFactory.GetGrain<IRoomGrain>(BoardKeys.For(_tenantId, roomId)).ApplyVisitAsync(visit);
                        break;
                    case BoardEventNames.ProviderStatusChanged:
                        // The latest provider event per provider is the one that counts (status is a fact, not a delta).
                        foreach (var providerEvent in events
                                     .Where(e => e.Event == BoardEventNames.ProviderStatusChanged && e.ProviderId is not null)
                                     .GroupBy(e => e.ProviderId!.Value)
                                     .Select(g => g.Last()))
                        {
                            await GrainFactory.GetGrain<IProviderGrain>(BoardKeys.For(_tenantId, providerEvent.ProviderId!.Value))
                                .ApplyVisitAsync(providerEvent);
                        }

                        break;
                    case BoardEventNames.QueueUpdated:
                        await GrainFactory.GetGrain<IWaitingRoomGrain>(BoardKeys.For(_tenantId, visit.ClinicId)).ApplyVisitAsync(visit);
                        break;
                }
            }

            _undelivered = _undelivered.RemoveRange(events);
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "Visit {VisitKey}: follow-ups of version {Version} not delivered yet; will retry",
                this.GetPrimaryKeyString(), visit.Version);
            return false;
        }
    }

    /// <summary>Events naming a live view another grain re-derives and publishes (not relayed by the visit itself).</summary>
    private static bool IsView(string name) =>
        name is BoardEventNames.RoomUpdated or BoardEventNames.ProviderStatusChanged or BoardEventNames.QueueUpdated;

    private VisitState NewVisit(AppointmentBooking booking) =>
        VisitFlow.NewVisit(_appointmentId, booking.ClinicId, booking.PatientId, booking.PatientName, booking.StartsAt,
            booking.DurationMinutes, booking.ProviderId, booking.RoomId, booking.Treatment, booking.Priority);
}
