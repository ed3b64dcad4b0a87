namespace MedSpa.Grains.Board;

/// <summary>
/// Runs a grain's follow-up work (board publish, SQL status, other grains) now and, until it succeeds, again on a
/// grain timer. The timer exists only while something is pending, so an idle board costs no CPU. Grain timers do not
/// interleave with calls, so the retry never races the grain's own writes.
/// </summary>
internal sealed class BoardRetry(Grain grain, Func<Task<bool>> attempt)
{
    private static readonly TimeSpan FirstDelay = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(5);
    private IGrainTimer? _timer;

    /// <summary>Attempts the work now; when it does not go through, the timer attempts it until it does.</summary>
    public async Task RunAsync()
    {
        if (!await attempt())
        {
            Schedule();
        }
    }

    /// <summary>Attempts the work on the timer only (the caller just saw it fail).</summary>
    public void Schedule()
    {
        _timer ??= grain.RegisterGrainTimer(async _ =>
        {
            if (await attempt())
            {
                Cancel();
            }
        }, new GrainTimerCreationOptions { DueTime = FirstDelay, Period = Period });
    }

    private void Cancel()
    {
        _timer?.Dispose();
        _timer = null;
    }
}
