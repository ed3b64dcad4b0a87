using System.Collections.Immutable;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Grains.Domain.Board;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace MedSpa.Grains.Board;

[GenerateSerializer, Alias("medspa.board.waiting-room-state.v1")]
public sealed record WaitingRoomState
{
    /// <summary>The arrived visits not yet in a room, by visit id (their latest state).</summary>
    [Id(0)] public ImmutableDictionary<Guid, VisitState> Waiting { get; init; } = ImmutableDictionary<Guid, VisitState>.Empty;
    [Id(1)] public long Revision { get; init; }
    [Id(2)] public long PublishedRevision { get; init; }
}

/// <summary>A clinic's waiting queue; the single writer of its waitingRoom.queue_updated events.</summary>
public sealed class WaitingRoomGrain(
    [PersistentState("waiting-room", GrainStorage.Name)] IPersistentState<WaitingRoomState> store,
    NpgsqlDataSource db,
    IServiceProvider services,
    TimeProvider time,
    ILogger<WaitingRoomGrain> logger) : Grain, IWaitingRoomGrain
{
    private readonly BoardSql _sql = new(db);
    private IBoardPublisher _board = null!;
    private BoardRetry _retry = null!;
    private Guid _tenantId;
    private Guid _clinicId;
    private PatientNameDisplay _display;
    private long _publishedRevision;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_tenantId, _clinicId) = BoardKeys.Parse(this.GetPrimaryKeyString());
        _board = services.GetService<IBoardPublisher>() ?? new ClinicBoardPublisher(GrainFactory);
        _retry = new BoardRetry(this, _ => PublishAsync());
        _display = await _sql.LoadNameDisplayAsync(_tenantId, _clinicId);
        _publishedRevision = store.State.PublishedRevision;
        if (_publishedRevision < store.State.Revision && !await PublishAsync())
        {
            _retry.Schedule();
        }
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
        if (ReferenceEquals(next, waiting))
        {
            return;
        }

        store.State = store.State with { Waiting = next, Revision = store.State.Revision + 1, PublishedRevision = _publishedRevision };
        await store.WriteStateAsync();
        if (!await PublishAsync())
        {
            _retry.Schedule();
        }
    }

    private WaitingQueueView View() => WaitingQueue.Build(store.State.Waiting.Values, _display, time.GetUtcNow());

    private async Task<bool> PublishAsync()
    {
        var revision = store.State.Revision;
        if (_publishedRevision >= revision)
        {
            return true;
        }

        try
        {
            await _board.PublishAsync(_tenantId, _clinicId, [new BoardChange(BoardEventNames.QueueUpdated, View())]);
            _publishedRevision = revision;
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "Waiting room {Key}: queue of revision {Revision} not published yet; will retry",
                this.GetPrimaryKeyString(), revision);
            return false;
        }
    }
}
