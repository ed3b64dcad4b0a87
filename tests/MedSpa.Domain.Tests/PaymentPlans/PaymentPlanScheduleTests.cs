using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.PaymentPlans;
using MedSpa.Grains.Domain.Memberships;
using MedSpa.Grains.Domain.PaymentPlans;

namespace MedSpa.Domain.Tests.PaymentPlans;

public class PaymentPlanScheduleTests
{
    private static readonly DateOnly Today = new(2027, 1, 10);

    private static Money Usd(long cents) => new(cents, "USD");

    private static IReadOnlyList<ScheduledPayment> Ok(long total, int count, PlanFrequency frequency, DateOnly first,
        Money? down = null, decimal? percent = null)
    {
        var (payments, refusal) = PaymentPlanSchedule.Build(Usd(total), down, percent, count, frequency, first, Today);
        Assert.Null(refusal);
        return payments!;
    }

    [Fact]
    public void Odd_cents_put_the_remainder_on_the_last_installment_and_add_up_exactly()
    {
        var payments = Ok(100_00, 3, PlanFrequency.Monthly, Today.AddDays(1));
        Assert.Equal([3333L, 3333L, 3334L], payments.Select(p => p.Amount.Amount));
        Assert.Equal([1, 2, 3], payments.Select(p => p.Number));

        // $2,000.01 in 7 after a 15 % down payment: 30000 down, 170001 left = 6 × 24285 + 24291.
        var withDown = Ok(2000_01, 7, PlanFrequency.Weekly, Today.AddDays(3), percent: 15m);
        Assert.Equal(0, withDown[0].Number);
        Assert.Equal(Today, withDown[0].DueDate);
        Assert.Equal(30000L, withDown[0].Amount.Amount);
        Assert.Equal(Enumerable.Repeat(24285L, 6).Append(24291L), withDown.Skip(1).Select(p => p.Amount.Amount));
        Assert.Equal(2000_01L, withDown.Sum(p => p.Amount.Amount));
    }

    [Theory]
    [InlineData(1L, 1)]
    [InlineData(7L, 7)]
    [InlineData(99_999_99L, 60)]
    [InlineData(1_000_03L, 11)]
    public void Every_split_sums_to_the_total_with_no_installment_off_by_more_than_the_remainder(long total, int count)
    {
        var payments = Ok(total, count, PlanFrequency.EveryTwoWeeks, Today.AddDays(1));
        Assert.Equal(total, payments.Sum(p => p.Amount.Amount));
        var first = payments[0].Amount.Amount;
        Assert.All(payments.SkipLast(1), p => Assert.Equal(first, p.Amount.Amount));
        Assert.InRange(payments[^1].Amount.Amount - first, 0, count - 1);
    }

    [Fact]
    public void A_percentage_down_payment_rounds_half_away_from_zero_to_the_cent()
    {
        // 12.5 % of $0.99 = 12.375 cents → 12; 50 % of 101 cents = 50.5 → 51.
        Assert.Equal(12L, Ok(99, 2, PlanFrequency.Weekly, Today.AddDays(1), percent: 12.5m)[0].Amount.Amount);
        var half = Ok(101, 1, PlanFrequency.Weekly, Today.AddDays(1), percent: 50m);
        Assert.Equal([51L, 50L], half.Select(p => p.Amount.Amount));
    }

    [Fact]
    public void Monthly_from_the_31st_falls_on_each_month_end_and_keeps_the_day_after_a_short_month()
    {
        var payments = Ok(600_00, 6, PlanFrequency.Monthly, new DateOnly(2027, 1, 31));
        Assert.Equal(
            [new DateOnly(2027, 1, 31), new DateOnly(2027, 2, 28), new DateOnly(2027, 3, 31), new DateOnly(2027, 4, 30),
                new DateOnly(2027, 5, 31), new DateOnly(2027, 6, 30)],
            payments.Select(p => p.DueDate));
    }

    [Fact]
    public void Leap_days_February_29th_in_a_leap_year_and_the_28th_the_year_after()
    {
        Assert.Equal(new DateOnly(2028, 2, 29), PaymentPlanSchedule.DueDate(new DateOnly(2028, 1, 31), PlanFrequency.Monthly, 1));
        var fromLeapDay = Enumerable.Range(0, 13).Select(i => PaymentPlanSchedule.DueDate(new DateOnly(2028, 2, 29), PlanFrequency.Monthly, i)).ToList();
        Assert.Equal(new DateOnly(2028, 3, 29), fromLeapDay[1]);
        Assert.Equal(new DateOnly(2029, 2, 28), fromLeapDay[12]);
        // Weekly and every-two-weeks count days, through 29 February.
        Assert.Equal(new DateOnly(2028, 3, 7), PaymentPlanSchedule.DueDate(new DateOnly(2028, 2, 22), PlanFrequency.Weekly, 2));
        Assert.Equal(new DateOnly(2028, 3, 14), PaymentPlanSchedule.DueDate(new DateOnly(2028, 2, 15), PlanFrequency.EveryTwoWeeks, 2));
    }

    [Fact]
    public void A_due_day_begins_at_the_clinics_midnight_across_daylight_saving_changes()
    {
        var newYork = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");
        // 14 March 2027 is the spring-forward day: midnight exists, at UTC−5; the next day's midnight is at UTC−4.
        Assert.Equal(new DateTimeOffset(2027, 3, 14, 5, 0, 0, TimeSpan.Zero), MembershipCalendar.StartOfDay(new DateOnly(2027, 3, 14), newYork));
        Assert.Equal(new DateTimeOffset(2027, 3, 15, 4, 0, 0, TimeSpan.Zero), MembershipCalendar.StartOfDay(new DateOnly(2027, 3, 15), newYork));
        var auckland = TimeZoneInfo.FindSystemTimeZoneById("Pacific/Auckland");
        Assert.Equal(new DateTimeOffset(2027, 1, 9, 11, 0, 0, TimeSpan.Zero), MembershipCalendar.StartOfDay(new DateOnly(2027, 1, 10), auckland));
    }

    [Theory]
    [InlineData(1000, 0, 1, null, null, "installments")]
    [InlineData(1000, 61, 1, null, null, "installments")]
    [InlineData(1000, 3, 0, null, null, "firstDate")]
    [InlineData(1000, 3, 366, null, null, "firstDate")]
    [InlineData(1000, 3, 1, 1000L, null, "downPayment")]
    [InlineData(1000, 3, 1, -1L, null, "downPayment")]
    [InlineData(1000, 3, 1, null, 100.0, "downPaymentPercent")]
    [InlineData(1000, 3, 1, null, 10.125, "downPaymentPercent")]
    [InlineData(1000, 3, 1, 10L, 10.0, "downPayment")]
    [InlineData(1000, 1000, 1, 1L, null, "installments")]
    public void Bad_terms_are_refused_naming_the_field(long total, int count, int firstInDays, long? down, double? percent, string field)
    {
        var (payments, refusal) = PaymentPlanSchedule.Build(Usd(total), down is null ? null : Usd(down.Value),
            percent is null ? null : (decimal)percent.Value, count, PlanFrequency.Monthly, Today.AddDays(firstInDays), Today);
        Assert.Null(payments);
        Assert.NotNull(refusal);
        Assert.Equal(field, refusal.Field);
        Assert.Equal(Refusal.ValidationFailed, refusal.Code);
    }

    [Fact]
    public void Nothing_due_is_not_a_plan()
    {
        var (_, refusal) = PaymentPlanSchedule.Build(Usd(0), null, null, 3, PlanFrequency.Monthly, Today.AddDays(1), Today);
        Assert.Equal(PaymentPlanRefusals.InvoiceNotPayable, refusal!.Code);
    }
}
