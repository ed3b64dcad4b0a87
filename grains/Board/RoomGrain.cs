using System.Collections.Immutable;
using System.Data.Common;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Grains.Domain;
using MedSpa.Grains.Domain.Board;
using Microsoft.Extensions.Logging;

namespace MedSpa.Grains.Board;

[GenerateSerializer, Alias("medspa.board.room-grain-state.v1")]
public sealed record RoomGrainState : IBoardViewState<RoomGrainState>
{
    [Id(0)] public RoomState? Room { get; init; }
    /// <summary>The latest state of the visit in the room (null when empty): the card is derived from it.</summary>
    [Id(1)] public VisitState? Occupant { get; init; }
    /// <summary>Bumped by every write; the card of a revision is published after the write.</summary>
    [Id(2)] public long Revision { get; init; }
    /// <summary>The last revision known to be on the board when this state was written.</summary>
    [Id(3)] public long PublishedRevision { get; init; }
    /// <summary>Archived through the rooms API: off the board, and every command answers not found.</summary>
    [Id(4)] public bool Archived { get; init; }
    /// <summary>The chart activity of <see cref="ActivityVisitId"/> (injection, notes, review), shown while it is the occupant.</summary>
    [Id(5)] public Guid? ActivityVisitId { get; init; }
    [Id(6)] public string? Activity { get; init; }
    /// <summary>The last keyed commands applied and what they answered (<see cref="RecentOperations"/>): written with the
    /// change itself, so a resend after a lost answer is recognised even by the activation on another silo.</summary>
    [Id(7)] public ImmutableList<RoomOperation>? Operations { get; init; }

    public RoomGrainState WithRevisions(long revision, long publishedRevision) =>
        this with { Revision = revision, PublishedRevision = publishedRevision };
}

/// <summary>A keyed room command the room applied: its id, what it asked (to tell a reused id), and its answer.</summary>
[GenerateSerializer, Immutable, Alias("medspa.board.room-operation.v1")]
public sealed record RoomOperation(
    [property: Id(0)] string OperationId,
    [property: Id(1)] string Fingerprint,
    [property: Id(2)] RoomCommandResult Result);

/// <summary>
/// A treatment room. The single writer deciding who gets the room: two visits racing to be seated are serialised
/// here and the second is refused with room_not_free.
/// </summary>
public sealed class RoomGrain(
    [PersistentState("room", GrainStorage.Name)] IPersistentState<RoomGrainState> store,
    IBoardFlowStore rows,
    IBoardPublisher board,
    TimeProvider time,
    ILogger<RoomGrain> logger) : Grain, IRoomGrain
{
    private BoardView<RoomGrainState> _view = null!;
    private Guid _tenantId;
    private Guid _roomId;
    private bool _missing;
    private PatientNameDisplay _display;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_tenantId, _roomId) = BoardKeys.Parse(this.GetPrimaryKeyString());
        _view = new BoardView<RoomGrainState>(this, store, board, _tenantId, View, logger);
        var row = await rows.LoadRoomAsync(_tenantId, _roomId);
        if (store.State.Room is null)
        {
            if (row is null)
            {
                _missing = true;
                return;
            }

            store.State = new RoomGrainState { Room = NewRoom(row), Archived = !row.Active };
        }
        else if (row is not null && row.Active == store.State.Archived)
        {
            // Archived or reactivated while the rooms API could not reach this grain: the table decides, and the
            // board hears it below.
            await _view.SaveAsync(store.State with { Archived = !row.Active }, BoardNews.Later);
        }

        _display = await rows.LoadNameDisplayAsync(_tenantId, store.State.Room!.ClinicId);
        await _view.CatchUpAsync();
    }

    public Task<RoomCard?> GetCardAsync() => Task.FromResult(Gone ? null : Card());

    /// <summary>No such room, or archived: to commands and readers alike, it is not there.</summary>
    private bool Gone => _missing || store.State.Archived;

    public async Task<RoomCommandResult> OccupyAsync(VisitState visit, ChangeContext context)
    {
        if (Gone)
        {
            return RoomCommandResult.NotFound;
        }

        var room = store.State.Room!;
        if (visit.ClinicId != room.ClinicId)
        {
            return new RoomCommandResult(true, Card(),
                new Refusal(BoardFlowCodes.RoomInOtherClinic, $"Room {room.Name} belongs to another clinic.", "roomId"));
        }

        var outcome = RoomRules.Occupy(room, visit.VisitId, context);
        if (!outcome.Accepted)
        {
            if (room.CurrentVisitId is { } holder && holder != visit.VisitId)
            {
                // The holder's own seat may have been interrupted (its silo died before it heard this room's answer):
                // nudge it to finish or undo that seat, so the room does not stay held by a visit that is not in it.
                await GrainFactory.GetGrain<IVisitGrain>(BoardKeys.For(_tenantId, holder)).ResolveSeatAsync();
            }

            return new RoomCommandResult(true, Card(), outcome.Refusal);
        }

        // A retried seat of the visit already here is accepted unchanged by the rules; only a newer visit state is news.
        if (outcome.State == room && store.State.Occupant is { } known && known.Version >= visit.Version)
        {
            return new RoomCommandResult(true, Card(), null);
        }

        // Published when the visit reports its seat (ApplyVisitAsync), so the board hears visit.status_changed first;
        // if the visit never gets there, the next change or activation publishes the card as it is.
        await _view.SaveAsync(store.State with { Room = outcome.State, Occupant = visit }, BoardNews.Later);
        return new RoomCommandResult(true, Card(), null);
    }

    public async Task ApplyVisitAsync(VisitState visit)
    {
        if (_missing)
        {
            return;
        }

        var room = store.State.Room!;
        if (room.CurrentVisitId != visit.VisitId || (store.State.Occupant is { } known && known.Version >= visit.Version))
        {
            // Nothing new, but the seat itself may still be waiting to be published.
            await _view.CatchUpAsync();
            return;
        }

        if (visit.Status is VisitStatus.Completed or VisitStatus.Cancelled or VisitStatus.NoShow)
        {
            // A visit only ends through a transition, so its history has the who/when/device of the ending.
            var last = visit.History[^1];
            var context = new ChangeContext(last.UserId, last.DeviceId, last.At);
            // After checkout the room needs cleaning before the next patient.
            var vacated = RoomRules.Vacate(room, visit.VisitId, visit.Status == VisitStatus.Completed, context);
            await _view.SaveAsync(store.State with { Room = vacated.State, Occupant = null });
            return;
        }

        await _view.SaveAsync(store.State with { Occupant = visit });
    }

    public async Task SetActivityAsync(Guid visitId, string? activity)
    {
        if (Gone || store.State.Room!.CurrentVisitId != visitId)
        {
            // Not (or no longer) this room's patient: the chart of a visit elsewhere does not paint this card.
            return;
        }

        if (store.State.ActivityVisitId == visitId && store.State.Activity == activity)
        {
            await _view.CatchUpAsync();
            return;
        }

        await _view.SaveAsync(store.State with { ActivityVisitId = visitId, Activity = activity });
    }

    public Task<RoomCommandResult> MarkCleanAsync(ChangeContext context, string? operationId) =>
        ChangeAsync(operationId, "clean", room => RoomRules.MarkClean(room, context));

    public Task<RoomCommandResult> TakeOutOfServiceAsync(string? reason, ChangeContext context, string? operationId) =>
        ChangeAsync(operationId, "out-of-service\n" + reason, room => RoomRules.TakeOutOfService(room, reason, context));

    public Task<RoomCommandResult> ReturnToServiceAsync(ChangeContext context, string? operationId) =>
        ChangeAsync(operationId, "in-service", room => RoomRules.ReturnToService(room, context));

    public async Task RefreshDetailsAsync()
    {
        var row = await rows.LoadRoomAsync(_tenantId, _roomId);
        if (row is null)
        {
            return;
        }

        if (_missing)
        {
            // Activated (by a command or a read) before the room's row existed: it is there now.
            _missing = false;
            store.State = new RoomGrainState { Room = NewRoom(row) };
            _display = await rows.LoadNameDisplayAsync(_tenantId, row.ClinicId);
        }

        // Saved and published even when this activation just read the same label or flag: the board's card may still
        // carry the old one (the board built it from the table before the change), or not exist yet (a new room).
        await _view.SaveAsync(store.State with { Room = store.State.Room! with { Name = row.Name }, Archived = !row.Active });
    }

    private async Task<RoomCommandResult> ChangeAsync(string? operationId, string fingerprint, Func<RoomState, RoomChangeOutcome> rule)
    {
        if (Gone)
        {
            return RoomCommandResult.NotFound;
        }

        if (operationId is not null && RecentOperations.Find(store.State.Operations, operationId, o => o.OperationId) is { } done)
        {
            // Applied already, its answer lost on the way (e.g. with a silo): the same answer again, nothing run twice.
            return done.Fingerprint == fingerprint
                ? done.Result
                : new RoomCommandResult(true, Card(), new Refusal(BoardFlowCodes.OperationReused,
                    "This Idempotency-Key was already used for a different command on this room. Use a new key for a new operation."));
        }

        var before = store.State.Room!;
        var outcome = rule(before);
        if (!outcome.Accepted)
        {
            // Not remembered: a refusal changed nothing, so running the resend again answers from the state as it is.
            return new RoomCommandResult(true, Card(), outcome.Refusal);
        }

        var next = store.State with { Room = outcome.State };
        var result = new RoomCommandResult(true, Card(next), null);
        if (operationId is not null)
        {
            next = next with { Operations = RecentOperations.Remember(next.Operations, new RoomOperation(operationId, fingerprint, result)) };
        }

        await _view.SaveAsync(next);
        if (before.OutOfService != outcome.State.OutOfService)
        {
            try
            {
                await rows.SyncRoomServiceAsync(_tenantId, _roomId, outcome.State.OutOfService, outcome.State.OutOfServiceReason);
            }
            catch (DbException e)
            {
                // The grain is the source of truth for live status; the list's flag catches up on the next change.
                logger.LogWarning(e, "Room {RoomId}: out-of-service flag not copied to the rooms table", _roomId);
            }
        }

        return result;
    }

    private RoomState NewRoom(RoomDetails row) =>
        RoomRules.NewRoom(_roomId, row.ClinicId, row.Name) with
        {
            OutOfService = row.OutOfService,
            OutOfServiceReason = row.OutOfService ? row.OutOfServiceReason : null,
        };

    private IEnumerable<(Guid, BoardChange)> View() =>
        [(store.State.Room!.ClinicId, new BoardChange(store.State.Archived ? BoardEventNames.RoomRemoved : BoardEventNames.RoomUpdated, Card()))];

    private RoomCard Card() => Card(store.State);

    private RoomCard Card(RoomGrainState state)
    {
        var occupant = state.Occupant is { } visit && visit.VisitId == state.Room!.CurrentVisitId ? visit : null;
        var card = RoomRules.Card(state.Room!, occupant, _display, time.GetUtcNow());
        return card.VisitId is { } shown && shown == state.ActivityVisitId ? card with { Activity = state.Activity } : card;
    }
}
