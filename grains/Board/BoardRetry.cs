namespace MedSpa.Grains.Board;

/// <summary>
/// Retries a grain's undelivered follow-up work (board publish, SQL status, other grains) on a grain timer until it
/// succeeds. The timer exists only while something is pending, so an idle board costs no CPU. Grain timers do not
/// interleave with calls, so the retry never races the grain's own writes.
/// </summary>
internal sealed class BoardRetry(Grain grain, Func<CancellationToken, Task<bool>> attempt)
{
    private static readonly TimeSpan FirstDelay = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(5);
    private IGrainTimer? _timer;

    public void Schedule()
    {
        _timer ??= grain.RegisterGrainTimer(async ct =>
        {
            if (await attempt(ct))
            {
                Cancel();
            }
        }, new GrainTimerCreationOptions { DueTime = FirstDelay, Period = Period });
    }

    public void Cancel()
    {
        _timer?.Dispose();
        _timer = null;
    }
}
