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
}

/// <summary>
/// The visit of one appointment. Order of work for a command: decide with VisitFlow (nothing written on a refusal);
/// for seat-in-room, claim the room first (the room grain is the single writer deciding who gets it); persist the
/// visit (the point of no return); then deliver the follow-ups. A crash after the write is repaired on the next
/// activation or command, because the undelivered events are part of the written state.
/// </summary>
public sealed class VisitGrain(
    [PersistentState("visit", GrainStorage.Name)] IPersistentState<VisitGrainState> store,
    IBoardFlowStore rows,
    IBoardPublisher board,
    ILogger<VisitGrain> logger) : Grain, IVisitGrain
{
    private BoardRetry _retry = null!;
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

        var current = store.State.Visit!;
        var outcome = VisitFlow.Transition(current, command, context);
        if (!outcome.Accepted)
        {
            return new VisitCommandResult(true, current, outcome.Refusal);
        }

        if (command.Kind == VisitCommandKind.SeatInRoom)
        {
            var room = GrainFactory.GetGrain<IRoomGrain>(BoardKeys.For(_tenantId, outcome.State.RoomId!.Value));
            var claim = await room.OccupyAsync(outcome.State, context);
            if (!claim.Found)
            {
                return new VisitCommandResult(true, current,
                    new Refusal(BoardFlowCodes.RoomNotFound, "There is no such room in this clinic.", "roomId"));
            }

            if (!claim.Accepted)
            {
                return new VisitCommandResult(true, current, claim.Refusal);
            }
        }

        var undelivered = _undelivered.AddRange(outcome.Events);
        store.State = new VisitGrainState { Visit = outcome.State, Undelivered = undelivered };
        await store.WriteStateAsync();
        _undelivered = undelivered;
        await _retry.RunAsync();

        return new VisitCommandResult(true, outcome.State, null);
    }

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
