using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;

namespace MedSpa.Grains.Domain.Packages;

/// <summary>
/// Where and when a redemption happens, as the restrictions see it. <see cref="At"/> is the service's time (checked in
/// the clinic's <see cref="TimeZone"/>); <see cref="BookedAt"/> is when an online booking was made (null at the front
/// desk: minimum notice does not apply). <see cref="BookingsInWeekOfAt"/> and <see cref="RedemptionsInVisit"/> are the
/// package's redemptions already held or made in the same clinic-local week (Monday–Sunday) and for the same visit,
/// not counting this one.
/// </summary>
public sealed record RedemptionContext(
    Guid ClinicId,
    Guid? ProviderId,
    DateTimeOffset At,
    DateTimeOffset? BookedAt,
    string TimeZone,
    int BookingsInWeekOfAt,
    int RedemptionsInVisit);

/// <summary>
/// The restrictions of a package (<see cref="PackageRestrictions"/>, the clinics that honour it) applied to one
/// redemption: null when it may go ahead, otherwise the refusal with a stable code and a sentence a front desk can
/// read aloud. Pure: the balance grain supplies the counts.
/// </summary>
public static class PackageRestrictionRules
{
    public static Refusal? Check(PackageTerms terms, RedemptionContext context)
    {
        ArgumentNullException.ThrowIfNull(terms);
        ArgumentNullException.ThrowIfNull(context);
        var r = terms.Restrictions ?? PackageRestrictions.None;
        if (!terms.ClinicIds.IsDefaultOrEmpty && !terms.ClinicIds.Contains(context.ClinicId))
        {
            return new Refusal(PackageRefusals.RestrictedClinic, $"{terms.Name} is not honoured at this clinic.");
        }

        var local = TimeZoneInfo.ConvertTime(context.At, Zone(context.TimeZone));
        var day = DateOnly.FromDateTime(local.DateTime);
        if (!r.BlackoutDates.IsDefaultOrEmpty && r.BlackoutDates.Contains(day))
        {
            return new Refusal(PackageRefusals.RestrictedBlackout, $"{terms.Name} cannot be used on {day:MMMM d, yyyy} (a blackout date).");
        }

        if (!r.TimeWindows.IsDefaultOrEmpty)
        {
            var time = TimeOnly.FromDateTime(local.DateTime);
            var inWindow = r.TimeWindows.Any(w => w.Day == local.DayOfWeek && time >= w.From && time < w.To);
            if (!inWindow)
            {
                return new Refusal(PackageRefusals.RestrictedTime,
                    $"{terms.Name} can be used only {string.Join(", ", r.TimeWindows.Select(Describe))}.");
            }
        }

        if (!r.ProviderIds.IsDefaultOrEmpty && (context.ProviderId is not { } provider || !r.ProviderIds.Contains(provider)))
        {
            return new Refusal(PackageRefusals.RestrictedProvider,
                context.ProviderId is null
                    ? $"{terms.Name} can be used only with specific providers: choose the provider first."
                    : $"{terms.Name} cannot be used with this provider.");
        }

        if (r.MinimumNoticeHours is { } hours && context.BookedAt is { } booked && context.At - booked < TimeSpan.FromHours(hours))
        {
            return new Refusal(PackageRefusals.RestrictedNotice, $"{terms.Name} needs bookings made at least {hours} hours ahead.");
        }

        if (r.MaxBookingsPerWeek is { } perWeek && context.BookingsInWeekOfAt >= perWeek)
        {
            return new Refusal(PackageRefusals.RestrictedWeeklyLimit,
                $"{terms.Name} can be used {perWeek} time{(perWeek == 1 ? "" : "s")} a week; that week is used up.");
        }

        if (r.MaxRedemptionsPerVisit is { } perVisit && context.RedemptionsInVisit >= perVisit)
        {
            return new Refusal(PackageRefusals.RestrictedPerVisit,
                $"{terms.Name} can be used {perVisit} time{(perVisit == 1 ? "" : "s")} per visit.");
        }

        return null;
    }

    /// <summary>The Monday that starts the clinic-local week of <paramref name="at"/> (weekly limits count in it).</summary>
    public static DateOnly WeekOf(DateTimeOffset at, string timeZone)
    {
        var day = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(at, Zone(timeZone)).DateTime);
        return day.AddDays(-(((int)day.DayOfWeek + 6) % 7));
    }

    private static string Describe(PackageTimeWindow w) => $"{w.Day}s {w.From:HH\\:mm}–{w.To:HH\\:mm}";

    private static TimeZoneInfo Zone(string timeZone)
    {
        try
        {
            return TimeZoneInfo.FindSystemTimeZoneById(timeZone);
        }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            return TimeZoneInfo.Utc;
        }
    }
}
