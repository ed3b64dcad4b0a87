using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Grains.Domain.Board;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace MedSpa.Grains.Board;

[GenerateSerializer, Alias("medspa.board.room-grain-state.v1")]
public sealed record RoomGrainState
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
}

/// <summary>
/// A treatment room. The single writer deciding who gets the room: two visits racing to be seated are serialised
/// here and the second is refused with room_not_free.
/// </summary>
public sealed class RoomGrain(
    [PersistentState("room", GrainStorage.Name)] IPersistentState<RoomGrainState> store,
    NpgsqlDataSource db,
    IServiceProvider services,
    TimeProvider time,
    ILogger<RoomGrain> logger) : Grain, IRoomGrain
{
    private readonly BoardSql _sql = new(db);
    private IBoardPublisher _board = null!;
    private BoardRetry _retry = null!;
    private Guid _tenantId;
    private bool _missing;
    private PatientNameDisplay _display;
    private long _publishedRevision;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_tenantId, var roomId) = BoardKeys.Parse(this.GetPrimaryKeyString());
        _board = services.GetService<IBoardPublisher>() ?? new ClinicBoardPublisher(GrainFactory);
        _retry = new BoardRetry(this, _ => PublishAsync());

        if (store.State.Room is null)
        {
            var row = await _sql.LoadRoomAsync(_tenantId, roomId);
            if (row is null)
            {
                _missing = true;
                return;
            }

            var room = RoomRules.NewRoom(roomId, row.Value.ClinicId, row.Value.Name) with
            {
                OutOfService = row.Value.OutOfService,
                OutOfServiceReason = row.Value.OutOfService ? row.Value.Reason : null,
            };
            store.State = new RoomGrainState { Room = room, Archived = !row.Value.Active };
        }
        else if (await _sql.LoadRoomAsync(_tenantId, roomId) is { } current && current.Active == store.State.Archived)
        {
            // Archived or reactivated while the rooms API could not reach this grain: the table decides, and the
            // board hears it below.
            store.State = store.State with { Archived = !current.Active, Revision = store.State.Revision + 1 };
            await store.WriteStateAsync();
        }

        _display = await _sql.LoadNameDisplayAsync(_tenantId, store.State.Room!.ClinicId);
        _publishedRevision = store.State.PublishedRevision;
        if (_publishedRevision < store.State.Revision && !await PublishAsync())
        {
            _retry.Schedule();
        }
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
            return new RoomCommandResult(true, Card(), outcome.Refusal);
        }

        // A retried seat of the visit already here is accepted unchanged by the rules; only a newer visit state is news.
        if (outcome.State == room && store.State.Occupant is { } known && known.Version >= visit.Version)
        {
            return new RoomCommandResult(true, Card(), null);
        }

        // Published when the visit reports its seat (ApplyVisitAsync), so the board hears visit.status_changed first;
        // if the visit never gets there, the next change or activation publishes the card as it is.
        await SaveAsync(store.State with { Room = outcome.State, Occupant = visit }, publish: false);
        return new RoomCommandResult(true, Card(), null);
    }

    public async Task ApplyVisitAsync(VisitState visit)
    {
        if (_missing)
        {
            return;
        }

        if (store.State.Room!.CurrentVisitId != visit.VisitId || (store.State.Occupant is { } known && known.Version >= visit.Version))
        {
            // Nothing new, but the seat itself may still be waiting to be published.
            if (!await PublishAsync())
            {
                _retry.Schedule();
            }

            return;
        }

        var room = store.State.Room!;
        if (visit.Status is VisitStatus.Completed or VisitStatus.Cancelled or VisitStatus.NoShow)
        {
            // A visit only ends through a transition, so its history has the who/when/device of the ending.
            var last = visit.History[^1];
            var context = new ChangeContext(last.UserId, last.DeviceId, last.At);
            // After checkout the room needs cleaning before the next patient.
            var vacated = RoomRules.Vacate(room, visit.VisitId, visit.Status == VisitStatus.Completed, context);
            await SaveAsync(store.State with { Room = vacated.State, Occupant = null });
            return;
        }

        await SaveAsync(store.State with { Occupant = visit });
    }

    public Task<RoomCommandResult> MarkCleanAsync(ChangeContext context) =>
        ChangeAsync(room => RoomRules.MarkClean(room, context));

    public Task<RoomCommandResult> TakeOutOfServiceAsync(string? reason, ChangeContext context) =>
        ChangeAsync(room => RoomRules.TakeOutOfService(room, reason, context));

    public Task<RoomCommandResult> ReturnToServiceAsync(ChangeContext context) =>
        ChangeAsync(room => RoomRules.ReturnToService(room, context));

    public async Task RefreshDetailsAsync()
    {
        if (_missing)
        {
            // Activated (by a command or a read) before the room's row existed: the row may be there now.
            var (_, roomId) = BoardKeys.Parse(this.GetPrimaryKeyString());
            var created = await _sql.LoadRoomAsync(_tenantId, roomId);
            if (created is null)
            {
                return;
            }

            _missing = false;
            store.State = new RoomGrainState
            {
                Room = RoomRules.NewRoom(roomId, created.Value.ClinicId, created.Value.Name) with
                {
                    OutOfService = created.Value.OutOfService,
                    OutOfServiceReason = created.Value.OutOfService ? created.Value.Reason : null,
                },
            };
            _display = await _sql.LoadNameDisplayAsync(_tenantId, created.Value.ClinicId);
        }

        var row = await _sql.LoadRoomAsync(_tenantId, store.State.Room!.RoomId);
        if (row is null)
        {
            return;
        }

        // Saved and published even when this activation just read the same label or flag: the board's card may still
        // carry the old one (the board built it from the table before the change), or not exist yet (a new room).
        await SaveAsync(store.State with { Room = store.State.Room! with { Name = row.Value.Name }, Archived = !row.Value.Active });
    }

    private async Task<RoomCommandResult> ChangeAsync(Func<RoomState, RoomChangeOutcome> rule)
    {
        if (Gone)
        {
            return RoomCommandResult.NotFound;
        }

        var before = store.State.Room!;
        var outcome = rule(before);
        if (!outcome.Accepted)
        {
            return new RoomCommandResult(true, Card(), outcome.Refusal);
        }

        await SaveAsync(store.State with { Room = outcome.State });
        if (before.OutOfService != outcome.State.OutOfService)
        {
            try
            {
                await _sql.SyncRoomServiceAsync(_tenantId, before.RoomId, outcome.State.OutOfService, outcome.State.OutOfServiceReason);
            }
            catch (NpgsqlException e)
            {
                // The grain is the source of truth for live status; the list's flag catches up on the next change.
                logger.LogWarning(e, "Room {RoomId}: out-of-service flag not copied to the rooms table", before.RoomId);
            }
        }

        return new RoomCommandResult(true, Card(), null);
    }

    private async Task SaveAsync(RoomGrainState next, bool publish = true)
    {
        store.State = next with { Revision = store.State.Revision + 1, PublishedRevision = _publishedRevision };
        await store.WriteStateAsync();
        if (publish && !await PublishAsync())
        {
            _retry.Schedule();
        }
    }

    private async Task<bool> PublishAsync()
    {
        var revision = store.State.Revision;
        if (_publishedRevision >= revision)
        {
            return true;
        }

        try
        {
            var name = store.State.Archived ? BoardEventNames.RoomRemoved : BoardEventNames.RoomUpdated;
            await _board.PublishAsync(_tenantId, store.State.Room!.ClinicId, [new BoardChange(name, Card())]);
            _publishedRevision = revision;
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "Room {RoomKey}: card of revision {Revision} not published yet; will retry", this.GetPrimaryKeyString(), revision);
            return false;
        }
    }

    private RoomCard Card()
    {
        var state = store.State;
        var occupant = state.Occupant is { } visit && visit.VisitId == state.Room!.CurrentVisitId ? visit : null;
        return RoomRules.Card(state.Room!, occupant, _display, time.GetUtcNow());
    }
}
