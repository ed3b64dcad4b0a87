using System.Text.Json;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;

namespace MedSpa.Api.Features.Invoices;

public sealed record CreateInvoiceRequest(Guid? ClinicId, Guid? PatientId);

/// <summary>An invoice for a visit of the live board (the appointment id).</summary>
public sealed record InvoiceFromVisitRequest(Guid? VisitId);

public sealed record DiscountRequest(string? Kind, decimal? Percent, MoneyRequest? Amount, string? Reason);

public sealed record FillerRequest(decimal? VolumeMl, decimal? SyringeSizeMl, decimal? AdjustmentSyringes);

public sealed record LotRequest(string? LotNumber, DateOnly? Expiry);

/// <param name="Kind">service, retail-product, injectable, filler, package-sale, gift-card-sale, membership, adjustment.
/// A package-sale names the package definition in <c>catalogItemId</c> and is priced from it (the invoice needs a
/// patient).</param>
/// <param name="PriceIncludesTax">Omitted: inclusive when the clinic's rate for the tax category is inclusive.</param>
/// <param name="Delivery">A gift-card-sale line (quantity 1) only: the card's email to its recipient (name, email, design,
/// message, sendDate/sendTime on the clinic's wall clock; both absent: when the invoice is paid). The line's unit price
/// is the card's value: it must be within the clinic's gift card range, checked when the line is added.</param>
public sealed record InvoiceLineRequest(
    string? Kind,
    string? Description,
    decimal? Quantity,
    MoneyRequest? UnitPrice,
    Guid? ProviderId,
    string? TaxCategory,
    string? IncomeCategory,
    bool? HsaFsaEligible,
    bool? PriceIncludesTax,
    DiscountRequest? Discount,
    Guid? CatalogItemId,
    FillerRequest? Filler,
    LotRequest? Lot,
    string? PriceOverrideReason = null,
    MedSpa.Api.Features.GiftCards.GiftCardDeliveryBody? Delivery = null);

public sealed record TipShareRequest(Guid? ProviderId, decimal? Percent);

public sealed record TipSplitRequest(string? Kind, Guid? ProviderId, IReadOnlyList<Guid>? Providers, IReadOnlyList<TipShareRequest>? Shares);

/// <param name="Kind">none, percent or amount.</param>
public sealed record TipRequestBody(string? Kind, decimal? Percent, MoneyRequest? Amount, TipSplitRequest? Split);

/// <param name="Kind">cash, check, other, credit, debit, hsa, fsa, package, membership, wallet (the invoice's patient's
/// wallet credit), gift-card (names the card by <c>giftCardCode</c>, as the holder gives it, or <c>giftCardId</c>).</param>
/// <param name="Reference">Membership: the membership (id) whose current period's included sessions and credit pay
/// the amount (a session pays one unit of a catalog service line of the plan, at most its value).</param>
/// <param name="PurchaseId">Package: the sold package (purchase) it draws on.</param>
/// <param name="ServiceLineId">Package: the invoice's service line it pays (omitted: the first catalog service line
/// no package pays yet). Without an amount a package tender pays that line's charged amount.</param>
/// <param name="Tendered">Cash only: what was handed over; the difference is change.</param>
/// <param name="PaymentMethodId">Cards: a token made by Stripe.js (<c>tok_...</c>/<c>pm_...</c>) or one of the
/// patient's saved cards (<c>pm_...</c>). Never a card number.</param>
/// <param name="SavedCard">Cards: the payment method must be one of the patient's saved cards.</param>
/// <param name="UseDefaultCard">Cards: charge the patient's default saved card (instead of paymentMethodId).</param>
/// <param name="OffSession">Cards: the patient is not present (saved cards only).</param>
/// <param name="GiftCardCode">Gift card: the code as the holder gives it (case, spaces and dashes do not matter). Wrong
/// codes count toward the gift card guessing limit; the code itself is never stored (the tender keeps the card id).</param>
/// <param name="GiftCardId">Gift card: the card's id, for staff who looked it up already.</param>
public sealed record TenderRequest(
    string? Kind, MoneyRequest? Amount, MoneyRequest? Tendered, string? Reference, string? PaymentMethodId = null,
    bool? SavedCard = null, bool? UseDefaultCard = null, bool? OffSession = null, Guid? PurchaseId = null, Guid? ServiceLineId = null,
    string? GiftCardCode = null, Guid? GiftCardId = null);

/// <param name="ChangeToWallet">Cash handed over beyond the balance due is kept as credit on the patient's wallet
/// instead of being given back as change (the invoice needs a patient).</param>
/// <param name="OverpaymentToWallet">A credit or debit card may pay more than the balance due: the card is charged its
/// whole amount and the excess is kept as credit on the patient's wallet (the invoice needs a patient).</param>
public sealed record PayRequest(IReadOnlyList<TenderRequest>? Tenders, bool? ChangeToWallet = null, bool? OverpaymentToWallet = null);

/// <param name="ToWallet">Refund to credit: the amount goes to the patient's wallet instead of back to the tender.</param>
public sealed record RefundRequest(Guid? TenderId, MoneyRequest? Amount, string? Reason, bool? ToWallet = null);

public sealed record VoidRequest(string? Reason);

/// <summary>Write off the balance due (owner/admin); the reason is recorded on the invoice and in the ledger memo.</summary>
public sealed record WriteOffRequest(string? Reason);

/// <summary>The new tip (as for <c>PUT .../tip</c>) of a card-paid invoice, and optionally the card tender the
/// difference goes to (default: the latest credit or debit tender).</summary>
public sealed record TipAdjustmentRequest(string? Kind, decimal? Percent, MoneyRequest? Amount, TipSplitRequest? Split, Guid? TenderId);

/// <summary>A row of the invoice list (the header projection).</summary>
public sealed record InvoiceSummary(
    Guid Id, Guid ClinicId, Guid? PatientId, string? Number, string Status, Money Subtotal, Money Discounts, Money Tax,
    Money Tips, Money Total, Money Paid, Money Refunded, Money BalanceDue, DateTimeOffset CreatedAt, DateTimeOffset? OpenedAt,
    DateTimeOffset UpdatedAt);

/// <summary>Kebab-case names of enum members, the way the JSON conventions spell them.</summary>
public static class KebabEnum
{
    public static IReadOnlyList<string> Names<T>() where T : struct, Enum =>
        Enum.GetNames<T>().Select(n => JsonNamingPolicy.KebabCaseLower.ConvertName(n)).ToArray();

    /// <summary>The member, or default when the text is not one (callers have validated it with OneOf).</summary>
    public static T ParseOrDefault<T>(string? text) where T : struct, Enum => TryParse<T>(text, out var value) ? value : default;

    public static bool TryParse<T>(string? text, out T value) where T : struct, Enum
    {
        foreach (var v in Enum.GetValues<T>())
        {
            if (string.Equals(JsonNamingPolicy.KebabCaseLower.ConvertName(v.ToString()), text, StringComparison.Ordinal))
            {
                value = v;
                return true;
            }
        }

        value = default;
        return false;
    }
}

/// <param name="PurchaseId">The threshold package (owned or shared with the invoice's patient) whose unlocked %-off
/// reward becomes the line's discount.</param>
public sealed record PackageRewardRequest(Guid? PurchaseId);
