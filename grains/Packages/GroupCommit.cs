using Orleans.Storage;

namespace MedSpa.Grains.Packages;

/// <summary>
/// Group commit for a reentrant single-writer grain (DESIGN.md §4), shared by the package balance and wallet grains.
/// Requests apply to <see cref="Working"/> synchronously, then <see cref="CommitAsync"/> waits for the write that
/// carries them: one storage write outstanding, each carrying every change applied since the previous one began. Each
/// write stores a copy of the working state (a write in flight serialises an object no request mutates);
/// <see cref="Durable"/> is the last copy written, what a failure rolls back to and what reads answer from. A failed
/// write rolls <see cref="Working"/> back and answers false to the failed batch and to everything applied after it
/// (decided on its state): nothing acknowledged is lost, nothing unacknowledged remains.
/// </summary>
public sealed class GroupCommit<TState>(
    IPersistentState<TState> storage, Func<TState, TState> clone, Action<Exception> writeFailed, Action written)
    where TState : class
{
    private Batch? _open;
    private Batch? _inFlight;
    private bool _writing;

    public TState Working { get; private set; } = null!;

    public TState Durable { get; private set; } = null!;

    private sealed class Batch
    {
        public TaskCompletionSource<bool> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Takes the stored state (on activation).</summary>
    public void Load()
    {
        Durable = storage.State;
        Working = clone(Durable);
    }

    /// <summary>Joins the next write: true once it is durable, false when it failed (rolled back).</summary>
    public Task<bool> CommitAsync()
    {
        var batch = _open ??= new Batch();
        if (!_writing)
        {
            _ = WriteLoopAsync();
        }

        return batch.Done.Task;
    }

    /// <summary>Waits for the writes already under way (a replay or read of something possibly not yet durable):
    /// false when one of them failed.</summary>
    public Task<bool> PendingAsync() => (_open ?? _inFlight)?.Done.Task ?? Task.FromResult(true);

    private async Task WriteLoopAsync()
    {
        _writing = true;
        try
        {
            while (_open is { } batch)
            {
                _open = null;
                _inFlight = batch;
                var snapshot = clone(Working);
                storage.State = snapshot;
                try
                {
                    await storage.WriteStateAsync();
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // Back to the last durable state: the failed batch, and everything applied on top of it since.
                    Working = clone(Durable);
                    storage.State = Durable;
                    var later = _open;
                    _open = null;
                    _inFlight = null;
                    writeFailed(e);
                    batch.Done.TrySetResult(false);
                    later?.Done.TrySetResult(false);
                    continue;
                }

                Durable = snapshot;
                _inFlight = null;
                batch.Done.TrySetResult(true);
                written();
            }
        }
        finally
        {
            _writing = false;
        }
    }
}
