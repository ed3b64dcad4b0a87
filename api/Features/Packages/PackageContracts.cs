using System.Collections.Immutable;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;

namespace MedSpa.Api.Features.Packages;

/// <summary>
/// Redeem from a package. <c>operationId</c> stands in for the <c>Idempotency-Key</c> header (one of them is required);
/// sessions: <c>quantity</c> (default 1); a wallet package: <c>amount</c>. <c>patientId</c> (default: the owner) is the
/// owner or a family member; <c>at</c> (default: now) is when the service happens, <c>bookedAt</c> when an online
/// booking was made (minimum notice), absent at the front desk.
/// </summary>
public sealed record RedemptionBody(
    string? OperationId, Guid? ServiceId, int? Quantity, MoneyRequest? Amount, Guid? PatientId, Guid? ClinicId,
    Guid? ProviderId, Guid? VisitId, DateTimeOffset? At, DateTimeOffset? BookedAt, Guid? InvoiceId = null);

/// <summary>Auto-redeem: the service, where, with whom and when; the server picks the package (soonest-expiring,
/// lowest balance, best value). <c>online</c>: an online booking, which only uses packages that allow it.</summary>
public sealed record AutoRedeemBody(
    string? OperationId, Guid? ServiceId, int? Quantity, Guid? ClinicId, Guid? ProviderId, Guid? VisitId,
    DateTimeOffset? At, DateTimeOffset? BookedAt, bool? Online);

public sealed record ReversalBody(string? Reason);

/// <summary>Share a package with another patient of the organisation, optionally limited to a number of sessions or
/// an amount (wallet packages) in total; adding a member again changes their limits.</summary>
public sealed record MemberBody(Guid? PatientId, int? SessionLimit, MoneyRequest? AmountLimit);

/// <summary>What is left after a redemption or reversal.</summary>
public sealed record PackageRemaining(
    PackageStatus Status, int SessionsLeft, int FreeSessionsLeft, ImmutableArray<PackageServiceBalance> Services, Money? CreditLeft,
    int RewardsAvailable, Money LiabilityLeft, Money? RedeemableLeft = null)
{
    /// <summary><c>redeemableLeft</c>: a package sold on a payment plan, what more may be redeemed until the next payment.</summary>
    public static PackageRemaining Of(PackageView p) =>
        new(p.Status, p.SessionsLeft, p.FreeSessionsLeft, p.Services, p.CreditLeft, p.RewardsAvailable, p.LiabilityLeft, p.RedeemableUpTo);
}

/// <summary>
/// The answer to a redemption: what was redeemed (<see cref="Redemption"/>), what to add to the visit's invoice
/// (<see cref="AdditionalCharge"/>), the staff compensation recorded, and what is left. <see cref="InvoiceLineId"/>:
/// the invoice line the additional charge became, when the redemption named an invoice that could take it.
/// </summary>
public sealed record PackageRedemptionResult(
    Guid PurchaseId, string PackageName, PackageRedemption Redemption, Money AdditionalCharge, Money StaffCompensation,
    PackageRemaining Remaining, Guid? InvoiceLineId = null)
{
    public static PackageRedemptionResult Of(PackageView package, PackageRedemption redemption) =>
        new(package.PurchaseId, package.Terms.Name, redemption, redemption.AdditionalCharge, redemption.StaffCompensation,
            PackageRemaining.Of(package));
}

/// <summary>One use of a package as its history shows it: who used it, for what, when, where, entered by whom, and
/// its state (reserved by a checkout, committed, released, reversed).</summary>
public sealed record PackageUsage(
    string OperationId, string State, Guid PatientId, string? PatientName, Guid ServiceId, string? ServiceName, int Quantity,
    int FreeSessions, Money Value, Money AdditionalCharge, Money StaffCompensation, DateTimeOffset At, Guid ClinicId,
    string? ClinicName, Guid? ProviderId, string? ProviderName, Guid? VisitId, Guid By, string? ByName);

/// <summary>
/// How much of what a package definition sold has been used: <see cref="Sold"/> purchases for <see cref="SoldValue"/>
/// (net paid); <see cref="RedeemedValue"/> of the prepaid value used (committed redemptions, reversals excluded);
/// <see cref="SessionsUsed"/> of <see cref="SessionsTotal"/> sessions; <see cref="Rate"/> = redeemed / sold value.
/// </summary>
public sealed record RedemptionRate(
    Guid DefinitionId, string Name, int Sold, Money SoldValue, Money RedeemedValue, long SessionsUsed,
    long SessionsTotal, decimal Rate, decimal SessionRate, IReadOnlyDictionary<string, int> ByStatus);
