using System.Collections.Immutable;
using MedSpa.GrainInterfaces.Checkout;

namespace MedSpa.GrainInterfaces.GiftCards;

/// <summary>
/// One gift card, keyed <c>"{tenantId:N}/{cardId:N}"</c> (<see cref="TenantKeys"/>): the single writer of its balance.
/// Every change is acknowledged only once durable and carries an operation id (a replay answers the first answer; the
/// same id with a different request answers <c>operation_conflict</c>). Refusals are values
/// (<see cref="GiftCardAnswer.Refusal"/>), never exceptions. The grain never holds the raw code: it is given out once
/// (<see cref="GiftCardAnswer.Code"/> of the first <see cref="IssueAsync"/> answer) and otherwise exists only as a
/// keyed hash (lookup) and, for delivery and resend, encrypted with a key that is not in the database.
/// </summary>
[Alias("medspa.giftcards.card-grain.v1")]
public interface IGiftCardGrain : IGrainWithStringKey
{
    /// <summary>Issues the card after its sale is paid (invoice line, online sale, corporate order): draws and claims a
    /// unique code, posts the liability (the sale's own entry is the invoice's; a corporate bonus is posted here), and
    /// hands the delivery (if any) to <see cref="IGiftCardDeliveryGrain"/>. Status: <c>pending</c> when the delivery
    /// is scheduled for later, else <c>active</c>. Idempotent by <see cref="GiftCardIssue.OperationId"/>.</summary>
    [Alias("issue")] Task<GiftCardAnswer> IssueAsync(GiftCardIssue issue);

    [Alias("get")] Task<GiftCardAnswer> GetAsync();

    /// <summary>Holds an amount for a checkout tender (partial allowed: at most the balance that is free).</summary>
    [Alias("reserve")] Task<GiftCardAnswer> ReserveAsync(GiftCardHold hold);

    /// <summary>Makes a hold a redemption (the invoice completed). Idempotent.</summary>
    [Alias("commit")] Task<GiftCardAnswer> CommitAsync(string operationId);

    /// <summary>Gives back a hold, or puts back a committed redemption being refunded. Unknown operation: no-op.</summary>
    [Alias("release")] Task<GiftCardAnswer> ReleaseAsync(string operationId);

    /// <summary>Adds paid value to an active card (the payment is the caller's: invoice line or online sale).</summary>
    [Alias("reload")] Task<GiftCardAnswer> ReloadAsync(GiftCardReload reload);

    /// <summary>Moves value out of this card: to another card (which receives it through <see cref="ReceiveAsync"/>)
    /// or into a patient's wallet (IWalletGrain credit with WalletCreditSource.GiftCardTransfer). Exactly once.</summary>
    [Alias("transfer")] Task<GiftCardAnswer> TransferAsync(GiftCardTransfer transfer);

    /// <summary>The receiving side of a card-to-card transfer. Idempotent by the transfer's operation id.</summary>
    [Alias("receive")] Task<GiftCardAnswer> ReceiveAsync(GiftCardTransferIn transfer);

    /// <summary>Holds value of a card sold on an invoice for a refund of that invoice (the refund's share of the gift-card
    /// liability): a pending, active or partly spent card; nothing spends it until <see cref="CommitAsync"/> with the same
    /// operation id takes it off the card (at zero the card is cancelled) or <see cref="ReleaseAsync"/> lets it go. A hold
    /// neither committed nor released lapses after <c>GiftCardRules.RefundHoldLapse</c> (a refund that crashed midway).</summary>
    [Alias("hold-for-refund")] Task<GiftCardAnswer> HoldForRefundAsync(GiftCardHold hold);

    /// <summary>Cancels/voids the card: what is left is refunded to the original tender (by the caller, from the
    /// answer) or written off; status <c>cancelled</c>. A card sold on an invoice is refunded through that invoice's
    /// refund instead (refused with <see cref="GiftCardRefusals.RefundThroughInvoice"/>), which takes the value off the
    /// card in the same step, so a card can never be both refunded and spendable.</summary>
    [Alias("cancel")] Task<GiftCardAnswer> CancelAsync(GiftCardCancel cancel);

    /// <summary>The delivery went out: a <c>pending</c> card becomes <c>active</c>. Idempotent.</summary>
    [Alias("activate")] Task<GiftCardAnswer> ActivateAsync(string operationId, DateTimeOffset at);

    /// <summary>Writes any pending transaction/ledger rows (the outbox) to PostgreSQL now.</summary>
    [Alias("flush")] Task<int> FlushProjectionAsync();

    /// <summary>Gives out the code of a card sold on an invoice without delivery, once (the desk shows or prints it for
    /// the purchaser): until then the card keeps it encrypted by the code protector; afterwards it is gone.</summary>
    [Alias("reveal-code")] Task<GiftCardAnswer> RevealCodeAsync(Guid by);

    /// <summary>Delivers the transfers this card recorded but could not hand to their receiver yet (the receiving grain
    /// was out of reach, or this card's silo died in between) and answers how many are still undelivered. What the
    /// stale-reservation sweep asks a card whose transfer-out has no transfer-in after a while; throws, like
    /// <see cref="TransferAsync"/>, while a receiver is still out of reach.</summary>
    [Alias("deliver-transfers")] Task<int> DeliverPendingTransfersAsync();
}

/// <summary>
/// A card's delivery by email, keyed like its card: the design, message, recipient and when to send (the clinic's
/// local time, fired by an Orleans reminder; a send missed while the server was down goes out on start-up), the PDF
/// with the code and a QR code, and the delivery status (<c>scheduled</c>, <c>sent</c>, <c>delivered</c>,
/// <c>bounced</c>) with resend.
/// </summary>
[Alias("medspa.giftcards.delivery-grain.v1")]
public interface IGiftCardDeliveryGrain : IGrainWithStringKey
{
    /// <summary>Schedules (or sends now) the card's email. <paramref name="protectedCode"/> is the code encrypted by
    /// the code protector. Idempotent: the same card again changes nothing.</summary>
    [Alias("schedule")] Task<GiftCardDeliveryView> ScheduleAsync(GiftCardDeliveryRequest request, string protectedCode);

    [Alias("get")] Task<GiftCardDeliveryView?> GetAsync();

    /// <summary>Sends again (to the same or a corrected email address).</summary>
    [Alias("resend")] Task<GiftCardDeliveryView> ResendAsync(string operationId, string? email, Guid by);

    /// <summary>A provider event (webhook): delivered or bounced, of the send numbered <paramref name="sendNumber"/> (the
    /// number the send was tagged with). An event of a superseded send (an earlier one than the last) is kept as history
    /// only: a late "delivered" of a send to a mistyped address must not mark the resent card delivered.</summary>
    [Alias("event")] Task<GiftCardDeliveryView> RecordEventAsync(GiftCardDeliveryStatus status, string? detail, DateTimeOffset at, int sendNumber);

    /// <summary>Does what is due now and arranges the next run: for a delivery left <c>scheduled</c> past its time (the
    /// stale corporate order sweep asks). False when the card has no delivery.</summary>
    [Alias("wake")] Task<bool> WakeIfBehindAsync();
}

[GenerateSerializer, Alias("medspa.giftcards.status.v1")]
public enum GiftCardStatus
{
    Pending = 0,
    Active = 1,
    Depleted = 2,
    Expired = 3,
    Cancelled = 4,
}

[GenerateSerializer, Alias("medspa.giftcards.design.v1")]
public enum GiftCardDesign
{
    Standard = 0,
    Birthday = 1,
    Holiday = 2,
    Spa = 3,
    Custom = 4,
}

[GenerateSerializer, Alias("medspa.giftcards.delivery-status.v1")]
public enum GiftCardDeliveryStatus
{
    Scheduled = 0,
    Sent = 1,
    Delivered = 2,
    Bounced = 3,
    Failed = 4,
}

/// <summary>Where a card's money came from.</summary>
[GenerateSerializer, Alias("medspa.giftcards.source.v1")]
public enum GiftCardSource
{
    /// <summary>A <c>gift-card-sale</c> line of a paid invoice (<see cref="GiftCardIssue.InvoiceId"/>/<see cref="GiftCardIssue.InvoiceLineId"/>).</summary>
    InvoiceLine = 0,

    /// <summary>Sold online by an API consumer (a clinic's web shop) with a card payment, no visit.</summary>
    OnlineSale = 1,

    /// <summary>A row of a corporate bulk order (<see cref="GiftCardIssue.OrderId"/>).</summary>
    CorporateOrder = 2,
}

/// <summary>Who receives the card and how. <see cref="SendAt"/> null: send now; else the instant (UTC) computed from
/// the clinic-local date and time the purchaser chose.</summary>
[GenerateSerializer, Immutable, Alias("medspa.giftcards.delivery-request.v1")]
public sealed record GiftCardDeliveryRequest(
    [property: Id(0)] string RecipientName,
    [property: Id(1)] string RecipientEmail,
    [property: Id(2)] GiftCardDesign Design,
    [property: Id(3)] string? Message,
    [property: Id(4)] DateTimeOffset? SendAt,
    [property: Id(5)] string TimeZone,
    [property: Id(6)] string? PurchaserName,
    [property: Id(7)] Guid? CustomDesignImageId = null,
    [property: Id(8)] Guid? OrderId = null);

/// <summary>A paid card to create. <see cref="Paid"/>: what the purchaser paid (the liability of the sale);
/// <see cref="Bonus"/>: extra value given (corporate volume tiers), posted by the card as a promotional cost.
/// The card's value is Paid + Bonus.</summary>
[GenerateSerializer, Immutable, Alias("medspa.giftcards.issue.v1")]
public sealed record GiftCardIssue(
    [property: Id(0)] string OperationId,
    [property: Id(1)] GiftCardSource Source,
    [property: Id(2)] Money Paid,
    [property: Id(3)] Money Bonus,
    [property: Id(4)] Guid ClinicId,
    [property: Id(5)] string TimeZone,
    [property: Id(6)] Guid? PurchaserPatientId,
    [property: Id(7)] Guid? RecipientPatientId,
    [property: Id(8)] GiftCardDeliveryRequest? Delivery,
    [property: Id(9)] DateTimeOffset? ExpiresAt,
    [property: Id(10)] Guid? InvoiceId,
    [property: Id(11)] Guid? InvoiceLineId,
    [property: Id(12)] Guid? OrderId,
    [property: Id(13)] string? PaymentReference,
    [property: Id(14)] Guid By,
    [property: Id(15)] DateTimeOffset At);

[GenerateSerializer, Immutable, Alias("medspa.giftcards.hold.v1")]
public sealed record GiftCardHold(
    [property: Id(0)] string OperationId,
    [property: Id(1)] Money Amount,
    [property: Id(2)] Guid? InvoiceId,
    [property: Id(3)] Guid ClinicId,
    [property: Id(4)] Guid By);

[GenerateSerializer, Immutable, Alias("medspa.giftcards.reload.v1")]
public sealed record GiftCardReload(
    [property: Id(0)] string OperationId,
    [property: Id(1)] Money Amount,
    [property: Id(2)] TenderKind PaidWith,
    [property: Id(3)] string? PaymentReference,
    [property: Id(4)] Guid? InvoiceId,
    [property: Id(5)] Guid ClinicId,
    [property: Id(6)] Guid By);

/// <summary>Out of this card: to <see cref="ToCardId"/> or to <see cref="ToPatientWallet"/> (exactly one).
/// <see cref="Amount"/> null: everything that is free.</summary>
[GenerateSerializer, Immutable, Alias("medspa.giftcards.transfer.v1")]
public sealed record GiftCardTransfer(
    [property: Id(0)] string OperationId,
    [property: Id(1)] Money? Amount,
    [property: Id(2)] Guid? ToCardId,
    [property: Id(3)] Guid? ToPatientWallet,
    [property: Id(4)] Guid ClinicId,
    [property: Id(5)] Guid By);

[GenerateSerializer, Immutable, Alias("medspa.giftcards.transfer-in.v1")]
public sealed record GiftCardTransferIn(
    [property: Id(0)] string OperationId,
    [property: Id(1)] Guid FromCardId,
    [property: Id(2)] Money Amount,
    [property: Id(3)] Guid ClinicId,
    [property: Id(4)] Guid By);

[GenerateSerializer, Immutable, Alias("medspa.giftcards.cancel.v1")]
public sealed record GiftCardCancel(
    [property: Id(0)] string OperationId,
    [property: Id(1)] string Reason,
    [property: Id(2)] bool RefundToOriginalTender,
    [property: Id(3)] Guid By);

/// <summary>One line of a card's history (also a row of <c>gift_card_transactions</c>).</summary>
[GenerateSerializer, Immutable, Alias("medspa.giftcards.transaction.v1")]
public sealed record GiftCardTransaction(
    [property: Id(0)] string OperationId,
    [property: Id(1)] string Kind,
    [property: Id(2)] Money Amount,
    [property: Id(3)] Money BalanceAfter,
    [property: Id(4)] Guid? InvoiceId,
    [property: Id(5)] Guid ClinicId,
    [property: Id(6)] Guid By,
    [property: Id(7)] DateTimeOffset At,
    [property: Id(8)] string? Note = null);

/// <summary>A card as staff and its holder see it (never the raw code: <see cref="Last4"/> only).</summary>
[GenerateSerializer, Immutable, Alias("medspa.giftcards.view.v1")]
public sealed record GiftCardView(
    [property: Id(0)] Guid CardId,
    [property: Id(1)] string Last4,
    [property: Id(2)] GiftCardStatus Status,
    [property: Id(3)] Money InitialValue,
    [property: Id(4)] Money Balance,
    [property: Id(5)] Money Reserved,
    [property: Id(6)] Money Available,
    [property: Id(7)] GiftCardSource Source,
    [property: Id(8)] Guid ClinicId,
    [property: Id(9)] Guid? PurchaserPatientId,
    [property: Id(10)] Guid? RecipientPatientId,
    [property: Id(11)] Guid? OrderId,
    [property: Id(12)] DateTimeOffset IssuedAt,
    [property: Id(13)] DateTimeOffset? ExpiresAt,
    [property: Id(14)] long Version);

/// <summary>Every card grain answer. <see cref="Code"/> is set only on the first answer of an issue (the one time the
/// raw code is given out); <see cref="Amount"/> is what the call moved (a hold, a transfer, a cancellation's refund).</summary>
[GenerateSerializer, Immutable, Alias("medspa.giftcards.answer.v1")]
public sealed record GiftCardAnswer(
    [property: Id(0)] GiftCardView? Card,
    [property: Id(1)] Refusal? Refusal = null,
    [property: Id(2)] string? Code = null,
    [property: Id(3)] Money? Amount = null)
{
    public bool Refused => Refusal is not null;
}

[GenerateSerializer, Immutable, Alias("medspa.giftcards.delivery-view.v1")]
public sealed record GiftCardDeliveryView(
    [property: Id(0)] Guid CardId,
    [property: Id(1)] GiftCardDeliveryStatus Status,
    [property: Id(2)] string RecipientName,
    [property: Id(3)] string RecipientEmail,
    [property: Id(4)] GiftCardDesign Design,
    [property: Id(5)] DateTimeOffset? SendAt,
    [property: Id(6)] DateTimeOffset? SentAt,
    [property: Id(7)] int Attempts,
    [property: Id(8)] string? LastDetail,
    [property: Id(9)] ImmutableArray<GiftCardDeliveryEvent> Events);

[GenerateSerializer, Immutable, Alias("medspa.giftcards.delivery-event.v1")]
public sealed record GiftCardDeliveryEvent(
    [property: Id(0)] GiftCardDeliveryStatus Status,
    [property: Id(1)] DateTimeOffset At,
    [property: Id(2)] string? Detail);

/// <summary>A card a paid invoice's <c>gift-card-sale</c> line should have issued and whose issue was refused (the card
/// grain's refusal, e.g. the clinic's currency changed after the line was added). The invoice shows it so the desk
/// sees that the sale has no card behind it and refunds the line; nothing is retried (the refusal is final).</summary>
[GenerateSerializer, Immutable, Alias("medspa.giftcards.issue-failure.v1")]
public sealed record GiftCardIssueFailure(
    [property: Id(0)] Guid LineId,
    [property: Id(1)] Guid CardId,
    [property: Id(2)] Money Amount,
    [property: Id(3)] string Code,
    [property: Id(4)] string Message,
    [property: Id(5)] DateTimeOffset At);

/// <summary>The stable refusal codes of gift cards (mapped to HTTP in api/Infrastructure/Refusals.cs).</summary>
public static class GiftCardRefusals
{
    public const string NotFound = "gift_card_not_found";
    public const string NotActive = "gift_card_not_active";
    public const string InsufficientBalance = "insufficient_balance";
    public const string AmountOutOfRange = "gift_card_amount_out_of_range";
    public const string OperationConflict = "operation_conflict";
    public const string Unavailable = "gift_card_unavailable";
    public const string TooManyAttempts = "too_many_attempts";
    public const string CurrencyMismatch = "currency_mismatch";
    public const string RefundThroughInvoice = "gift_card_refund_through_invoice";
}
