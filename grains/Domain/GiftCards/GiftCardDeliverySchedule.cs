namespace MedSpa.Grains.Domain.GiftCards;

/// <summary>
/// When a gift card's email goes out: the clinic-local date and time the purchaser chose, as an instant, and the
/// retry schedule of a failed send. Pure: the grain and the API both use it.
/// </summary>
public static class GiftCardDeliverySchedule
{
    /// <summary>Waits after the 1st, 2nd and 3rd failed attempt; a 4th failure gives up (status <c>failed</c>).</summary>
    public static readonly IReadOnlyList<TimeSpan> DefaultRetryDelays = [TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30)];

    /// <summary>
    /// The instant of <paramref name="date"/> <paramref name="time"/> on the clinic's wall clock. A time that does not
    /// exist (the hour skipped when clocks go forward) moves forward to the first one that does, as a wall clock
    /// would read it; a time that happens twice (clocks go back) is its first occurrence (the earlier instant),
    /// so the card is never late.
    /// </summary>
    public static DateTimeOffset ToUtc(DateOnly date, TimeOnly time, TimeZoneInfo zone)
    {
        ArgumentNullException.ThrowIfNull(zone);
        var local = date.ToDateTime(time, DateTimeKind.Unspecified);
        while (zone.IsInvalidTime(local))
        {
            local = local.AddMinutes(1);
        }

        var offset = zone.IsAmbiguousTime(local) ? zone.GetAmbiguousTimeOffsets(local).Max() : zone.GetUtcOffset(local);
        return new DateTimeOffset(local, offset).ToUniversalTime();
    }

    /// <summary><see cref="ToUtc(DateOnly, TimeOnly, TimeZoneInfo)"/> by time-zone id; false for an unknown zone.</summary>
    public static bool TryToUtc(DateOnly date, TimeOnly time, string? timeZone, out DateTimeOffset at)
    {
        at = default;
        if (string.IsNullOrWhiteSpace(timeZone) || !TimeZoneInfo.TryFindSystemTimeZoneById(timeZone, out var zone))
        {
            return false;
        }

        at = ToUtc(date, time, zone);
        return true;
    }

    /// <summary>When to try again after <paramref name="failures"/> consecutive failures, or null to give up.</summary>
    public static DateTimeOffset? NextAttempt(DateTimeOffset failedAt, int failures, IReadOnlyList<TimeSpan>? delays = null)
    {
        delays ??= DefaultRetryDelays;
        return failures >= 1 && failures <= delays.Count ? failedAt + delays[failures - 1] : null;
    }
}
