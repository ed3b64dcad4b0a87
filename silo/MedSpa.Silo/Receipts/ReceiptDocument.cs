using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;

namespace MedSpa.Silo.Receipts;

/// <summary>What a receipt says about the clinic that issued it. <see cref="Logo"/> is PNG or JPEG bytes.</summary>
public sealed record ReceiptClinic(
    string Name,
    IReadOnlyList<string> AddressLines,
    string? Phone,
    string? Email,
    string? Website,
    string TimeZone,
    byte[]? Logo,
    string? FooterText);

/// <summary>One line as printed: the quantity already in words ("12.5 units", "2 syringes").</summary>
public sealed record ReceiptLine(
    string Description,
    string Quantity,
    Money UnitPrice,
    Money Gross,
    Money Discount,
    Money Tax,
    bool TaxIncluded,
    Money Charged,
    bool HsaFsaEligible,
    string? Detail);

public sealed record ReceiptTip(string Provider, Money Amount);

/// <summary>A tender as printed; <see cref="Detail"/> is the card brand and last 4, or the tender's reference.</summary>
public sealed record ReceiptTender(string Kind, string? Detail, Money Amount, Money? Tendered, Money Change);

public sealed record ReceiptRefund(string Tender, Money Amount, string? Reason);

/// <summary>What is left on a package the visit drew on, e.g. <c>("Laser hair removal x6", "3 of 6 sessions left")</c>.
/// Filled by the packages feature; the receipt prints the section only when there is at least one.</summary>
public sealed record ReceiptPackageBalance(string Package, string Remaining, DateOnly? ExpiresOn = null);

/// <summary>The HSA/FSA view of the invoice: what an HSA/FSA administrator may reimburse, and what it may not.</summary>
public sealed record ReceiptHsaFsa(
    IReadOnlyList<ReceiptLine> EligibleLines,
    IReadOnlyList<ReceiptLine> IneligibleLines,
    Money Eligible,
    Money Ineligible,
    Money PaidWithHsaFsa);

/// <summary>
/// Everything a receipt shows, already resolved to names and amounts; the renderers (PDF, email body) only lay it
/// out. Built from the invoice grain's view by <see cref="ReceiptDocumentBuilder"/>; dates are in the clinic's time
/// zone.
/// </summary>
public sealed record ReceiptDocument(
    ReceiptClinic Clinic,
    Guid InvoiceId,
    string InvoiceNumber,
    string Status,
    DateTimeOffset IssuedAt,
    string? PatientName,
    string Currency,
    IReadOnlyList<ReceiptLine> Lines,
    Money LineDiscounts,
    Money InvoiceDiscount,
    string? InvoiceDiscountReason,
    Money Subtotal,
    Money Discounts,
    Money Tax,
    Money TaxIncluded,
    IReadOnlyList<ReceiptTip> Tips,
    Money TipsTotal,
    Money Total,
    IReadOnlyList<ReceiptTender> Tenders,
    Money Paid,
    Money ChangeDue,
    IReadOnlyList<ReceiptRefund> Refunds,
    Money Refunded,
    Money BalanceDue,
    ReceiptHsaFsa HsaFsa,
    IReadOnlyList<ReceiptPackageBalance> Packages,
    string? PublicUrl);
