namespace MedSpa.Grains.Domain.Memberships;

/// <summary>
/// When a period's charge is tried: on its first day, then after each failure at the configured day offsets from
/// that first day (1, 3 and 7 days by default). After the last retry fails the period is skipped: its benefits are
/// not granted and it is never charged later (the next period is charged on its own day, once).
/// </summary>
public sealed class RenewalSchedule
{
    public static readonly IReadOnlyList<int> DefaultRetryDays = [1, 3, 7];

    public RenewalSchedule(IReadOnlyList<int>? retryDays = null)
    {
        var days = retryDays is { Count: > 0 } ? retryDays : DefaultRetryDays;
        for (var i = 0; i < days.Count; i++)
        {
            if (days[i] <= 0 || i > 0 && days[i] <= days[i - 1])
            {
                throw new ArgumentException("Retry days must be positive and increasing.", nameof(retryDays));
            }
        }

        RetryDays = [.. days];
    }

    public IReadOnlyList<int> RetryDays { get; }

    /// <summary>When the next attempt is due after <paramref name="failedAttempts"/> failures of a period due at
    /// <paramref name="due"/>; null when the retries are used up (or would fall at or after the period's end): skip.</summary>
    public DateTimeOffset? NextAttempt(DateTimeOffset due, int failedAttempts, DateTimeOffset periodEnd)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(failedAttempts);
        if (failedAttempts == 0)
        {
            return due;
        }

        if (failedAttempts > RetryDays.Count)
        {
            return null;
        }

        var next = due.AddDays(RetryDays[failedAttempts - 1]);
        return next < periodEnd ? next : null;
    }
}
