using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.GiftCards;

namespace MedSpa.Api.Features.GiftCards;

/// <summary>The email delivery of a card: <see cref="SendAt"/> is the clinic's local date and time (omitted: now).</summary>
/// <param name="Design">standard, birthday, holiday, spa, custom.</param>
public sealed record GiftCardDeliveryRequestBody(
    string? RecipientName, string? RecipientEmail, string? Design, string? Message, DateTime? SendAt, string? PurchaserName,
    Guid? CustomDesignImageId = null);

/// <summary>A card sold online (a clinic's web shop, or a patient in the portal) and paid by card through the payment
/// gateway, without a visit. Needs an <c>Idempotency-Key</c>: a retry with the same key never charges or issues twice.</summary>
public sealed record GiftCardPurchaseRequest(
    Guid? ClinicId, MoneyRequest? Amount, string? PaymentMethodId, Guid? PurchaserPatientId, Guid? RecipientPatientId,
    GiftCardDeliveryRequestBody? Delivery);

/// <summary>The one answer that carries the raw code (<see cref="Code"/>): the first answer of a purchase. A retry
/// of the same purchase answers the card without it.</summary>
public sealed record GiftCardIssued(GiftCardView Card, string? Code);

/// <summary>A code typed by a person (in the body, never in a URL: URLs end up in logs).</summary>
public sealed record GiftCardLookupRequest(string? Code, int? Page = null, int? PageSize = null);

/// <param name="PaidWith">cash, check, credit, debit or other; credit and debit are charged through the payment
/// gateway with <see cref="PaymentMethodId"/>.</param>
public sealed record GiftCardReloadRequest(MoneyRequest? Amount, string? PaidWith, string? PaymentMethodId);

/// <summary>Moves value to another card (<see cref="ToCardId"/>, or its <see cref="ToCode"/>) or into a patient's
/// wallet (<see cref="ToPatientId"/>); <see cref="Amount"/> omitted: everything available.</summary>
public sealed record GiftCardTransferRequest(Guid? ToCardId, string? ToCode, Guid? ToPatientId, MoneyRequest? Amount);

/// <summary><see cref="Refund"/> (default true): what is left of the paid value goes back to the original tender.</summary>
public sealed record GiftCardCancelRequest(string? Reason, bool? Refund);

/// <summary>What a cancellation gave back: <see cref="RefundedTo"/> <c>card</c> (the online sale's card payment,
/// refunded through the gateway), <c>invoice</c> (a card sold on an invoice: refund <see cref="Refunded"/> through that
/// invoice's refund, <see cref="InvoiceId"/>) or <c>none</c>.</summary>
public sealed record GiftCardCancelled(GiftCardView Card, Money Refunded, string RefundedTo, Guid? InvoiceId, string? GatewayRefundId);

/// <summary>One line of a card's history. <see cref="Amount"/> is what the balance moved (zero for a hold and its release).</summary>
public sealed record GiftCardTransactionView(
    long Sequence, string OperationId, string Kind, Money Amount, Money BalanceAfter, Guid? InvoiceId, Guid? ClinicId, Guid? By, string? Note,
    DateTimeOffset OccurredAt);

/// <summary>A clinic's gift card rules: value range in minor units, and expiry in months (null: cards never expire).</summary>
public sealed record GiftCardSettingsBody(long? MinAmount, long? MaxAmount, int? ExpiryMonths);

public sealed record GiftCardSettingsView(Guid ClinicId, string Currency, long MinAmount, long MaxAmount, int? ExpiryMonths);
