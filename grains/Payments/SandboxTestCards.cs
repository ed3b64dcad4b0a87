using MedSpa.GrainInterfaces.Payments;

namespace MedSpa.Grains.Payments;

/// <summary>
/// How a sandbox test card behaves when charged. <see cref="ErrorCode"/> (Stripe's error <c>code</c>, e.g.
/// <c>card_declined</c>, <c>expired_card</c>, <c>incorrect_cvc</c>) with an optional <see cref="DeclineCode"/> makes
/// every charge a decline; <see cref="RequiresAuthentication"/> makes it need 3-D Secure. <see cref="ExpYear"/> 0 means
/// "three years from today" (Stripe accepts any future expiry for its test cards).
/// </summary>
public sealed record SandboxCardProfile(
    string Brand,
    CardFunding Funding,
    string Last4,
    int ExpMonth = 12,
    int ExpYear = 0,
    CardCheckResult CvcCheck = CardCheckResult.Pass,
    CardCheckResult PostalCodeCheck = CardCheckResult.Pass,
    string? ErrorCode = null,
    string? DeclineCode = null,
    string? Message = null,
    bool RequiresAuthentication = false)
{
    public bool Declines => ErrorCode is not null;

    /// <summary>The decline code a caller sees: Stripe's <c>decline_code</c>, or its error <c>code</c> when the
    /// network gave none (expired_card, incorrect_cvc).</summary>
    public string? EffectiveDeclineCode => DeclineCode ?? ErrorCode;
}

/// <summary>
/// Stripe's documented test payment methods and tokens (https://docs.stripe.com/testing), with the numbers' last 4
/// digits and the outcome Stripe's test mode gives them.
/// </summary>
public static class SandboxTestCards
{
    private const string Declined = "Your card was declined.";

    public static readonly SandboxCardProfile Visa = new("visa", CardFunding.Credit, "4242");
    public static readonly SandboxCardProfile VisaDebit = new("visa", CardFunding.Debit, "5556");
    public static readonly SandboxCardProfile Mastercard = new("mastercard", CardFunding.Credit, "4444");
    public static readonly SandboxCardProfile MastercardDebit = new("mastercard", CardFunding.Debit, "8210");
    public static readonly SandboxCardProfile MastercardPrepaid = new("mastercard", CardFunding.Prepaid, "5100");
    public static readonly SandboxCardProfile Amex = new("amex", CardFunding.Credit, "0005");
    public static readonly SandboxCardProfile Discover = new("discover", CardFunding.Credit, "1117");

    public static readonly SandboxCardProfile GenericDecline =
        new("visa", CardFunding.Credit, "0002", ErrorCode: "card_declined", DeclineCode: "generic_decline", Message: Declined);
    public static readonly SandboxCardProfile InsufficientFunds =
        new("visa", CardFunding.Credit, "9995", ErrorCode: "card_declined", DeclineCode: "insufficient_funds",
            Message: "Your card has insufficient funds.");
    public static readonly SandboxCardProfile LostCard =
        new("visa", CardFunding.Credit, "9987", ErrorCode: "card_declined", DeclineCode: "lost_card", Message: Declined);
    public static readonly SandboxCardProfile StolenCard =
        new("visa", CardFunding.Credit, "9979", ErrorCode: "card_declined", DeclineCode: "stolen_card", Message: Declined);
    public static readonly SandboxCardProfile ExpiredCard =
        new("visa", CardFunding.Credit, "0069", ErrorCode: "expired_card", Message: "Your card has expired.");
    public static readonly SandboxCardProfile IncorrectCvc =
        new("visa", CardFunding.Credit, "0127", CvcCheck: CardCheckResult.Fail, ErrorCode: "incorrect_cvc",
            Message: "Your card's security code is incorrect.");
    public static readonly SandboxCardProfile ProcessingError =
        new("visa", CardFunding.Credit, "0119", ErrorCode: "processing_error",
            Message: "An error occurred while processing your card. Try again in a little bit.");

    /// <summary>Charges succeed; the CVC check fails (Stripe's default Radar rules would block it, test mode does not).</summary>
    public static readonly SandboxCardProfile CvcCheckFail = new("visa", CardFunding.Credit, "0101", CvcCheck: CardCheckResult.Fail);

    /// <summary>Charges succeed; the postal-code (AVS zip) check fails.</summary>
    public static readonly SandboxCardProfile PostalCodeCheckFail = new("visa", CardFunding.Credit, "0036", PostalCodeCheck: CardCheckResult.Fail);

    /// <summary>Needs 3-D Secure on every charge: on-session it asks for action, off-session it is declined with
    /// <c>authentication_required</c>.</summary>
    public static readonly SandboxCardProfile AuthenticationRequired =
        new("visa", CardFunding.Credit, "3184", RequiresAuthentication: true);

    /// <summary>Payment method ids (<c>pm_card_*</c>) and card tokens (<c>tok_*</c>) the sandbox knows.</summary>
    public static IReadOnlyDictionary<string, SandboxCardProfile> ById { get; } = new Dictionary<string, SandboxCardProfile>(StringComparer.Ordinal)
    {
        ["pm_card_visa"] = Visa,
        ["tok_visa"] = Visa,
        ["pm_card_visa_debit"] = VisaDebit,
        ["tok_visa_debit"] = VisaDebit,
        ["pm_card_mastercard"] = Mastercard,
        ["tok_mastercard"] = Mastercard,
        ["pm_card_mastercard_debit"] = MastercardDebit,
        ["tok_mastercard_debit"] = MastercardDebit,
        ["pm_card_mastercard_prepaid"] = MastercardPrepaid,
        ["tok_mastercard_prepaid"] = MastercardPrepaid,
        ["pm_card_amex"] = Amex,
        ["tok_amex"] = Amex,
        ["pm_card_discover"] = Discover,
        ["tok_discover"] = Discover,
        ["pm_card_chargeDeclined"] = GenericDecline,
        ["pm_card_visa_chargeDeclined"] = GenericDecline,
        ["tok_chargeDeclined"] = GenericDecline,
        ["tok_visa_chargeDeclined"] = GenericDecline,
        ["pm_card_chargeDeclinedInsufficientFunds"] = InsufficientFunds,
        ["pm_card_visa_chargeDeclinedInsufficientFunds"] = InsufficientFunds,
        ["tok_chargeDeclinedInsufficientFunds"] = InsufficientFunds,
        ["tok_visa_chargeDeclinedInsufficientFunds"] = InsufficientFunds,
        ["pm_card_chargeDeclinedLostCard"] = LostCard,
        ["pm_card_visa_chargeDeclinedLostCard"] = LostCard,
        ["tok_chargeDeclinedLostCard"] = LostCard,
        ["pm_card_chargeDeclinedStolenCard"] = StolenCard,
        ["pm_card_visa_chargeDeclinedStolenCard"] = StolenCard,
        ["tok_chargeDeclinedStolenCard"] = StolenCard,
        ["pm_card_chargeDeclinedExpiredCard"] = ExpiredCard,
        ["tok_chargeDeclinedExpiredCard"] = ExpiredCard,
        ["pm_card_chargeDeclinedIncorrectCvc"] = IncorrectCvc,
        ["tok_chargeDeclinedIncorrectCvc"] = IncorrectCvc,
        ["pm_card_chargeDeclinedProcessingError"] = ProcessingError,
        ["tok_chargeDeclinedProcessingError"] = ProcessingError,
        ["pm_card_cvcCheckFail"] = CvcCheckFail,
        ["tok_cvcCheckFail"] = CvcCheckFail,
        ["pm_card_avsZipFail"] = PostalCodeCheckFail,
        ["tok_avsZipFail"] = PostalCodeCheckFail,
        ["pm_card_authenticationRequired"] = AuthenticationRequired,
        ["tok_authenticationRequired"] = AuthenticationRequired,
    };
}
