using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;

namespace MedSpa.Grains.Domain.Checkout;

/// <summary>
/// Invoice figures and status from the priced sale, the tenders applied, the refunds made and what was written off.
/// <para>A refund returns money and reverses the same amount of the sale; it does not settle the balance, so
/// <c>BalanceDue = max(0, Total − (Paid − TipRefunded) − WrittenOff)</c> on an opened invoice (a draft owes
/// nothing yet). The status is derived by <see cref="InvoiceLifecycleRules.DeriveStatus"/>.</para>
/// </summary>
public static class InvoiceTotalsCalculator
{
    public static InvoiceTotals Compute(
        PricedInvoice invoice,
        InvoiceLifecycle lifecycle,
        IReadOnlyList<Tender> tenders,
        IReadOnlyList<TenderRefund> refunds) => Compute(invoice, lifecycle, tenders, refunds, []);

    public static InvoiceTotals Compute(
        PricedInvoice invoice,
        InvoiceLifecycle lifecycle,
        IReadOnlyList<Tender> tenders,
        IReadOnlyList<TenderRefund> refunds,
        IReadOnlyList<InvoiceWriteOff> writeOffs)
    {
        ArgumentNullException.ThrowIfNull(invoice);
        ArgumentNullException.ThrowIfNull(tenders);
        ArgumentNullException.ThrowIfNull(refunds);
        ArgumentNullException.ThrowIfNull(writeOffs);
        var currency = invoice.Currency;
        var total = invoice.Total;
        var paid = Money.Sum(tenders.Select(t => t.Amount), currency);
        var refunded = Money.Sum(refunds.Select(r => r.Amount), currency);
        var tipRefunded = Money.Sum(refunds.Where(r => r.TipAdjustment).Select(r => r.Amount), currency);
        var writtenOff = Money.Sum(writeOffs.Select(w => w.Amount), currency);
        var change = Money.Sum(tenders.Select(t => t.ChangeDue), currency);
        var hsaTenderIds = tenders.Where(t => t.IsHsaFsa).Select(t => t.Id).ToHashSet();
        var hsaPaid = Money.Sum(tenders.Where(t => t.IsHsaFsa).Select(t => t.Amount), currency)
                      - Money.Sum(refunds.Where(r => hsaTenderIds.Contains(r.TenderId)).Select(r => r.Amount), currency);
        var balanceDue = lifecycle == InvoiceLifecycle.Opened
            ? (total - (paid - tipRefunded) - writtenOff).ClampAtZero()
            : Money.Zero(currency);
        var status = InvoiceLifecycleRules.DeriveStatus(lifecycle, balanceDue, paid - refunded, refunded - tipRefunded, writtenOff);
        var hsaAvailable = Money.Min((invoice.HsaFsaEligible - hsaPaid).ClampAtZero(), balanceDue);
        return new InvoiceTotals(
            invoice.Subtotal, invoice.LineDiscounts, invoice.PromoDiscount, invoice.InvoiceDiscount, invoice.Discounts,
            invoice.NetSales, invoice.TaxIncluded, invoice.TaxAdded, invoice.Tax, invoice.TipBase, invoice.Tip, total,
            paid, refunded, balanceDue, change, invoice.HsaFsaEligible, hsaPaid, hsaAvailable, status,
            IsPartiallyRefunded: refunded.IsPositive && refunded < paid, writtenOff, tipRefunded);
    }

    /// <summary>Kept for callers that check a void: see <see cref="InvoiceLifecycleRules.CheckVoid"/>.</summary>
    public static Refusal? CheckVoid(InvoiceTotals totals) => InvoiceLifecycleRules.CheckVoid(totals);
}
