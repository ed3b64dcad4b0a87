using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Domain.Packages;
using static MedSpa.Domain.Tests.Packages.PackageTestTerms;

namespace MedSpa.Domain.Tests.Packages;

public sealed class PackageRestrictionRulesTests
{
    private const string NewYork = "America/New_York";

    /// <summary>Tuesday Dec 8 2026, 10:00 in New York (15:00 UTC).</summary>
    private static readonly DateTimeOffset TuesdayMorning = new(2026, 12, 8, 15, 0, 0, TimeSpan.Zero);

    private static RedemptionContext At(
        DateTimeOffset at, Guid? clinic = null, Guid? provider = null, DateTimeOffset? bookedAt = null, string zone = NewYork,
        int inWeek = 0, int inVisit = 0) =>
        new(clinic ?? Clinic, provider, at, bookedAt, zone, inWeek, inVisit);

    private static PackageTerms With(PackageRestrictions restrictions) => Standard() with { Restrictions = restrictions };

    [Fact]
    public void No_restrictions_allow_any_redemption()
    {
        Assert.Null(PackageRestrictionRules.Check(Standard(), At(TuesdayMorning)));
        Assert.Null(PackageRestrictionRules.Check(Standard() with { Restrictions = null! }, At(TuesdayMorning, provider: Provider)));
    }

    [Fact]
    public void Clinic_only_the_clinics_listed_honour_it()
    {
        var terms = Standard() with { ClinicIds = [Clinic] };

        Assert.Null(PackageRestrictionRules.Check(terms, At(TuesdayMorning, clinic: Clinic)));
        var refusal = PackageRestrictionRules.Check(terms, At(TuesdayMorning, clinic: OtherClinic));
        Assert.Equal(PackageRefusals.RestrictedClinic, refusal?.Code);
        Assert.Contains("HydraFacial x3", refusal!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Blackout_date_is_refused_on_that_clinic_local_day()
    {
        var terms = With(Restrictions(blackouts: [new(2026, 12, 8)]));

        var refusal = PackageRestrictionRules.Check(terms, At(TuesdayMorning));

        Assert.Equal(PackageRefusals.RestrictedBlackout, refusal?.Code);
        Assert.Contains("December 8, 2026", refusal!.Message, StringComparison.Ordinal);
        Assert.Null(PackageRestrictionRules.Check(terms, At(TuesdayMorning.AddDays(1))));
    }

    [Fact]
    public void Blackout_follows_the_clinic_date_across_a_time_zone_boundary()
    {
        var christmas = With(Restrictions(blackouts: [new(2026, 12, 25)]));
        // 03:00 UTC on Dec 25 is still 22:00 on Dec 24 in New York: not the blackout day there...
        var lateOnChristmasEve = new DateTimeOffset(2026, 12, 25, 3, 0, 0, TimeSpan.Zero);
        Assert.Null(PackageRestrictionRules.Check(christmas, At(lateOnChristmasEve, zone: NewYork)));
        // ...but it is Christmas Day in Paris.
        Assert.Equal(PackageRefusals.RestrictedBlackout, PackageRestrictionRules.Check(christmas, At(lateOnChristmasEve, zone: "Europe/Paris"))?.Code);
        // And 23:30 in New York on Christmas Day (04:30 UTC on Dec 26) is still refused in New York.
        var christmasNight = new DateTimeOffset(2026, 12, 26, 4, 30, 0, TimeSpan.Zero);
        Assert.Equal(PackageRefusals.RestrictedBlackout, PackageRestrictionRules.Check(christmas, At(christmasNight, zone: NewYork))?.Code);
        // The offset the time was sent with does not matter, only the instant.
        var sameInstantInTokyo = christmasNight.ToOffset(TimeSpan.FromHours(9));
        Assert.Equal(PackageRefusals.RestrictedBlackout, PackageRestrictionRules.Check(christmas, At(sameInstantInTokyo, zone: NewYork))?.Code);
    }

    [Fact]
    public void Time_windows_allow_only_their_day_and_hours_in_clinic_time()
    {
        var terms = With(Restrictions(windows:
            [new(DayOfWeek.Tuesday, new(9, 0), new(12, 0)), new(DayOfWeek.Thursday, new(14, 0), new(18, 0))]));

        Assert.Null(PackageRestrictionRules.Check(terms, At(TuesdayMorning)));
        // 09:00 sharp is in; 12:00 sharp is out (the end is exclusive).
        Assert.Null(PackageRestrictionRules.Check(terms, At(TuesdayMorning.AddHours(-1))));
        Assert.Equal(PackageRefusals.RestrictedTime, PackageRestrictionRules.Check(terms, At(TuesdayMorning.AddHours(2)))?.Code);
        // Tuesday 10:00 in New York is 15:00 UTC: the UTC clock must not be read as the clinic's.
        Assert.Equal(PackageRefusals.RestrictedTime, PackageRestrictionRules.Check(terms, At(new DateTimeOffset(2026, 12, 8, 10, 0, 0, TimeSpan.Zero)))?.Code);
        // Thursday 15:00 in New York.
        Assert.Null(PackageRestrictionRules.Check(terms, At(new DateTimeOffset(2026, 12, 10, 20, 0, 0, TimeSpan.Zero))));
        // Wednesday at 10:00: the right hours on a day with no window.
        var refusal = PackageRestrictionRules.Check(terms, At(TuesdayMorning.AddDays(1)));
        Assert.Equal(PackageRefusals.RestrictedTime, refusal?.Code);
        Assert.Contains("Tuesdays 09:00–12:00", refusal!.Message, StringComparison.Ordinal);
        Assert.Contains("Thursdays 14:00–18:00", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Providers_only_the_listed_ones_and_one_must_be_chosen()
    {
        var terms = With(Restrictions(providers: [Provider]));

        Assert.Null(PackageRestrictionRules.Check(terms, At(TuesdayMorning, provider: Provider)));
        var other = PackageRestrictionRules.Check(terms, At(TuesdayMorning, provider: OtherProvider));
        Assert.Equal(PackageRefusals.RestrictedProvider, other?.Code);
        var none = PackageRestrictionRules.Check(terms, At(TuesdayMorning, provider: null));
        Assert.Equal(PackageRefusals.RestrictedProvider, none?.Code);
        Assert.Contains("choose the provider", none!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Minimum_notice_applies_to_online_bookings_only()
    {
        var terms = With(Restrictions(noticeHours: 24));

        Assert.Null(PackageRestrictionRules.Check(terms, At(TuesdayMorning, bookedAt: TuesdayMorning.AddHours(-24))));
        var late = PackageRestrictionRules.Check(terms, At(TuesdayMorning, bookedAt: TuesdayMorning.AddHours(-23).AddMinutes(-59)));
        Assert.Equal(PackageRefusals.RestrictedNotice, late?.Code);
        Assert.Contains("24 hours", late!.Message, StringComparison.Ordinal);
        // At the front desk (no booking time) the notice does not apply.
        Assert.Null(PackageRestrictionRules.Check(terms, At(TuesdayMorning, bookedAt: null)));
    }

    [Fact]
    public void Weekly_limit_counts_the_redemptions_already_in_that_week()
    {
        var terms = With(Restrictions(perWeek: 2));

        Assert.Null(PackageRestrictionRules.Check(terms, At(TuesdayMorning, inWeek: 0)));
        Assert.Null(PackageRestrictionRules.Check(terms, At(TuesdayMorning, inWeek: 1)));
        var full = PackageRestrictionRules.Check(terms, At(TuesdayMorning, inWeek: 2));
        Assert.Equal(PackageRefusals.RestrictedWeeklyLimit, full?.Code);
        Assert.Contains("2 times a week", full!.Message, StringComparison.Ordinal);
        Assert.Contains("1 time a week", PackageRestrictionRules.Check(With(Restrictions(perWeek: 1)), At(TuesdayMorning, inWeek: 1))!.Message,
            StringComparison.Ordinal);
    }

    [Fact]
    public void Per_visit_limit_counts_the_redemptions_already_in_that_visit()
    {
        var terms = With(Restrictions(perVisit: 1));

        Assert.Null(PackageRestrictionRules.Check(terms, At(TuesdayMorning, inVisit: 0)));
        Assert.Equal(PackageRefusals.RestrictedPerVisit, PackageRestrictionRules.Check(terms, At(TuesdayMorning, inVisit: 1))?.Code);
    }

    [Fact]
    public void Week_of_starts_on_the_clinic_local_monday()
    {
        // Tuesday Dec 8 → Monday Dec 7; Sunday Dec 13 → still Monday Dec 7; Monday Dec 14 → itself.
        Assert.Equal(new DateOnly(2026, 12, 7), PackageRestrictionRules.WeekOf(TuesdayMorning, NewYork));
        Assert.Equal(new DateOnly(2026, 12, 7), PackageRestrictionRules.WeekOf(new DateTimeOffset(2026, 12, 13, 20, 0, 0, TimeSpan.Zero), NewYork));
        Assert.Equal(new DateOnly(2026, 12, 14), PackageRestrictionRules.WeekOf(new DateTimeOffset(2026, 12, 14, 15, 0, 0, TimeSpan.Zero), NewYork));
        // 02:00 UTC on Monday Dec 14 is still Sunday evening in New York: the previous week there, the new one in UTC.
        var sundayNight = new DateTimeOffset(2026, 12, 14, 2, 0, 0, TimeSpan.Zero);
        Assert.Equal(new DateOnly(2026, 12, 7), PackageRestrictionRules.WeekOf(sundayNight, NewYork));
        Assert.Equal(new DateOnly(2026, 12, 14), PackageRestrictionRules.WeekOf(sundayNight, "UTC"));
    }

    [Fact]
    public void The_first_broken_restriction_is_reported_in_a_fixed_order()
    {
        // Everything broken at once: the clinic is what the front desk must hear first.
        var terms = Standard() with
        {
            ClinicIds = [Clinic],
            Restrictions = Restrictions(
                blackouts: [new(2026, 12, 8)], windows: [new(DayOfWeek.Monday, new(9, 0), new(10, 0))], providers: [Provider], perWeek: 1,
                noticeHours: 48, perVisit: 1),
        };
        var context = At(TuesdayMorning, clinic: OtherClinic, provider: OtherProvider, bookedAt: TuesdayMorning.AddHours(-1), inWeek: 5, inVisit: 5);

        Assert.Equal(PackageRefusals.RestrictedClinic, PackageRestrictionRules.Check(terms, context)?.Code);
        Assert.Equal(PackageRefusals.RestrictedBlackout, PackageRestrictionRules.Check(terms, context with { ClinicId = Clinic })?.Code);
        Assert.Equal(PackageRefusals.RestrictedTime, PackageRestrictionRules.Check(terms, context with { ClinicId = Clinic, At = TuesdayMorning.AddDays(7) })?.Code);
    }
}
