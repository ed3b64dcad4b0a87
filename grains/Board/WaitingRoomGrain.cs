using System.Collections.Immutable;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Grains.Domain.Board;
using Microsoft.Extensions.Logging;

namespace MedSpa.Grains.Board;

[GenerateSerializer, Alias("medspa.board.waiting-room-state.v1")]
public sealed record WaitingRoomState : IBoardViewState<WaitingRoomState>
{
    /// <summary>The arrived visits not yet in a room, by visit id (their latest state).</summary>
    [Id(0)] public ImmutableDictionary<Guid, VisitState> Waiting { get; init; } = ImmutableDictionary<Guid, VisitState>.Empty;
    [Id(1)] public long Revision { get; init; }
    [Id(2)] public long PublishedRevision { get; init; }

    public WaitingRoomState WithRevisions(long revision, long publishedRevision) =>
        this with { Revision = revision, PublishedRevision = publishedRevision };
}

/// <summary>A clinic's waiting queue; the single writer of its waitingRoom.queue_updated events.</summary>
public sealed class WaitingRoomGrain(
    [PersistentState("waiting-room", GrainStorage.Name)] IPersistentState<WaitingRoomState> store,
    IBoardFlowStore rows,
    IBoardPublisher board,
    TimeProvider time,
    ILogger<WaitingRoomGrain> logger) : Grain, IWaitingRoomGrain
{
    private BoardView<WaitingRoomState> _view = null!;
    private Guid _clinicId;
    private PatientNameDisplay _display;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (var tenantId, _clinicId) = BoardKeys.Parse(this.GetPrimaryKeyString());
        _view = new BoardView<WaitingRoomState>(this, store, board, tenantId,
            () => [(_clinicId, new BoardChange(BoardEventNames.QueueUpdated, View()))], logger);
        _display = await rows.LoadNameDisplayAsync(tenantId, _clinicId);
        await _view.CatchUpAsync();
    }

    public Task<WaitingQueueView> GetQueueAsync() => Task.FromResult(View());

    public async Task ApplyVisitAsync(VisitState visit)
    {
        // Visits only ever come from visit grains of the same tenant; a visit of another clinic is a server bug.
        if (visit.ClinicId != _clinicId)
        {
            throw new ArgumentException("The visit belongs to another clinic.", nameof(visit));
        }

        var waiting = store.State.Waiting;
        var known = waiting.TryGetValue(visit.VisitId, out var k) ? k : null;
        if (known is not null && known.Version >= visit.Version)
        {
            return;
        }

        var next = WaitingQueue.IsWaiting(visit) ? waiting.SetItem(visit.VisitId, visit) : waiting.Remove(visit.VisitId);
        if (!ReferenceEquals(next, waiting))
        {
            await _view.SaveAsync(store.State with { Waiting = next });
        }
    }

    private WaitingQueueView View() => WaitingQueue.Build(store.State.Waiting.Values, _display, time.GetUtcNow());
}
