using MedSpa.GrainInterfaces.Memberships;

namespace MedSpa.Grains.Domain.Memberships;

/// <summary>
/// Billing periods in the clinic's own calendar. Period <c>n</c> starts <c>n</c> months (or years) after the start
/// date, on the start date's day of the month clamped to the month's length: a membership started on 31 January
/// renews on 28 (or 29) February, 31 March, 30 April ... — the anchor day is never lost to a short month. A period
/// ends (exclusive) where the next one starts. Renewals happen at the clinic's local midnight of a period's first day.
/// </summary>
public static class MembershipCalendar
{
    public static DateOnly PeriodStart(DateOnly anchor, BillingInterval interval, int period)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(period);
        var months = interval == BillingInterval.Annual ? 12 * period : period;
        var first = new DateOnly(anchor.Year, anchor.Month, 1).AddMonths(months);
        var day = Math.Min(anchor.Day, DateTime.DaysInMonth(first.Year, first.Month));
        return new DateOnly(first.Year, first.Month, day);
    }

    public static DateOnly PeriodEnd(DateOnly anchor, BillingInterval interval, int period) => PeriodStart(anchor, interval, period + 1);

    /// <summary>The period a day falls in (0 for any day before the start).</summary>
    public static int PeriodAt(DateOnly anchor, BillingInterval interval, DateOnly day)
    {
        if (day < anchor)
        {
            return 0;
        }

        // An estimate from the month difference, corrected by at most one step either way.
        var months = (day.Year - anchor.Year) * 12 + day.Month - anchor.Month;
        var period = Math.Max(0, interval == BillingInterval.Annual ? months / 12 : months);
        while (period > 0 && PeriodStart(anchor, interval, period) > day)
        {
            period--;
        }

        while (PeriodEnd(anchor, interval, period) <= day)
        {
            period++;
        }

        return period;
    }

    /// <summary>The instant a clinic-local day begins (the first valid local time when midnight falls in a DST gap).</summary>
    public static DateTimeOffset StartOfDay(DateOnly day, TimeZoneInfo zone)
    {
        ArgumentNullException.ThrowIfNull(zone);
        var local = day.ToDateTime(TimeOnly.MinValue, DateTimeKind.Unspecified);
        while (zone.IsInvalidTime(local))
        {
            local = local.AddMinutes(30);
        }

        return new DateTimeOffset(local, zone.GetUtcOffset(local)).ToUniversalTime();
    }

    /// <summary>The clinic-local day of an instant.</summary>
    public static DateOnly DayOf(DateTimeOffset at, TimeZoneInfo zone) =>
        DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(at, zone).DateTime);
}
