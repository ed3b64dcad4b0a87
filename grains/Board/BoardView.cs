using MedSpa.GrainInterfaces.Board;
using Microsoft.Extensions.Logging;

namespace MedSpa.Grains.Board;

/// <summary>The revision bookkeeping a grain's stored state carries for its <see cref="BoardView{TState}"/>.</summary>
public interface IBoardViewState<out TSelf>
{
    /// <summary>Bumped by every write; the view of a revision is published after the write.</summary>
    long Revision { get; }

    /// <summary>The last revision known to be on the board when this state was written.</summary>
    long PublishedRevision { get; }

    TSelf WithRevisions(long revision, long publishedRevision);
}

/// <summary>When the board hears about a saved revision.</summary>
public enum BoardNews
{
    /// <summary>Published at once, and retried until it goes through.</summary>
    Now,

    /// <summary>Published with whatever comes first: the next save, <see cref="BoardView{TState}.CatchUpAsync"/>, the next activation.</summary>
    Later,

    /// <summary>
    /// Nothing the board shows changed: the revision counts as published, unless an earlier one is still waiting
    /// (then that goes now, with the latest view).
    /// </summary>
    None,
}

/// <summary>
/// A grain's live view on the clinic boards (a room's card, a provider's card, a clinic's waiting queue). Saves the
/// grain's state as a new revision, then publishes the view of that revision; what does not go through is retried on
/// a timer and, after a crash, on the next activation (the stored <see cref="IBoardViewState{TSelf}.PublishedRevision"/>
/// says where the board was; a replay is harmless, the board keeps the latest view). The grain keeps what is its own:
/// its rules, and what its view shows.
/// </summary>
/// <param name="view">The changes that put the current state on the boards, by clinic, in order.</param>
internal sealed class BoardView<TState>(
    Grain grain,
    IPersistentState<TState> store,
    IBoardPublisher board,
    Guid tenantId,
    Func<IEnumerable<(Guid ClinicId, BoardChange Change)>> view,
    ILogger logger)
    where TState : IBoardViewState<TState>
{
    // Read when the grain activates (its state is loaded by then), not from every write: a write does not prove a publish.
    private long _published = store.State.PublishedRevision;
    private BoardRetry? _retry;

    private BoardRetry Retry => _retry ??= new BoardRetry(grain, PublishAsync);

    /// <summary>Publishes the latest revision if the board has not heard it yet (retried until it goes through).</summary>
    public Task CatchUpAsync() => _published < store.State.Revision ? Retry.RunAsync() : Task.CompletedTask;

    /// <summary>Writes <paramref name="next"/> as a new revision, then tells the board as <paramref name="news"/> says.</summary>
    public async Task SaveAsync(TState next, BoardNews news = BoardNews.Now)
    {
        var revision = store.State.Revision + 1;
        if (news == BoardNews.None && _published == store.State.Revision)
        {
            _published = revision;
        }

        store.State = next.WithRevisions(revision, _published);
        await store.WriteStateAsync();
        if (news != BoardNews.Later)
        {
            await Retry.RunAsync();
        }
    }

    private async Task<bool> PublishAsync()
    {
        var revision = store.State.Revision;
        if (_published >= revision)
        {
            return true;
        }

        try
        {
            foreach (var (clinicId, change) in view())
            {
                await board.PublishAsync(tenantId, clinicId, [change]);
            }

            _published = revision;
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "{Grain} {Key}: revision {Revision} not on the board yet; will retry",
                grain.GetType().Name, grain.GetPrimaryKeyString(), revision);
            return false;
        }
    }
}
