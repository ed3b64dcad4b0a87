using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Checkout;

namespace MedSpa.Grains.Domain.Packages;

/// <summary>
/// One sold package as its balance grain keeps it (the commit point). Counters say what has been taken; every
/// redemption keeps exactly what it took (<see cref="PackageTake"/>), so a release or reversal gives back exactly that.
/// <see cref="LiabilityDrawn"/> is the prepaid value taken by redemptions and reservations (and, once closed, what the
/// closing took); the liability left is <c>NetPaid − LiabilityDrawn</c>. Amounts are cents of the purchase's currency.
/// </summary>
[GenerateSerializer, Alias("medspa.packages.balance-state.v1")]
public sealed class PackageBalanceState
{
    [Id(0)] public bool Created { get; set; }
    [Id(1)] public Guid PurchaseId { get; set; }
    [Id(2)] public PackagePurchase? Purchase { get; set; }
    [Id(3)] public PackageStatus Status { get; set; }
    [Id(4)] public DateTimeOffset? ExpiresAt { get; set; }

    /// <summary>Paid sessions of the pool used (standard, no-upfront, the bought part of buy-get-free).</summary>
    [Id(5)] public int BoughtUsed { get; set; }
    [Id(6)] public int FreeUsed { get; set; }

    /// <summary>multi-service: sessions used per service.</summary>
    [Id(7)] public Dictionary<Guid, int> ServiceUsed { get; set; } = [];

    /// <summary>wallet: credit taken, in cents.</summary>
    [Id(8)] public long CreditUsed { get; set; }
    [Id(9)] public long LiabilityDrawn { get; set; }
    [Id(10)] public long ThresholdProgress { get; set; }
    [Id(11)] public int RewardsEarned { get; set; }
    [Id(12)] public int RewardsUsed { get; set; }
    [Id(13)] public long RewardCreditUsed { get; set; }
    [Id(14)] public List<PackageMemberState> Members { get; set; } = [];

    /// <summary>The redemptions and reservations the grain keeps in memory, by operation id: the answer to a replay,
    /// and what a release or reversal gives back. Every reservation stays here until it is settled; a settled
    /// redemption whose <c>package_redemptions</c> row is durable leaves once more than
    /// <see cref="PackageBalanceRules.SettledRedemptionsKept"/> are settled (<see cref="PackageBalanceRules.Trim"/>), so
    /// the state every write carries does not grow with the package's history; the grain reads such a redemption back
    /// from its row when it is replayed or undone.</summary>
    [Id(15)] public Dictionary<string, RedemptionRecord> Redemptions { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The other operations (and refused redemptions) by operation id, for replays; the oldest are forgotten
    /// beyond <see cref="PackageBalanceRules.RememberedOperations"/> (<see cref="OperationOrder"/>).</summary>
    [Id(16)] public Dictionary<string, OperationRecord> Operations { get; set; } = new(StringComparer.Ordinal);
    [Id(17)] public Queue<string> OperationOrder { get; set; } = new();

    /// <summary>Rows not yet in PostgreSQL (history rows and journal entries), in order.</summary>
    [Id(18)] public List<PackageOutboxItem> Outbox { get; set; } = [];
    [Id(19)] public long OutboxSequence { get; set; }

    /// <summary>Grows with every change: the purchase row in PostgreSQL is kept to the newest version.</summary>
    [Id(20)] public long Version { get; set; }
    [Id(21)] public long ProjectedVersion { get; set; } = -1;

    /// <summary>The days-before-expiry warnings already sent (e.g. 30, 7).</summary>
    [Id(22)] public List<int> WarningsSent { get; set; } = [];

    /// <summary>What the closing (refund, cancel, expiry) took out of the liability.</summary>
    [Id(23)] public long LiabilityClosed { get; set; }
    [Id(24)] public PackageClosing? Closing { get; set; }
    [Id(25)] public DateTimeOffset UpdatedAt { get; set; }

    /// <summary>How many redemptions left <see cref="Redemptions"/> for their rows (0: every one ever made is in memory,
    /// so an unknown operation id is new without asking PostgreSQL).</summary>
    [Id(26)] public long Trimmed { get; set; }

    /// <summary>Of the redemptions that left memory, those still holding value, per clinic-local week and per visit:
    /// what the weekly and per-visit restrictions count beside the ones in memory.</summary>
    [Id(27)] public Dictionary<DateOnly, int> TrimmedHeldByWeek { get; set; } = [];
    [Id(28)] public Dictionary<Guid, int> TrimmedHeldByVisit { get; set; } = [];

    /// <summary>Redemptions changed at or after this version have rows that carry what a replay needs (null: state from
    /// before rows did, set on activation); older ones never leave memory.</summary>
    [Id(29)] public long? ReplayableFrom { get; set; }

    /// <summary>A refund of the sale in progress (IPackageBalanceGrain.HoldForRefundAsync): nothing moves until it
    /// closes the package, lets go, or lapses.</summary>
    [Id(30)] public PackageRefundHold? RefundHold { get; set; }

    /// <summary>threshold: what each accrual (by operation id) counted and how much of it a refund took back since, so
    /// a refund of its invoice takes back exactly its share. Only accruals that counted something.</summary>
    [Id(31)] public Dictionary<string, ThresholdAccrualRecord> Accruals { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Sold on a payment plan and not yet paid in full: the liability redemptions may draw in total (what the
    /// invoice has been paid of the package plus the plan's allowance); null: no such limit.</summary>
    [Id(32)] public long? RedeemableUpTo { get; set; }

    /// <summary>The invoice version of the last paid share applied (older pushes are ignored).</summary>
    [Id(33)] public long PaidShareSequence { get; set; }

    /// <summary>What a write-off of the plan's unpaid rest took out of this package's liability: no longer owed.</summary>
    [Id(34)] public long ValueCut { get; set; }

    public PackageTerms Terms => Purchase?.Terms ?? throw new InvalidOperationException("The package was not created.");

    public string Currency => Purchase?.NetPaid.Currency ?? throw new InvalidOperationException("The package was not created.");

    public long LiabilityLeft => (Purchase?.NetPaid.Amount ?? 0) - LiabilityDrawn - ValueCut;

    /// <summary>A copy that shares nothing mutable with this one (the records inside are immutable): the grain
    /// writes a copy so that requests applied while a write is in flight cannot leak into it, and keeps the last
    /// durable copy to roll back to.</summary>
    public PackageBalanceState Clone()
    {
        var copy = (PackageBalanceState)MemberwiseClone();
        copy.ServiceUsed = new Dictionary<Guid, int>(ServiceUsed);
        copy.Members = [.. Members];
        copy.Redemptions = new Dictionary<string, RedemptionRecord>(Redemptions, StringComparer.Ordinal);
        copy.Operations = new Dictionary<string, OperationRecord>(Operations, StringComparer.Ordinal);
        copy.OperationOrder = new Queue<string>(OperationOrder);
        copy.Outbox = [.. Outbox];
        copy.WarningsSent = [.. WarningsSent];
        copy.TrimmedHeldByWeek = new Dictionary<DateOnly, int>(TrimmedHeldByWeek);
        copy.TrimmedHeldByVisit = new Dictionary<Guid, int>(TrimmedHeldByVisit);
        copy.Accruals = new Dictionary<string, ThresholdAccrualRecord>(Accruals, StringComparer.Ordinal);
        return copy;
    }
}

/// <summary>What one accrual counted toward a threshold (cents or visits) and what refunds took back of it.</summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.threshold-accrual.v1")]
public sealed record ThresholdAccrualRecord(
    [property: Id(0)] long Counted,
    [property: Id(1)] long TakenBack);

/// <summary>A refund's hold on the package: its operation id (the closing's), what it gives back, until when.</summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.refund-hold.v1")]
public sealed record PackageRefundHold(
    [property: Id(0)] string OperationId,
    [property: Id(1)] long Amount,
    [property: Id(2)] DateTimeOffset Until);

/// <summary>Exactly what one redemption took, so giving it back restores exactly that.</summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.take.v1")]
public sealed record PackageTake(
    [property: Id(0)] int Bought,
    [property: Id(1)] int Free,
    [property: Id(2)] int ServiceSessions,
    [property: Id(3)] long Credit,
    [property: Id(4)] long Value,
    [property: Id(5)] int Rewards,
    [property: Id(6)] long RewardCredit,
    [property: Id(7)] int MemberSessions,
    [property: Id(8)] long MemberAmount);

/// <summary>A redemption as the grain keeps it. <see cref="Checkout"/>: made by <c>ReserveAsync</c> for an invoice
/// tender (released by checkout, posted by the invoice) rather than a standalone <c>RedeemAsync</c> (posted here,
/// undone by reversal). <see cref="Fingerprint"/> tells a replay from a different request under the same id.</summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.redemption-record.v1")]
public sealed record RedemptionRecord(
    [property: Id(0)] PackageRedemption Redemption,
    [property: Id(1)] PackageTake Take,
    [property: Id(2)] bool Checkout,
    [property: Id(3)] string Fingerprint,
    [property: Id(4)] string IncomeCategory,
    [property: Id(5)] Guid? InvoiceId,
    [property: Id(6)] string ServiceName,
    [property: Id(7)] DateTimeOffset RecordedAt,
    [property: Id(8)] DateTimeOffset UpdatedAt,
    [property: Id(9)] string? ReversalOperationId = null,
    [property: Id(10)] Guid? ReversedBy = null,
    [property: Id(11)] string? ReversalReason = null,
    [property: Id(12)] long Version = 0);

/// <summary>The first answer to an operation that is not a redemption (or a refused redemption).</summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.operation-record.v1")]
public sealed record OperationRecord(
    [property: Id(0)] string Fingerprint,
    [property: Id(1)] Refusal? Refusal,
    [property: Id(2)] string? RedemptionOperationId = null);

/// <summary>A family member (the owner is not one) and what they used; a removed member keeps their usage.</summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.member-state.v1")]
public sealed record PackageMemberState(
    [property: Id(0)] Guid PatientId,
    [property: Id(1)] int? SessionLimit,
    [property: Id(2)] long? AmountLimit,
    [property: Id(3)] int SessionsUsed,
    [property: Id(4)] long AmountUsed,
    [property: Id(5)] DateTimeOffset AddedAt,
    [property: Id(6)] DateTimeOffset? RemovedAt,
    [property: Id(7)] Guid By);

/// <summary>One pending projection: a redemption row or member row to upsert (built from the state when written,
/// so the newest state wins), or a journal entry with the clinic it belongs to.</summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.outbox-item.v1")]
public sealed record PackageOutboxItem(
    [property: Id(0)] long Sequence,
    [property: Id(1)] string? RedemptionOperationId,
    [property: Id(2)] Guid? MemberPatientId,
    [property: Id(3)] OutboxEntry? Journal,
    [property: Id(4)] Guid ClinicId);
