using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;

namespace MedSpa.Grains.Domain.Checkout;

/// <summary>Rules for paying and refunding an invoice with any mix of tenders.</summary>
public static class TenderRules
{
    /// <summary>The cash quick-amount buttons of the front desk, in major units (DOMAIN.md "Payments").</summary>
    public static IReadOnlyList<long> CashQuickAmountsMajor { get; } = [20, 50, 100, 200, 500, 1000];

    /// <summary>
    /// The cash amounts to offer for a balance: the exact balance first, then every quick amount above it
    /// (a $83.40 balance offers 83.40, 100, 200, 500, 1,000). Nothing for a zero balance.
    /// </summary>
    public static IReadOnlyList<Money> CashQuickAmounts(Money balanceDue)
    {
        if (!balanceDue.IsPositive)
        {
            return [];
        }

        var offers = new List<Money> { balanceDue };
        offers.AddRange(CashQuickAmountsMajor
            .Select(major => Money.FromMajor(major, balanceDue.Currency))
            .Where(m => m > balanceDue));
        return offers;
    }

    /// <summary>A cash tender for what was handed over: it pays min(tendered, balance) and the rest is change.</summary>
    public static (Tender? Tender, Refusal? Refusal) Cash(Guid id, Money tendered, Money balanceDue) =>
        tendered.IsPositive
            ? (new Tender(id, TenderKind.Cash, Money.Min(tendered, balanceDue.ClampAtZero()), tendered), null)
            : (null, Refusal.Invalid("tendered", "Cash tendered must be positive."));

    public static Money ChangeDue(Money tendered, Money balanceDue) => (tendered - balanceDue.ClampAtZero()).ClampAtZero();

    /// <summary>
    /// Checks a payment (one or more new tenders) against the invoice's current figures: the invoice must be open
    /// or partially paid, each tender positive and in the invoice currency, the tenders together no more than the
    /// balance due (cash over-tender is change, recorded in <see cref="Tender.Tendered"/>), and HSA/FSA tenders
    /// together no more than <see cref="InvoiceTotals.HsaFsaAvailable"/>.
    /// </summary>
    public static Refusal? ValidatePayment(InvoiceTotals current, IReadOnlyList<Tender> tenders)
    {
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(tenders);
        if (current.Status is not (InvoiceStatus.Open or InvoiceStatus.PartiallyPaid))
        {
            return new Refusal(CheckoutRefusals.Conflict, $"An invoice that is {current.Status} cannot be paid.", "status");
        }

        if (tenders.Count == 0)
        {
            return Refusal.Invalid("tenders", "At least one tender is required.");
        }

        var currency = current.Total.Currency;
        for (var i = 0; i < tenders.Count; i++)
        {
            var t = tenders[i];
            if (t.Amount.Currency != currency)
            {
                return Refusal.Invalid($"tenders[{i}].amount", $"The tender is in {t.Amount.Currency}, the invoice in {currency}.");
            }

            if (!t.Amount.IsPositive)
            {
                return Refusal.Invalid($"tenders[{i}].amount", "A tender amount must be positive.");
            }

            if (t.Tendered is { } handed)
            {
                if (t.Kind != TenderKind.Cash)
                {
                    return Refusal.Invalid($"tenders[{i}].tendered", "Only cash has an amount tendered.");
                }

                if (handed.Currency != currency || handed < t.Amount)
                {
                    return Refusal.Invalid($"tenders[{i}].tendered", "Cash tendered must cover the amount applied.");
                }
            }
        }

        if (tenders.Select(t => t.Id).Distinct().Count() != tenders.Count)
        {
            return Refusal.Invalid("tenders", "Tender ids must be unique.");
        }

        var sum = Money.Sum(tenders.Select(t => t.Amount), currency);
        if (sum > current.BalanceDue)
        {
            return Refusal.Invalid("tenders", $"The tenders ({sum}) exceed the balance due ({current.BalanceDue}).");
        }

        var hsa = Money.Sum(tenders.Where(t => t.IsHsaFsa).Select(t => t.Amount), currency);
        if (hsa > current.HsaFsaAvailable)
        {
            return new Refusal(
                CheckoutRefusals.HsaFsaLimit, $"HSA/FSA cards can pay only the eligible items: at most {current.HsaFsaAvailable}.", "tenders");
        }

        return null;
    }

    /// <summary>A refund goes back to its own tender and never exceeds what is left of it.</summary>
    public static Refusal? ValidateRefund(Tender tender, IReadOnlyList<TenderRefund> earlierRefunds, TenderRefund refund)
    {
        ArgumentNullException.ThrowIfNull(tender);
        ArgumentNullException.ThrowIfNull(earlierRefunds);
        ArgumentNullException.ThrowIfNull(refund);
        if (refund.TenderId != tender.Id)
        {
            return Refusal.Invalid("tenderId", "A refund goes back to the tender it refunds.");
        }

        if (refund.Amount.Currency != tender.Amount.Currency || !refund.Amount.IsPositive)
        {
            return Refusal.Invalid("amount", "A refund amount must be positive and in the invoice currency.");
        }

        var already = Money.Sum(earlierRefunds.Where(r => r.TenderId == tender.Id).Select(r => r.Amount), tender.Amount.Currency);
        if (refund.Amount > tender.Amount - already)
        {
            return Refusal.Invalid("amount", $"At most {tender.Amount - already} is left to refund on this tender.");
        }

        return null;
    }
}
