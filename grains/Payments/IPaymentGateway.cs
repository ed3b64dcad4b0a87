using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Payments;

namespace MedSpa.Grains.Payments;

/// <summary>
/// The card processor. Two implementations: Stripe (silo/…/Payments, through Stripe.net) and the sandbox (the default
/// when no Stripe key is configured; behaves like Stripe's test mode and says <c>sandbox</c> in every result).
/// Every mutating call takes an idempotency key that is passed to the processor, so a retried call never charges
/// twice. Declines come back as values (<see cref="PaymentResult.IsDeclined"/>); <see cref="PaymentGatewayException"/>
/// means the processor could not be reached or refused the request itself (after retries of transient failures).
/// </summary>
public interface IPaymentGateway
{
    /// <summary><c>stripe</c> or <c>sandbox</c>.</summary>
    string Name { get; }

    /// <summary>Creates the processor-side customer for a patient (Stripe <c>cus_...</c>); the caller stores the id.</summary>
    Task<string> CreateCustomerAsync(CustomerRequest request, string idempotencyKey, CancellationToken cancellationToken = default);

    /// <summary>Starts saving a card: the returned client secret goes to the front end (Stripe.js collects the card).</summary>
    Task<SetupIntentResult> CreateSetupIntentAsync(string customerId, string idempotencyKey, CancellationToken cancellationToken = default);

    /// <summary>Attaches a payment method the front end created with Stripe.js (or a Stripe test method such as
    /// <c>pm_card_visa</c>) to the customer; answers the card as saved. Attaching one already on this customer is a no-op.</summary>
    Task<SavedCard> AttachCardAsync(string customerId, string paymentMethodId, string idempotencyKey, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<SavedCard>> ListCardsAsync(string customerId, CancellationToken cancellationToken = default);

    Task SetDefaultCardAsync(string customerId, string paymentMethodId, string idempotencyKey, CancellationToken cancellationToken = default);

    Task RemoveCardAsync(string paymentMethodId, string idempotencyKey, CancellationToken cancellationToken = default);

    /// <summary>Creates and confirms a payment. With <see cref="PaymentRequest.CaptureLater"/> the money is only
    /// reserved (status <see cref="PaymentStatus.RequiresCapture"/>) until <see cref="CaptureAsync"/> or
    /// <see cref="CancelAsync"/>.</summary>
    Task<PaymentResult> CreatePaymentAsync(PaymentRequest request, CancellationToken cancellationToken = default);

    /// <summary>Captures a reservation, all of it or <paramref name="amount"/>.</summary>
    Task<PaymentResult> CaptureAsync(string paymentId, Money? amount, string idempotencyKey, CancellationToken cancellationToken = default);

    /// <summary>Releases a reservation (nothing is charged).</summary>
    Task<PaymentResult> CancelAsync(string paymentId, string idempotencyKey, CancellationToken cancellationToken = default);

    Task<RefundResult> RefundAsync(
        string paymentId, Money amount, string idempotencyKey, string? reason, CancellationToken cancellationToken = default);
}

/// <param name="TenantId">Stored as metadata on the processor's object, so a webhook can find its tenant.</param>
public sealed record CustomerRequest(Guid TenantId, Guid PatientId, string Name, string? Email, string? Phone);

public sealed record SetupIntentResult(string SetupIntentId, string ClientSecret, string Gateway);

/// <summary>
/// One charge. <see cref="PaymentMethod"/> is a saved card (<c>pm_...</c>) or a token freshly made by Stripe.js
/// (<c>tok_...</c> / <c>pm_...</c>); <see cref="OffSession"/> when the patient is not present (saved card charged
/// later). <see cref="Metadata"/> carries tenant, invoice and tender ids to the processor.
/// </summary>
public sealed record PaymentRequest(
    Money Amount,
    string PaymentMethod,
    string? CustomerId,
    bool CaptureLater,
    bool OffSession,
    string IdempotencyKey,
    string? Description,
    IReadOnlyDictionary<string, string> Metadata);

/// <summary>The processor could not be reached, kept failing after retries, or rejected the request as invalid.</summary>
public sealed class PaymentGatewayException(string message, bool transient, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>True when retrying later may succeed (network, 5xx, 429); false for a request the processor refused.</summary>
    public bool Transient { get; } = transient;
}
