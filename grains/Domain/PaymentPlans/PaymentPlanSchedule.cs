using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Memberships;
using MedSpa.GrainInterfaces.PaymentPlans;
using MedSpa.Grains.Domain.Memberships;

namespace MedSpa.Grains.Domain.PaymentPlans;

/// <summary>One scheduled payment: number 0 is the down payment, due the day the plan is accepted.</summary>
public sealed record ScheduledPayment(int Number, DateOnly DueDate, Money Amount);

/// <summary>
/// A payment plan's schedule, in exact cents and the clinic's calendar. Pure: no clock, no I/O.
/// </summary>
/// <remarks>
/// The down payment (an amount, or a percentage rounded half away from zero to the cent) comes off first; the rest is
/// split into equal installments of whole cents, and what the division leaves over (at most count − 1 cents) is added
/// to the last one, so the installments always add up to the rest exactly. Installment <c>n</c> (from 0) falls
/// <c>7n</c> or <c>14n</c> days after the first date, or <c>n</c> months after it on the first date's day of the month
/// clamped to the month's length (the membership calendar's rule): a plan starting on 31 January is due on 28 or 29
/// February, 31 March, 30 April ... and one starting on 29 February 2028 on 29 March, then 28 February 2029.
/// </remarks>
public static class PaymentPlanSchedule
{
    public const int MaxInstallments = 60;

    /// <summary>How far ahead the first installment may be (days).</summary>
    public const int MaxFirstDateDays = 365;

    public static (IReadOnlyList<ScheduledPayment>? Payments, Refusal? Refusal) Build(
        Money total, Money? downPayment, decimal? downPaymentPercent, int installments, PlanFrequency frequency, DateOnly firstDate,
        DateOnly today)
    {
        if (!total.IsPositive)
        {
            return (null, new Refusal(PaymentPlanRefusals.InvoiceNotPayable, "The invoice has no balance due to put on a plan.", "invoiceId"));
        }

        if (installments is < 1 or > MaxInstallments)
        {
            return (null, Refusal.Invalid("installments", $"installments must be between 1 and {MaxInstallments}."));
        }

        if (!Enum.IsDefined(frequency))
        {
            return (null, Refusal.Invalid("frequency", "frequency must be weekly, every-two-weeks or monthly."));
        }

        if (firstDate <= today || firstDate > today.AddDays(MaxFirstDateDays))
        {
            return (null, Refusal.Invalid("firstDate",
                $"The first installment must fall after today and within {MaxFirstDateDays} days (clinic calendar)."));
        }

        var (down, refused) = DownPayment(total, downPayment, downPaymentPercent);
        if (refused is not null)
        {
            return (null, refused);
        }

        var rest = total.Amount - down;
        if (rest < installments)
        {
            return (null, Refusal.Invalid("installments", "After the down payment there is less than a cent per installment."));
        }

        var each = rest / installments;
        var payments = new List<ScheduledPayment>(installments + 1);
        if (down > 0)
        {
            payments.Add(new ScheduledPayment(0, today, new Money(down, total.Currency)));
        }

        for (var n = 0; n < installments; n++)
        {
            var amount = n == installments - 1 ? rest - each * (installments - 1) : each;
            payments.Add(new ScheduledPayment(n + 1, DueDate(firstDate, frequency, n), new Money(amount, total.Currency)));
        }

        return (payments, null);
    }

    /// <summary>The day installment <paramref name="index"/> (0 = the first) falls due.</summary>
    public static DateOnly DueDate(DateOnly firstDate, PlanFrequency frequency, int index) => frequency switch
    {
        PlanFrequency.Weekly => firstDate.AddDays(7 * index),
        PlanFrequency.EveryTwoWeeks => firstDate.AddDays(14 * index),
        _ => MembershipCalendar.PeriodStart(firstDate, BillingInterval.Monthly, index),
    };

    private static (long Down, Refusal? Refusal) DownPayment(Money total, Money? amount, decimal? percent)
    {
        if (amount is not null && percent is not null)
        {
            return (0, Refusal.Invalid("downPayment", "Give the down payment as an amount or as a percentage, not both."));
        }

        if (amount is { } money)
        {
            if (money.Currency != total.Currency)
            {
                return (0, Refusal.Invalid("downPayment", $"The invoice is in {total.Currency}."));
            }

            return money.IsNegative || money.Amount >= total.Amount
                ? (0, Refusal.Invalid("downPayment", "The down payment must be at least zero and less than the balance due."))
                : (money.Amount, null);
        }

        if (percent is { } p)
        {
            if (p < 0 || p >= 100 || decimal.Round(p, 2) != p)
            {
                return (0, Refusal.Invalid("downPaymentPercent", "The down payment percentage must be from 0 to below 100, with at most two decimals."));
            }

            var down = (long)decimal.Round(total.Amount * p / 100m, 0, MidpointRounding.AwayFromZero);
            return (down, null);
        }

        return (0, null);
    }
}
