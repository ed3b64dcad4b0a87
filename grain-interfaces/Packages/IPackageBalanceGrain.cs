using System.Collections.Immutable;

namespace MedSpa.GrainInterfaces.Packages;

/// <summary>
/// One sold package (a purchase), keyed <c>"{tenantId:N}/{purchaseId:N}"</c> (<see cref="PackageKeys"/>): the single
/// writer of its balance. Every change is acknowledged only once durable; concurrent requests share storage writes
/// (group commit, DESIGN.md §4); every change carries an operation id and a replay answers the first answer.
/// Refusals are values (<see cref="PackageAnswer.Refusal"/>), never exceptions.
/// </summary>
[Alias("medspa.packages.balance-grain.v1")]
public interface IPackageBalanceGrain : IGrainWithStringKey
{
    /// <summary>Creates the package from a paid sale (idempotent: the same purchase again answers the package).</summary>
    [Alias("create")] Task<PackageAnswer> CreateAsync(PackagePurchase purchase);

    [Alias("get")] Task<PackageAnswer> GetAsync();

    /// <summary>Redeems at once (front desk, online booking): checks eligibility and restrictions, takes the value and
    /// posts liability → revenue itself. A replay of the operation id answers the first answer.</summary>
    [Alias("redeem")] Task<PackageAnswer> RedeemAsync(PackageRedemptionRequest request);

    /// <summary>Holds the value for a checkout tender (same checks as redeem); nothing is posted: the invoice posts the
    /// tender when it completes.</summary>
    [Alias("reserve")] Task<PackageAnswer> ReserveAsync(PackageRedemptionRequest request);

    /// <summary>Makes a reservation a redemption (the invoice completed). Idempotent.</summary>
    [Alias("commit")] Task<PackageAnswer> CommitAsync(string operationId);

    /// <summary>Gives back a reservation, or a committed checkout redemption being refunded. Releasing an unknown
    /// operation is a no-op (nothing was taken).</summary>
    [Alias("release")] Task<PackageAnswer> ReleaseAsync(string operationId);

    /// <summary>Undoes a redemption (front desk undo): restores exactly what it took and reverses its posting.</summary>
    [Alias("reverse")] Task<PackageAnswer> ReverseAsync(PackageReversal reversal);

    [Alias("add-member")] Task<PackageAnswer> AddMemberAsync(PackageMemberChange change);

    [Alias("remove-member")] Task<PackageAnswer> RemoveMemberAsync(PackageMemberChange change);

    /// <summary>Counts spend or a visit toward a threshold package (after an invoice is paid). Idempotent.</summary>
    [Alias("accrue")] Task<PackageAnswer> AccrueAsync(PackageAccrual accrual);

    /// <summary>Takes back (part of) what an accrual counted, because its invoice was refunded: after this call the share
    /// <see cref="PackageAccrualReversal.Part"/>/<see cref="PackageAccrualReversal.Whole"/> of what it counted is taken
    /// back (cumulative, so a repeat or a smaller share takes nothing more). A reward already used stays used: what it
    /// rested on is owed back by later accruals. An accrual this package never counted: nothing to take back. Idempotent.</summary>
    [Alias("take-back-accrual")] Task<PackageAnswer> TakeBackAccrualAsync(PackageAccrualReversal reversal);

    /// <summary>The sale was refunded (whole, or pro rata for what is unused) or the package cancelled: the unused
    /// liability is reversed and the status becomes refunded/cancelled. Idempotent.</summary>
    [Alias("close")] Task<PackageAnswer> CloseAsync(PackageClosing closing);

    /// <summary>Writes any pending history/ledger rows (the outbox) to PostgreSQL now.</summary>
    [Alias("flush")] Task<int> FlushProjectionAsync();

    /// <summary>Holds the package for a refund of its sale that gives back <paramref name="amount"/> of what is unused:
    /// refused unless that much is unused and no checkout holds any of it; then nothing is redeemed, reversed or
    /// released until <see cref="CloseAsync"/> with the same operation id closes it, <see cref="ReleaseRefundHoldAsync"/>
    /// lets it go (the refund failed), or the hold lapses (<c>PackageBalanceRules.RefundHoldTimeout</c>). What the
    /// refund planned on is then what the closing finds. Idempotent.</summary>
    [Alias("hold-for-refund")] Task<PackageAnswer> HoldForRefundAsync(string operationId, Money amount);

    [Alias("release-refund-hold")] Task<PackageAnswer> ReleaseRefundHoldAsync(string operationId);

    /// <summary>A package sold on a payment plan: how much of it may be redeemed now (what its invoice has been paid,
    /// plus the plan's allowance), pushed by the invoice whenever a payment changes it — so a redemption reads nothing
    /// more than the grain's own state. Ordered by <see cref="PackagePaidShare.Sequence"/>: an older push is ignored.</summary>
    [Alias("paid-share")] Task<PackageAnswer> UpdatePaidShareAsync(PackagePaidShare share);
}

/// <summary>What a package sold on a payment plan may be redeemed up to (null: paid in full, no limit) and how much of
/// its value a write-off of the unpaid rest took out of the package liability (<see cref="ValueCut"/>, cumulative).
/// <see cref="Sequence"/> is the invoice's version when it was computed.</summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.paid-share.v1")]
public sealed record PackagePaidShare(
    [property: Id(0)] long Sequence,
    [property: Id(1)] Money? RedeemableUpTo,
    [property: Id(2)] Money ValueCut);

public static class PackageKeys
{
    public static string For(Guid tenantId, Guid id) => TenantKeys.For(tenantId, id);

    public static bool TryParse(string key, out Guid tenantId, out Guid id) =>
        TenantKeys.TryParse(key, out tenantId, out id);
}

/// <summary>A paid package sale. <see cref="NetPaid"/> is the liability it created (pre-tax net after discounts);
/// <see cref="InvoiceId"/>/<see cref="InvoiceLineId"/> are null for a package sold outside an invoice.</summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.purchase.v1")]
public sealed record PackagePurchase(
    [property: Id(0)] Guid OwnerPatientId,
    [property: Id(1)] Guid ClinicId,
    [property: Id(2)] PackageTerms Terms,
    [property: Id(3)] Money NetPaid,
    [property: Id(4)] DateTimeOffset PurchasedAt,
    [property: Id(5)] string TimeZone,
    [property: Id(6)] Guid? InvoiceId,
    [property: Id(7)] Guid? InvoiceLineId,
    [property: Id(8)] Guid SoldBy,
    [property: Id(9)] PackagePaidShare? PaidShare = null);

/// <summary>
/// A redemption. Sessions: <see cref="Quantity"/> of <see cref="ServiceId"/>; a <c>wallet</c> package redeems
/// <see cref="Amount"/> against the service (partial amounts when the package allows them). <see cref="PatientId"/>
/// is the owner or a member; <see cref="At"/> is when the service happens (restrictions are checked on it, clinic-
/// local); <see cref="BookedAt"/> is when an online booking was made (minimum notice), null at the front desk.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.redemption-request.v1")]
public sealed record PackageRedemptionRequest(
    [property: Id(0)] string OperationId,
    [property: Id(1)] Guid ServiceId,
    [property: Id(2)] int Quantity,
    [property: Id(3)] Money? Amount,
    [property: Id(4)] Guid PatientId,
    [property: Id(5)] Guid ClinicId,
    [property: Id(6)] Guid? ProviderId,
    [property: Id(7)] Guid? VisitId,
    [property: Id(8)] DateTimeOffset At,
    [property: Id(9)] DateTimeOffset? BookedAt,
    [property: Id(10)] Guid By,
    [property: Id(11)] Guid? InvoiceId = null);

[GenerateSerializer, Alias("medspa.packages.redemption-state.v1")]
public enum PackageRedemptionState
{
    Reserved = 0,
    Committed = 1,
    Released = 2,
    Reversed = 3,
}

/// <summary>What one redemption took: <see cref="Value"/> is the liability drawn (session value × sessions, or the
/// amount); <see cref="FreeSessions"/> of them were free (buy-get-free); <see cref="AdditionalCharge"/> is what to add
/// to the invoice; <see cref="StaffCompensation"/> is recorded for the provider.</summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.redemption.v1")]
public sealed record PackageRedemption(
    [property: Id(0)] string OperationId,
    [property: Id(1)] PackageRedemptionState State,
    [property: Id(2)] Guid ServiceId,
    [property: Id(3)] int Quantity,
    [property: Id(4)] int FreeSessions,
    [property: Id(5)] Money Value,
    [property: Id(6)] Money AdditionalCharge,
    [property: Id(7)] Money StaffCompensation,
    [property: Id(8)] Guid PatientId,
    [property: Id(9)] Guid ClinicId,
    [property: Id(10)] Guid? ProviderId,
    [property: Id(11)] Guid? VisitId,
    [property: Id(12)] DateTimeOffset At,
    [property: Id(13)] Guid By);

[GenerateSerializer, Immutable, Alias("medspa.packages.reversal.v1")]
public sealed record PackageReversal(
    [property: Id(0)] string OperationId,
    [property: Id(1)] string RedemptionOperationId,
    [property: Id(2)] Guid By,
    [property: Id(3)] string? Reason);

/// <summary>Adds (or updates the limit of) / removes a family member. <see cref="SessionLimit"/> / <see cref="AmountLimit"/>:
/// what this member may use in total (null: no per-member limit).</summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.member-change.v1")]
public sealed record PackageMemberChange(
    [property: Id(0)] string OperationId,
    [property: Id(1)] Guid PatientId,
    [property: Id(2)] Guid By,
    [property: Id(3)] int? SessionLimit = null,
    [property: Id(4)] Money? AmountLimit = null);

[GenerateSerializer, Immutable, Alias("medspa.packages.accrual.v1")]
public sealed record PackageAccrual(
    [property: Id(0)] string OperationId,
    [property: Id(1)] Money Spend,
    [property: Id(2)] int Visits,
    [property: Id(3)] Guid? InvoiceId,
    [property: Id(4)] DateTimeOffset At);

/// <summary>A refund of the invoice behind accrual <see cref="AccrualOperationId"/>: the refunded share so far is
/// <see cref="Part"/> of <see cref="Whole"/> (the invoice refunded whole: Part = Whole).</summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.accrual-reversal.v1")]
public sealed record PackageAccrualReversal(
    [property: Id(0)] string OperationId,
    [property: Id(1)] string AccrualOperationId,
    [property: Id(2)] long Part,
    [property: Id(3)] long Whole,
    [property: Id(4)] DateTimeOffset At);

[GenerateSerializer, Alias("medspa.packages.closing-kind.v1")]
public enum PackageClosingKind
{
    /// <summary>The sale was refunded: status refunded, what is unused leaves the liability (the invoice refunds the money).</summary>
    Refunded = 0,

    /// <summary>Cancelled by the clinic without refund: what is unused is breakage.</summary>
    Cancelled = 1,

    /// <summary>Expired (the expiry reminder): what is unused is breakage.</summary>
    Expired = 2,
}

[GenerateSerializer, Immutable, Alias("medspa.packages.closing.v1")]
public sealed record PackageClosing(
    [property: Id(0)] string OperationId,
    [property: Id(1)] PackageClosingKind Kind,
    [property: Id(2)] Guid By,
    [property: Id(3)] string? Reason,
    [property: Id(4)] DateTimeOffset At);

/// <summary>A family member of a shared package and what they have used.</summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.member.v1")]
public sealed record PackageMember(
    [property: Id(0)] Guid PatientId,
    [property: Id(1)] int? SessionLimit,
    [property: Id(2)] Money? AmountLimit,
    [property: Id(3)] int SessionsUsed,
    [property: Id(4)] Money AmountUsed);

/// <summary>What is left of one eligible service (multi-service: its own count; other session types: the pool).</summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.service-balance.v1")]
public sealed record PackageServiceBalance(
    [property: Id(0)] Guid ServiceId,
    [property: Id(1)] string ServiceName,
    [property: Id(2)] int SessionsLeft);

/// <summary>
/// A package as the front desk and the patient see it. Sessions: <see cref="SessionsLeft"/> of
/// <see cref="SessionsTotal"/> (buy-get-free: <see cref="FreeSessionsLeft"/> of them free); wallet: <see cref="CreditLeft"/>;
/// threshold: <see cref="ThresholdProgress"/> of the target and <see cref="RewardsAvailable"/>. <see cref="LiabilityLeft"/>
/// is the unused value still owed to the patient (what a refund or expiry reverses). <see cref="Reserved"/>: held by
/// checkouts in progress. <see cref="LiabilityClosed"/>: what closing the package (refund, cancellation, expiry) took out
/// of the liability — for a refund, the unused value the invoice refund reverses.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.view.v1")]
public sealed record PackageView(
    [property: Id(0)] Guid PurchaseId,
    [property: Id(1)] PackageTerms Terms,
    [property: Id(2)] PackageStatus Status,
    [property: Id(3)] Guid OwnerPatientId,
    [property: Id(4)] Guid ClinicId,
    [property: Id(5)] DateTimeOffset PurchasedAt,
    [property: Id(6)] DateTimeOffset? ExpiresAt,
    [property: Id(7)] int SessionsTotal,
    [property: Id(8)] int SessionsLeft,
    [property: Id(9)] int FreeSessionsLeft,
    [property: Id(10)] ImmutableArray<PackageServiceBalance> Services,
    [property: Id(11)] Money? CreditLeft,
    [property: Id(12)] long ThresholdProgress,
    [property: Id(13)] int RewardsAvailable,
    [property: Id(14)] Money LiabilityLeft,
    [property: Id(15)] Money Reserved,
    [property: Id(16)] ImmutableArray<PackageMember> Members,
    [property: Id(17)] long Version,
    [property: Id(18)] Money? LiabilityClosed = null,
    [property: Id(19)] Money? RedeemableUpTo = null);

/// <summary>Every package grain answer: the package after the call and, for a redemption, what it took — or a refusal
/// (<c>not_eligible</c>, <c>insufficient_balance</c>, <c>expired</c>, <c>restricted_blackout</c>, ...).</summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.answer.v1")]
public sealed record PackageAnswer(
    [property: Id(0)] PackageView? Package,
    [property: Id(1)] PackageRedemption? Redemption = null,
    [property: Id(2)] Refusal? Refusal = null)
{
    public bool Refused => Refusal is not null;
}

/// <summary>The stable refusal codes of packages and the wallet (mapped to HTTP in api/Infrastructure/Refusals.cs).</summary>
public static class PackageRefusals
{
    public const string NotFound = "package_not_found";
    public const string NotEligible = "not_eligible";
    public const string InsufficientBalance = "insufficient_balance";
    public const string Expired = "expired";
    public const string NotActive = "package_not_active";
    public const string RestrictedBlackout = "restricted_blackout";
    public const string RestrictedProvider = "restricted_provider";
    public const string RestrictedTime = "restricted_time";
    public const string RestrictedClinic = "restricted_clinic";
    public const string RestrictedNotice = "restricted_notice";
    public const string RestrictedWeeklyLimit = "restricted_weekly_limit";
    public const string RestrictedPerVisit = "restricted_per_visit";
    public const string NotMember = "not_member";
    public const string MemberLimit = "member_limit";
    public const string SharingNotAllowed = "sharing_not_allowed";
    public const string PartialNotAllowed = "partial_not_allowed";
    public const string OperationConflict = "operation_conflict";

    /// <summary>The package's storage write failed: nothing of the request was kept; retry with the same operation id.</summary>
    public const string Unavailable = "package_unavailable";

    /// <summary>A wallet tender or a refund to credit on an invoice without a patient (there is no wallet to use).</summary>
    public const string PatientRequired = "patient_required";

    /// <summary>A wallet operation in another currency than the wallet's.</summary>
    public const string CurrencyMismatch = "currency_mismatch";

    /// <summary>A package sold on a payment plan: this redemption would take more than the plan has paid so far (plus
    /// its allowance). 422 with <c>redeemableLeft</c>.</summary>
    public const string PlanUnpaid = "package_plan_unpaid";
}
