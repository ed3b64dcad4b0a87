using MedSpa.GrainInterfaces.Board;

namespace MedSpa.Grains.Domain.Board;

/// <summary>
/// The phase a wall screen shows for an in-progress treatment, from elapsed vs. estimated minutes:
/// <list type="bullet">
/// <item>elapsed &lt; 15 % of the estimate → <c>just-started</c>;</item>
/// <item>15 % ≤ elapsed &lt; 85 % → <c>in-progress</c>;</item>
/// <item>elapsed ≥ 85 % (including overruns) → <c>almost-done</c>, which is when the front desk readies checkout.</item>
/// </list>
/// Comparisons are done in whole ticks (no floating point), so a boundary instant always lands on the same side.
/// A treatment with no estimate (0 minutes) stays <c>in-progress</c>; a clock that reads before the start counts as
/// <c>just-started</c>.
/// </summary>
public static class TreatmentPhases
{
    public const int JustStartedBelowPercent = 15;
    public const int AlmostDoneFromPercent = 85;

    public static TreatmentPhase Of(DateTimeOffset startedAt, int estimatedMinutes, DateTimeOffset now)
    {
        if (estimatedMinutes <= 0) return TreatmentPhase.InProgress;
        var elapsed = (now - startedAt).Ticks;
        if (elapsed < BoundaryTicks(estimatedMinutes, JustStartedBelowPercent)) return TreatmentPhase.JustStarted;
        if (elapsed < BoundaryTicks(estimatedMinutes, AlmostDoneFromPercent)) return TreatmentPhase.InProgress;
        return TreatmentPhase.AlmostDone;
    }

    /// <summary>
    /// When the phase will next change (a grain sets a timer for it and republishes the room), or null once it is
    /// <c>almost-done</c> or there is no estimate.
    /// </summary>
    public static DateTimeOffset? NextChangeAt(DateTimeOffset startedAt, int estimatedMinutes, DateTimeOffset now) =>
        estimatedMinutes <= 0
            ? null
            : Of(startedAt, estimatedMinutes, now) switch
            {
                TreatmentPhase.JustStarted => startedAt.AddTicks(BoundaryTicks(estimatedMinutes, JustStartedBelowPercent)),
                TreatmentPhase.InProgress => startedAt.AddTicks(BoundaryTicks(estimatedMinutes, AlmostDoneFromPercent)),
                _ => null,
            };

    /// <summary>Whole minutes since the start, never negative.</summary>
    public static int ElapsedMinutes(DateTimeOffset startedAt, DateTimeOffset now) =>
        now <= startedAt ? 0 : (int)Math.Min(int.MaxValue, (long)(now - startedAt).TotalMinutes);

    /// <summary>True once more time has passed than estimated (strictly more).</summary>
    public static bool IsOverdue(DateTimeOffset startedAt, int estimatedMinutes, DateTimeOffset now) =>
        estimatedMinutes > 0 && now - startedAt > TimeSpan.FromMinutes(estimatedMinutes);

    // A minute is 600,000,000 ticks, so percent-of-minutes in ticks is always a whole number.
    private static long BoundaryTicks(int estimatedMinutes, int percent) =>
        TimeSpan.FromMinutes(estimatedMinutes).Ticks / 100 * percent;
}
