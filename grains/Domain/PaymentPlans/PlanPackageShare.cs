using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;

namespace MedSpa.Grains.Domain.PaymentPlans;

/// <summary>
/// How much of a package sold on a payment plan may be redeemed (issue 18 §1): the package's share of what the invoice
/// has been paid so far, plus the plan's allowance (a percentage of the package's value), never more than the package
/// holds. Once the invoice is paid in full there is no limit (null). Whole cents, rounded down: the patient never redeems a
/// cent that was not paid (or allowed).
/// </summary>
public static class PlanPackageShare
{
    /// <param name="value">The package's value (its line's pre-tax net as issued).</param>
    /// <param name="cut">What a write-off took out of the package's liability (the rest is what it holds).</param>
    public static Money? RedeemableUpTo(Money value, Money cut, InvoiceTotals totals, decimal allowancePercent)
    {
        ArgumentNullException.ThrowIfNull(totals);
        // Paid in full: no limit. Settled by a write-off of the unpaid rest: still only what was paid (which is also
        // all the package holds once the write-off's share left it).
        if (totals.Status == InvoiceStatus.Paid && !totals.WrittenOff.IsPositive)
        {
            return null;
        }

        var holds = Math.Max(0, value.Amount - cut.Amount);
        var total = totals.Total.Amount;
        var paid = Math.Clamp(total - totals.BalanceDue.Amount - totals.WrittenOff.Amount, 0, total);
        var paidShare = total <= 0 ? value.Amount : (long)((Int128)value.Amount * paid / total);
        var allowance = (long)Math.Floor(value.Amount * Math.Clamp(allowancePercent, 0m, 100m) / 100m);
        return new Money(Math.Min(holds, paidShare + allowance), value.Currency);
    }
}
