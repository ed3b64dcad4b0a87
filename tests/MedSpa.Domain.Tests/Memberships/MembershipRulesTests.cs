using System.Globalization;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Memberships;
using MedSpa.Grains.Domain.Ledger;
using MedSpa.Grains.Domain.Memberships;

namespace MedSpa.Domain.Tests.Memberships;

public class MembershipCalendarTests
{
    private static DateOnly D(int y, int m, int d) => new(y, m, d);

    [Fact]
    public void Monthly_periods_keep_the_anchor_day_and_clamp_to_short_months()
    {
        var start = D(2027, 1, 31);
        Assert.Equal(
            [D(2027, 1, 31), D(2027, 2, 28), D(2027, 3, 31), D(2027, 4, 30), D(2027, 5, 31)],
            Enumerable.Range(0, 5).Select(n => MembershipCalendar.PeriodStart(start, BillingInterval.Monthly, n)));
        // A leap year's February has a 29th.
        Assert.Equal(D(2028, 2, 29), MembershipCalendar.PeriodStart(D(2028, 1, 30), BillingInterval.Monthly, 1));
        Assert.Equal(D(2027, 2, 28), MembershipCalendar.PeriodEnd(start, BillingInterval.Monthly, 0));
    }

    [Fact]
    public void Annual_periods_clamp_the_29th_of_February()
    {
        var start = D(2028, 2, 29);
        Assert.Equal(D(2029, 2, 28), MembershipCalendar.PeriodStart(start, BillingInterval.Annual, 1));
        Assert.Equal(D(2032, 2, 29), MembershipCalendar.PeriodStart(start, BillingInterval.Annual, 4));
    }

    [Theory]
    [InlineData("2027-01-15", 0)]
    [InlineData("2027-01-31", 0)]
    [InlineData("2027-02-27", 0)]
    [InlineData("2027-02-28", 1)]
    [InlineData("2027-03-30", 1)]
    [InlineData("2027-03-31", 2)]
    [InlineData("2028-01-30", 11)]
    [InlineData("2028-01-31", 12)]
    public void The_period_a_day_falls_in(string day, int period) =>
        Assert.Equal(period, MembershipCalendar.PeriodAt(D(2027, 1, 31), BillingInterval.Monthly, DateOnly.Parse(day, CultureInfo.InvariantCulture)));

    [Fact]
    public void A_renewal_happens_at_the_clinics_local_midnight()
    {
        var ny = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");
        Assert.Equal(DateTimeOffset.Parse("2027-01-15T05:00:00Z", CultureInfo.InvariantCulture), MembershipCalendar.StartOfDay(D(2027, 1, 15), ny));
        Assert.Equal(DateTimeOffset.Parse("2027-07-15T04:00:00Z", CultureInfo.InvariantCulture), MembershipCalendar.StartOfDay(D(2027, 7, 15), ny));
        // 03:30 UTC on the 16th is still the 15th in New York.
        Assert.Equal(D(2027, 1, 15), MembershipCalendar.DayOf(DateTimeOffset.Parse("2027-01-16T03:30:00Z", CultureInfo.InvariantCulture), ny));
    }
}

public class MembershipTermRulesTests
{
    private static MembershipPlanTerms Plan(int term, int notice, BillingInterval interval = BillingInterval.Monthly) =>
        MembershipFixtures.Plan() with { MinimumTermPeriods = term, CancellationNoticeDays = notice, Interval = interval };

    [Fact]
    public void Cancelling_within_the_minimum_term_ends_when_the_term_ends()
    {
        // Started 10 January, 3-month term: the term runs to 10 April whatever the notice.
        Assert.Equal(new DateOnly(2027, 4, 10), MembershipTermRules.CancellationEffective(Plan(3, 0), new(2027, 1, 10), new(2027, 1, 20)));
        Assert.Equal(new DateOnly(2027, 4, 10), MembershipTermRules.CancellationEffective(Plan(3, 30), new(2027, 1, 10), new(2027, 2, 1)));
    }

    [Fact]
    public void After_the_term_the_notice_runs_to_the_end_of_the_period_it_falls_in()
    {
        // Notice of 30 days asked on 1 June runs out on 1 July, within the period 10 June – 10 July.
        Assert.Equal(new DateOnly(2027, 7, 10), MembershipTermRules.CancellationEffective(Plan(1, 30), new(2027, 1, 10), new(2027, 6, 1)));
        // Without notice the current period is finished, never cut short.
        Assert.Equal(new DateOnly(2027, 6, 10), MembershipTermRules.CancellationEffective(Plan(1, 0), new(2027, 1, 10), new(2027, 6, 1)));
        // Asked on a renewal day: that day's period (just charged) runs to its end.
        Assert.Equal(new DateOnly(2027, 7, 10), MembershipTermRules.CancellationEffective(Plan(1, 0), new(2027, 1, 10), new(2027, 6, 10)));
    }

    [Fact]
    public void Only_an_active_membership_pauses_and_only_a_paused_one_resumes()
    {
        Assert.Null(MembershipTermRules.CanPause(MembershipStatus.Active));
        Assert.Equal(MembershipRefusals.InvalidTransition, MembershipTermRules.CanPause(MembershipStatus.PastDue)?.Code);
        Assert.Equal("past-due", MembershipTermRules.CanPause(MembershipStatus.PastDue)?.Details?["currentStatus"]);
        Assert.Null(MembershipTermRules.CanResume(MembershipStatus.Paused));
        Assert.NotNull(MembershipTermRules.CanResume(MembershipStatus.Active));
        Assert.NotNull(MembershipTermRules.CanCancel(MembershipStatus.Cancelled));
        Assert.NotNull(MembershipTermRules.CanCancel(MembershipStatus.Ended));
        Assert.Null(MembershipTermRules.CanCancel(MembershipStatus.PastDue));
    }
}

public class RenewalScheduleTests
{
    private static readonly DateTimeOffset Due = DateTimeOffset.Parse("2027-03-10T05:00:00Z", CultureInfo.InvariantCulture);
    private static readonly DateTimeOffset End = DateTimeOffset.Parse("2027-04-10T04:00:00Z", CultureInfo.InvariantCulture);

    [Fact]
    public void A_failed_charge_is_retried_after_1_3_and_7_days_then_skipped()
    {
        var schedule = new RenewalSchedule();
        Assert.Equal(Due, schedule.NextAttempt(Due, 0, End));
        Assert.Equal(Due.AddDays(1), schedule.NextAttempt(Due, 1, End));
        Assert.Equal(Due.AddDays(3), schedule.NextAttempt(Due, 2, End));
        Assert.Equal(Due.AddDays(7), schedule.NextAttempt(Due, 3, End));
        Assert.Null(schedule.NextAttempt(Due, 4, End));
    }

    [Fact]
    public void The_schedule_is_configurable_and_never_reaches_into_the_next_period()
    {
        var schedule = new RenewalSchedule([2, 40]);
        Assert.Equal(Due.AddDays(2), schedule.NextAttempt(Due, 1, End));
        Assert.Null(schedule.NextAttempt(Due, 2, End)); // day 40 is after the period's end
        Assert.Throws<ArgumentException>(() => new RenewalSchedule([3, 1]));
        Assert.Throws<ArgumentException>(() => new RenewalSchedule([0]));
    }
}

public class BenefitAccountingTests
{
    private static readonly Guid Facial = MembershipFixtures.Facial;
    private static readonly Guid Peel = Guid.NewGuid();

    private static Money Usd(long cents) => new(cents, "USD");

    [Fact]
    public void A_session_pays_one_unit_at_most_its_value_and_the_credit_pays_the_rest()
    {
        var plan = MembershipFixtures.Plan(credit: Usd(2000));
        var allowance = BenefitAccounting.NewPeriod(plan, null);
        Assert.Equal(17000, allowance.Value);
        // A $180 facial: the session pays its $150 value, the credit pays $20 of the remaining $30.
        var (allocation, refusal) = BenefitAccounting.Allocate(plan, allowance, Usd(17000), [new BenefitLine(Facial, 1, Usd(18000))]);
        Assert.Null(refusal);
        Assert.Equal([new SessionUse(Facial, 1, 15000)], allocation!.Sessions);
        Assert.Equal(2000, allocation.Credit);

        var (_, tooMuch) = BenefitAccounting.Allocate(plan, allowance, Usd(18000), [new BenefitLine(Facial, 1, Usd(18000))]);
        Assert.Equal(MembershipRefusals.BenefitInsufficient, tooMuch!.Code);
        Assert.Equal(17000L, tooMuch.Details!["available"]);
    }

    [Fact]
    public void A_session_never_pays_another_service_and_a_member_priced_line_is_paid_at_its_price()
    {
        var plan = MembershipFixtures.Plan();
        var allowance = BenefitAccounting.NewPeriod(plan, null);
        var (_, other) = BenefitAccounting.Allocate(plan, allowance, Usd(5000), [new BenefitLine(Peel, 1, Usd(5000))]);
        Assert.Equal(MembershipRefusals.BenefitInsufficient, other!.Code);
        var (cheaper, _) = BenefitAccounting.Allocate(plan, allowance, Usd(13500), [new BenefitLine(Facial, 1, Usd(13500))]);
        Assert.Equal(13500, cheaper!.Total);
    }

    [Fact]
    public void Holds_take_sessions_out_commit_moves_them_to_used_and_restore_gives_them_back()
    {
        var plan = MembershipFixtures.Plan();
        var allowance = BenefitAccounting.NewPeriod(plan, null);
        var (a, _) = BenefitAccounting.Allocate(plan, allowance, Usd(15000), [new BenefitLine(Facial, 1, Usd(15000))]);
        BenefitAccounting.Hold(allowance, a!);
        Assert.Equal(0, allowance.Sessions[Facial]);
        Assert.Equal(0, BenefitAccounting.Unused(allowance));
        var (_, again) = BenefitAccounting.Allocate(plan, allowance, Usd(15000), [new BenefitLine(Facial, 1, Usd(15000))]);
        Assert.NotNull(again);

        BenefitAccounting.Commit(allowance, a!);
        Assert.Equal((15000L, 0L), (allowance.Used, allowance.Held));
        BenefitAccounting.Restore(allowance, a!, committed: true);
        Assert.Equal((1, 0L, 15000L), (allowance.Sessions[Facial], allowance.Used, BenefitAccounting.Unused(allowance)));
    }

    [Fact]
    public void Unused_benefits_roll_over_only_when_the_plan_says_so()
    {
        var leftover = new BenefitAllowance { Sessions = new() { [Facial] = 1 }, Credit = 500, Value = 15500 };
        var noRollover = BenefitAccounting.NewPeriod(MembershipFixtures.Plan(credit: Usd(1000)), leftover);
        Assert.Equal((1, 1000L, 16000L), (noRollover.Sessions[Facial], noRollover.Credit, noRollover.Value));
        var rollover = BenefitAccounting.NewPeriod(MembershipFixtures.Plan(credit: Usd(1000)) with { RolloverUnused = true }, leftover);
        Assert.Equal((2, 1500L, 31500L), (rollover.Sessions[Facial], rollover.Credit, rollover.Value));
    }
}

public class MembershipLedgerTests
{
    private static Money Usd(long cents) => new(cents, "USD");

    private static string[] Lines(JournalEntry e) =>
        [.. e.Postings.Select(p => $"{(p.Side == PostingSide.Debit ? "Dr" : "Cr")} {p.Account.Code} {p.Amount.Amount}")];

    [Fact]
    public void A_fee_worth_more_than_its_benefits_defers_their_value_and_earns_the_rest()
    {
        var e = MembershipLedger.Fee("op", "m", Usd(9900), Usd(5000));
        Assert.Equal(["Dr card-clearing 9900", "Cr membership-liability 5000", "Cr revenue:memberships 4900"], Lines(e));
        Assert.Equal(JournalEntryKind.MembershipFee, e.Kind);
    }

    [Fact]
    public void Benefits_worth_more_than_the_fee_carry_the_members_discount()
    {
        var e = MembershipLedger.Fee("op", "m", Usd(9900), Usd(15000));
        Assert.Equal(["Dr card-clearing 9900", "Cr membership-liability 15000", "Dr discounts:memberships 5100"], Lines(e));
        Assert.Equal(["Dr card-clearing 9900", "Cr revenue:memberships 9900"], Lines(MembershipLedger.Fee("op", "m", Usd(9900), Usd(0))));
    }

    [Fact]
    public void Breakage_releases_the_unused_liability_and_nothing_is_posted_for_nothing()
    {
        Assert.Equal(["Dr membership-liability 700", "Cr revenue:membership-breakage 700"],
            Lines(MembershipLedger.Breakage("op", "m", Usd(700))!));
        Assert.Null(MembershipLedger.Breakage("op", "m", Usd(0)));
    }
}

internal static class MembershipFixtures
{
    public static readonly Guid Facial = Guid.Parse("6f1c3a52-6a8c-4d7e-9a51-0f7f3a1b2c01");

    public static MembershipPlanTerms Plan(Money? credit = null) => new(
        Guid.NewGuid(), "Glow Club", BillingInterval.Monthly, new Money(9900, "USD"),
        [new IncludedSession(Facial, "HydraFacial", 1, new Money(15000, "USD"))], credit, false, 0m, 10m, 1, 0, []);
}
