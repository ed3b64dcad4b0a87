namespace MedSpa.GrainInterfaces.Checkout;

/// <summary>Invoice status as the front ends name it (kebab-case in JSON).</summary>
[GenerateSerializer, Alias("medspa.checkout.invoice-status.v1")]
public enum InvoiceStatus
{
    Draft = 0,
    Open = 1,
    PartiallyPaid = 2,
    Paid = 3,
    Refunded = 4,
    Void = 5,
}

/// <summary>
/// The figures of an invoice. Identities that always hold:
/// <c>Subtotal − Discounts = NetSales + TaxIncluded</c>; <c>Tax = TaxIncluded + TaxAdded</c>;
/// <c>Total = NetSales + Tax + Tips</c>; <c>BalanceDue = max(0, Total − (Paid − TipRefunded) − WrittenOff)</c> once
/// the invoice is opened (a draft owes nothing yet: its balance due is zero).
/// <see cref="Paid"/> is what tenders applied (before refunds); <see cref="Refunded"/> what went back (all of it);
/// <see cref="TipRefunded"/> the part of it that returned a tip lowered after payment (it reverses no sale);
/// <see cref="WrittenOff"/> what was cancelled or written off of the balance (see grains/Domain/Checkout/README.md).
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.invoice-totals.v1")]
public sealed record InvoiceTotals(
    [property: Id(0)] Money Subtotal,
    [property: Id(1)] Money LineDiscounts,
    [property: Id(2)] Money PromoDiscount,
    [property: Id(3)] Money InvoiceDiscount,
    [property: Id(4)] Money Discounts,
    [property: Id(5)] Money NetSales,
    [property: Id(6)] Money TaxIncluded,
    [property: Id(7)] Money TaxAdded,
    [property: Id(8)] Money Tax,
    [property: Id(9)] Money TipBase,
    [property: Id(10)] Money Tips,
    [property: Id(11)] Money Total,
    [property: Id(12)] Money Paid,
    [property: Id(13)] Money Refunded,
    [property: Id(14)] Money BalanceDue,
    [property: Id(15)] Money ChangeDue,
    [property: Id(16)] Money HsaFsaEligible,
    [property: Id(17)] Money HsaFsaPaid,
    [property: Id(18)] Money HsaFsaAvailable,
    [property: Id(19)] InvoiceStatus Status,
    [property: Id(20)] bool IsPartiallyRefunded,
    [property: Id(21)] Money WrittenOff,
    [property: Id(22)] Money TipRefunded);

/// <summary>A priced invoice: its lines, how the tip is split, and the totals.</summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.invoice-quote.v1")]
public sealed record InvoiceQuote(
    [property: Id(0)] IReadOnlyList<PricedLine> Lines,
    [property: Id(1)] IReadOnlyList<TipAllocation> Tips,
    [property: Id(2)] InvoiceTotals Totals);
