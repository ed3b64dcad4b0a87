namespace MedSpa.GrainInterfaces.Payments;

/// <summary>What a card payment ended as. <see cref="RequiresCapture"/> is a reservation (authorised, manual
/// capture); <see cref="Succeeded"/> is money taken.</summary>
[GenerateSerializer, Alias("medspa.payments.payment-status.v1")]
public enum PaymentStatus
{
    RequiresCapture = 0,
    Succeeded = 1,
    Declined = 2,

    /// <summary>The card needs the patient (3-D Secure): an off-session charge cannot complete.</summary>
    RequiresAction = 3,
    Canceled = 4,
    Processing = 5,
    Failed = 6,
}

/// <summary>Result of a verification check as the card network reported it (Stripe's <c>checks</c> values).</summary>
[GenerateSerializer, Alias("medspa.payments.check-result.v1")]
public enum CardCheckResult
{
    Unchecked = 0,
    Pass = 1,
    Fail = 2,
    Unavailable = 3,
}

[GenerateSerializer, Alias("medspa.payments.card-funding.v1")]
public enum CardFunding
{
    Unknown = 0,
    Credit = 1,
    Debit = 2,
    Prepaid = 3,
}

/// <summary>What may be stored and shown about a card: never the number, only brand, funding, last 4 and expiry.</summary>
[GenerateSerializer, Immutable, Alias("medspa.payments.card-summary.v1")]
public sealed record CardSummary(
    [property: Id(0)] string Brand,
    [property: Id(1)] CardFunding Funding,
    [property: Id(2)] string Last4,
    [property: Id(3)] int ExpMonth,
    [property: Id(4)] int ExpYear,
    [property: Id(5)] CardCheckResult CvcCheck = CardCheckResult.Unchecked,
    [property: Id(6)] CardCheckResult PostalCodeCheck = CardCheckResult.Unchecked);

/// <summary>A card saved on a gateway customer (Stripe PaymentMethod <c>pm_...</c>).</summary>
[GenerateSerializer, Immutable, Alias("medspa.payments.saved-card.v1")]
public sealed record SavedCard(
    [property: Id(0)] string PaymentMethodId,
    [property: Id(1)] CardSummary Card,
    [property: Id(2)] bool IsDefault);

/// <summary>
/// A payment (Stripe PaymentIntent <c>pi_...</c>) as the gateway answered. <see cref="Gateway"/> is <c>stripe</c> or
/// <c>sandbox</c>; a sandbox payment never moved real money. Declines are values, not exceptions.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.payments.payment-result.v1")]
public sealed record PaymentResult(
    [property: Id(0)] string Gateway,
    [property: Id(1)] string? PaymentId,
    [property: Id(2)] PaymentStatus Status,
    [property: Id(3)] Money Amount,
    [property: Id(4)] Money AmountCaptured,
    [property: Id(5)] CardSummary? Card,
    [property: Id(6)] string? PaymentMethodId,
    [property: Id(7)] string? DeclineCode = null,
    [property: Id(8)] string? Message = null)
{
    public bool IsDeclined => Status is PaymentStatus.Declined or PaymentStatus.RequiresAction or PaymentStatus.Failed;
}

[GenerateSerializer, Alias("medspa.payments.refund-status.v1")]
public enum RefundStatus
{
    Succeeded = 0,
    Pending = 1,
    Failed = 2,
    Canceled = 3,
}

[GenerateSerializer, Immutable, Alias("medspa.payments.refund-result.v1")]
public sealed record RefundResult(
    [property: Id(0)] string Gateway,
    [property: Id(1)] string RefundId,
    [property: Id(2)] string PaymentId,
    [property: Id(3)] Money Amount,
    [property: Id(4)] RefundStatus Status,
    [property: Id(5)] string? FailureReason = null);
