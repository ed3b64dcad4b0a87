using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;

namespace MedSpa.Grains.Domain.Checkout;

/// <summary>Where an invoice is in its life, independent of the money on it.</summary>
public enum InvoiceLifecycle
{
    /// <summary>Being edited; not yet presented for payment.</summary>
    Draft,

    /// <summary>Finalised: numbered, lines frozen, sale posted to the ledger.</summary>
    Finalized,

    Voided,
}

/// <summary>
/// Invoice figures and status from the priced sale, the tenders applied and the refunds made.
/// <para>Status rule, first match wins: voided → <c>void</c>; draft → <c>draft</c>; something was refunded and
/// nothing remains paid (paid − refunded = 0) → <c>refunded</c>; tenders cover the total (a zero invoice is paid as
/// soon as it is finalised) → <c>paid</c>, flagged <see cref="InvoiceTotals.IsPartiallyRefunded"/> if some of it went
/// back; some tender applied → <c>partially-paid</c>; else <c>open</c>. A refund does not reopen a balance:
/// it returns money and reverses the sale in the same proportion, so <c>BalanceDue = max(0, Total − Paid)</c>.</para>
/// </summary>
public static class InvoiceTotalsCalculator
{
    public static InvoiceTotals Compute(
        PricedInvoice invoice,
        InvoiceLifecycle lifecycle,
        IReadOnlyList<Tender> tenders,
        IReadOnlyList<TenderRefund> refunds)
    {
        ArgumentNullException.ThrowIfNull(invoice);
        ArgumentNullException.ThrowIfNull(tenders);
        ArgumentNullException.ThrowIfNull(refunds);
        var currency = invoice.Currency;
        var total = invoice.Total;
        var paid = Money.Sum(tenders.Select(t => t.Amount), currency);
        var refunded = Money.Sum(refunds.Select(r => r.Amount), currency);
        var change = Money.Sum(tenders.Select(t => t.ChangeDue), currency);
        var hsaTenderIds = tenders.Where(t => t.IsHsaFsa).Select(t => t.Id).ToHashSet();
        var hsaPaid = Money.Sum(tenders.Where(t => t.IsHsaFsa).Select(t => t.Amount), currency)
                      - Money.Sum(refunds.Where(r => hsaTenderIds.Contains(r.TenderId)).Select(r => r.Amount), currency);
        var status = DeriveStatus(lifecycle, total, paid, refunded);
        var balanceDue = status is InvoiceStatus.Open or InvoiceStatus.PartiallyPaid or InvoiceStatus.Draft
            ? (total - paid).ClampAtZero()
            : Money.Zero(currency);
        var hsaAvailable = Money.Min((invoice.HsaFsaEligible - hsaPaid).ClampAtZero(), balanceDue);
        return new InvoiceTotals(
            invoice.Subtotal, invoice.LineDiscounts, invoice.PromoDiscount, invoice.InvoiceDiscount, invoice.Discounts,
            invoice.NetSales, invoice.TaxIncluded, invoice.TaxAdded, invoice.Tax, invoice.TipBase, invoice.Tip, total,
            paid, refunded, balanceDue, change, invoice.HsaFsaEligible, hsaPaid, hsaAvailable, status,
            IsPartiallyRefunded: refunded.IsPositive && refunded < paid);
    }

    /// <summary>
    /// A finalised invoice can be voided only while nothing has been paid on it; after a payment the correction is
    /// a refund (voiding would reverse a sale whose money is still in a drawer or a card batch). A draft is simply
    /// discarded — it was never posted.
    /// </summary>
    public static void EnsureCanVoid(InvoiceTotals totals)
    {
        ArgumentNullException.ThrowIfNull(totals);
        if (totals.Status == InvoiceStatus.Void)
        {
            throw new CheckoutRuleException("status", "The invoice is already void.", "conflict");
        }

        if (totals.Paid.IsPositive)
        {
            throw new CheckoutRuleException("status", "An invoice with payments is corrected by refunds, not voided.", "conflict");
        }
    }

    public static InvoiceStatus DeriveStatus(InvoiceLifecycle lifecycle, Money total, Money paid, Money refunded)
    {
        if (lifecycle == InvoiceLifecycle.Voided)
        {
            return InvoiceStatus.Void;
        }

        if (lifecycle == InvoiceLifecycle.Draft)
        {
            return InvoiceStatus.Draft;
        }

        if (refunded.IsPositive && (paid - refunded).IsZero)
        {
            return InvoiceStatus.Refunded;
        }

        if (paid >= total)
        {
            return InvoiceStatus.Paid;
        }

        return paid.IsPositive ? InvoiceStatus.PartiallyPaid : InvoiceStatus.Open;
    }
}
