using MedSpa.GrainInterfaces.Payments;

namespace MedSpa.GrainInterfaces.Checkout;

/// <summary>How (part of) an invoice is paid. Each kind posts to its own ledger account.</summary>
[GenerateSerializer, Alias("medspa.checkout.tender-kind.v1")]
public enum TenderKind
{
    Cash = 0,
    Credit = 1,
    Debit = 2,
    Check = 3,
    GiftCard = 4,
    Package = 5,
    Membership = 6,

    /// <summary>The patient's wallet (account credit, "Botox bank" dollars).</summary>
    Wallet = 7,
    Hsa = 8,
    Fsa = 9,
    Other = 10,
}

/// <summary>
/// A tender applied to an invoice. <see cref="Amount"/> is what it pays off the invoice; for cash,
/// <see cref="Tendered"/> is what was handed over and the difference is change given back; for a card that paid more
/// than the balance with the excess kept as wallet credit, <see cref="Tendered"/> is what the card was charged.
/// <see cref="Reference"/> names the card payment, gift card code or package purchase it came from.
/// <see cref="Card"/> is set for tenders taken through the payment gateway (credit, debit, HSA, FSA).
/// A package tender pays the service line <see cref="LineId"/>; <see cref="Redeemed"/> is the value the package
/// gave for it (its session value × sessions, or the amount), which may differ from <see cref="Amount"/>: the ledger
/// posts the difference (CheckoutLedger). <see cref="AdditionalCharge"/>: what the package asks on top per session
/// (its terms' additional charge), added to the invoice as its own line when the payment commits.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.tender.v1")]
public sealed record Tender(
    [property: Id(0)] Guid Id,
    [property: Id(1)] TenderKind Kind,
    [property: Id(2)] Money Amount,
    [property: Id(3)] Money? Tendered = null,
    [property: Id(4)] string? Reference = null,
    [property: Id(5)] TenderCardPayment? Card = null,
    [property: Id(6)] Guid? LineId = null,
    [property: Id(7)] Money? Redeemed = null,
    [property: Id(8)] Money? AdditionalCharge = null)
{
    /// <summary>Kinds charged through the payment gateway (a card of some sort).</summary>
    public static bool IsCardKind(TenderKind kind) => kind is TenderKind.Credit or TenderKind.Debit or TenderKind.Hsa or TenderKind.Fsa;

    /// <summary>Change handed back: tendered − applied for cash, otherwise zero.</summary>
    public Money ChangeDue => Kind == TenderKind.Cash && Tendered is { } t && t > Amount ? t - Amount : Money.Zero(Amount.Currency);

    public bool IsHsaFsa => Kind is TenderKind.Hsa or TenderKind.Fsa;
}

/// <summary>A refund of (part of) one tender, back to where it came from. <see cref="TipAdjustment"/>: money given
/// back because the tip was lowered after the payment (the sale was already reposted with the lower tip, so this
/// refund reverses no sale; it only returns the overpayment). <see cref="Packages"/>: the sold packages this refund
/// closed (its share of their liability, and the unused value forfeited). <see cref="ToWallet"/>: the money went to the
/// patient's wallet as credit, not back to the tender (nothing went to the card processor). <see cref="GiftCards"/>: the
/// cards this invoice sold whose value the refund takes back (its share of their liability, held on each card until the
/// refund is committed, then taken off the card).</summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.tender-refund.v1")]
public sealed record TenderRefund(
    [property: Id(0)] Guid Id,
    [property: Id(1)] Guid TenderId,
    [property: Id(2)] Money Amount,
    [property: Id(3)] string? Reason = null,
    [property: Id(4)] string? GatewayRefundId = null,
    [property: Id(5)] bool TipAdjustment = false,
    [property: Id(6)] IReadOnlyList<PackageRefundShare>? Packages = null,
    [property: Id(7)] bool ToWallet = false,
    [property: Id(8)] IReadOnlyList<GiftCardRefundShare>? GiftCards = null);

/// <summary>What a refund takes back from one gift card the invoice sold (held on the card under the refund's
/// operation id, then committed: the card's balance goes down by it and, at zero, the card is cancelled).</summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.gift-card-refund-share.v1")]
public sealed record GiftCardRefundShare(
    [property: Id(0)] Guid CardId,
    [property: Id(1)] Money Amount);

/// <summary>
/// The rest of an invoice's balance closed without payment: a <see cref="Cancellation"/> (void of an invoice whose
/// payments were all refunded, by front desk and up) or a write-off (owner/admin, with a reason). Either posts the
/// reversal of that part of the sale.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.invoice-write-off.v1")]
public sealed record InvoiceWriteOff(
    [property: Id(0)] Guid Id,
    [property: Id(1)] Money Amount,
    [property: Id(2)] string? Reason,
    [property: Id(3)] Guid By,
    [property: Id(4)] DateTimeOffset At,
    [property: Id(5)] bool Cancellation);

/// <summary>
/// The gateway payment behind a card tender: which processor (<c>stripe</c> or <c>sandbox</c>), its payment id
/// (Stripe <c>pi_...</c>), the payment method charged and what may be shown of the card (never its number), with the
/// CVC and postal-code check results the network reported.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.tender-card-payment.v1")]
public sealed record TenderCardPayment(
    [property: Id(0)] string Gateway,
    [property: Id(1)] string PaymentId,
    [property: Id(2)] string? PaymentMethodId,
    [property: Id(3)] CardSummary? Card,
    [property: Id(4)] bool OffSession = false);
