using System.Collections.Immutable;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Checkout.Tenders;
using MedSpa.Grains.Domain;
using MedSpa.Grains.Domain.Checkout;
using MedSpa.Grains.Domain.Ledger;

namespace MedSpa.Grains.Checkout;

/// <summary>A journal entry waiting to be written to PostgreSQL, with the clinic-local day it belongs to.</summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.outbox-entry.v1")]
public sealed record OutboxEntry(
    [property: Id(0)] JournalEntry Entry,
    [property: Id(1)] DateOnly BusinessDate,
    [property: Id(2)] DateTimeOffset OccurredAt);

[GenerateSerializer, Alias("medspa.checkout.invoice-state.v1")]
public sealed class InvoiceState
{
    [Id(0)] public bool Created { get; set; }
    [Id(1)] public Guid ClinicId { get; set; }
    [Id(2)] public Guid? PatientId { get; set; }
    [Id(3)] public string Currency { get; set; } = "";
    [Id(4)] public string TimeZone { get; set; } = "UTC";
    [Id(5)] public List<InvoiceLine> Lines { get; set; } = [];
    [Id(6)] public Discount? InvoiceDiscount { get; set; }
    [Id(7)] public TipRequest? Tip { get; set; }
    [Id(8)] public TipSplit? TipSplit { get; set; }

    /// <summary>The clinic's rates: refreshed on every change while draft, frozen when the invoice is opened.</summary>
    [Id(9)] public List<TaxRate> TaxRates { get; set; } = [];

    /// <summary>Tax categories whose clinic rate is inclusive: a new line of one is priced tax-included by default.</summary>
    [Id(10)] public List<string> InclusiveCategories { get; set; } = [];
    /// <summary>Where the invoice is in its life (same alias and values as the former InvoiceStage: old rows read).</summary>
    [Id(11)] public InvoiceLifecycle Lifecycle { get; set; }
    [Id(12)] public string? Number { get; set; }

    /// <summary>How many times the sale has been posted (edits of an unpaid open invoice reverse and repost it).</summary>
    [Id(13)] public int SaleRevision { get; set; }
    [Id(14)] public List<Tender> Tenders { get; set; } = [];
    [Id(15)] public List<TenderRefund> Refunds { get; set; } = [];

    /// <summary>Operation ids (idempotency keys) of payments and refunds already applied: a repeat is a no-op.</summary>
    [Id(16)] public HashSet<string> AppliedOperations { get; set; } = new(StringComparer.Ordinal);
    [Id(17)] public List<OutboxEntry> Outbox { get; set; } = [];
    [Id(18)] public long Version { get; set; }

    /// <summary>The <see cref="Version"/> the SQL header row last received.</summary>
    [Id(19)] public long ProjectedVersion { get; set; } = -1;
    [Id(20)] public DateTimeOffset CreatedAt { get; set; }
    [Id(21)] public DateTimeOffset? OpenedAt { get; set; }
    [Id(22)] public DateTimeOffset UpdatedAt { get; set; }
    [Id(23)] public Guid CreatedBy { get; set; }

    /// <summary>A payment between its first gateway call and its commit (see <see cref="PaymentOrchestrator"/>):
    /// saved before the gateway is called, resolved on activation and before any other money operation.</summary>
    [Id(24)] public PendingPayment? PendingPayment { get; set; }

    /// <summary>A card refund sent to the gateway and not yet committed: repeated with the same key until it is.</summary>
    [Id(25)] public PendingRefund? PendingRefund { get; set; }

    /// <summary>Payments refused with a 4xx after reaching the gateway (declines): a replay answers the same refusal
    /// without calling the gateway again.</summary>
    [Id(26)] public Dictionary<string, StoredRefusal> FailedOperations { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Attempts per pay operation that were undone after a gateway failure (the next attempt uses new keys).</summary>
    [Id(27)] public Dictionary<string, int> PayAttempts { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The board visit (appointment) this invoice was created from.</summary>
    [Id(28)] public Guid? VisitId { get; set; }

    /// <summary>Balance closed without payment: cancellations (void after refunds) and write-offs.</summary>
    [Id(29)] public List<InvoiceWriteOff> WriteOffs { get; set; } = [];

    /// <summary>The clinic-local business day each tender was taken (a tip is adjusted only the same day).</summary>
    [Id(30)] public Dictionary<Guid, DateOnly> TenderDates { get; set; } = [];

    /// <summary>Card movements (charges, released authorisations, refunds) waiting to be written to the payments
    /// list in PostgreSQL, with the journal outbox and as idempotently (keyed by operation id).</summary>
    [Id(31)] public List<CardTransaction> CardOutbox { get; set; } = [];

    /// <summary>The package definition's terms each <c>package-sale</c> line sells, as they were when the line was
    /// added (the snapshot the package keeps: later edits of the definition change nothing sold).</summary>
    [Id(32)] public Dictionary<Guid, PackageTerms> PackageTerms { get; set; } = [];

    /// <summary>Set in the commit that made the invoice paid, with <see cref="PackagesToCreate"/>: packages are
    /// issued once, whatever happens to the invoice afterwards.</summary>
    [Id(33)] public bool PackagesIssued { get; set; }

    /// <summary>Package grains to create (the intent, saved with the payment that made the invoice paid), removed
    /// once the grain answered; creating one again is a no-op (its purchase id is derived from invoice + line).</summary>
    [Id(34)] public List<PackagePurchaseIntent> PackagesToCreate { get; set; } = [];

    /// <summary>Sold packages to close as refunded (saved with the refund that reversed them), removed once closed.</summary>
    [Id(35)] public List<PackageClosingIntent> PackagesToClose { get; set; } = [];

    /// <summary>Threshold-package %-off rewards on lines of this invoice (line → the package and the discount it
    /// gave): a line removed, or its discount changed, gives the reward back (<see cref="RewardsToRelease"/>).</summary>
    [Id(36)] public Dictionary<Guid, PackageRewardUse> PackageRewards { get; set; } = [];

    /// <summary>Rewards to give back to their packages (saved with the change that dropped them), removed once the
    /// package answered; releasing again is a no-op for the package.</summary>
    [Id(37)] public List<PackageRewardUse> RewardsToRelease { get; set; } = [];

    /// <summary>Set in the commit that made the invoice paid (with a patient): what its accrual to the patient's
    /// threshold packages rests on, and how much of it refunds have taken back so far (InvoiceThresholds).</summary>
    [Id(38)] public ThresholdAccrualMark? ThresholdAccrual { get; set; }

    /// <summary>Accruals and take-backs to deliver to the patient's threshold packages (saved with the change that
    /// caused them), removed once every package answered; a repeat is answered as the first by each package.</summary>
    [Id(39)] public List<ThresholdAccrualIntent> ThresholdAccruals { get; set; } = [];

    /// <summary>Credits owed to the patient's wallet (a refund to credit, cash change kept as credit), saved with the
    /// change that caused them and delivered to the wallet grain after (idempotent by operation id, retried until
    /// answered). Id 40: leaves room for other issue-14 fields.</summary>
    [Id(40)] public List<MedSpa.GrainInterfaces.Packages.WalletCredit> WalletCredits { get; set; } = [];

    /// <summary>Set in the commit that made the invoice paid, with <see cref="GiftCardsToIssue"/>: the gift cards of
    /// its gift-card-sale lines are issued once (ids from 150: gift cards' own range, so merges do not collide).</summary>
    [Id(150)] public bool GiftCardsIssued { get; set; }

    /// <summary>Gift cards to issue (the intent, saved with the payment that made the invoice paid), removed once the
    /// card grain answered (InvoiceGiftCards).</summary>
    [Id(151)] public List<GiftCardIssueIntent> GiftCardsToIssue { get; set; } = [];

    /// <summary>Cards of paid gift-card-sale lines whose issue the card refused (shown on the invoice; see
    /// <see cref="MedSpa.GrainInterfaces.GiftCards.GiftCardIssueFailure"/>).</summary>
    [Id(152)] public List<MedSpa.GrainInterfaces.GiftCards.GiftCardIssueFailure> GiftCardIssueFailures { get; set; } = [];

    /// <summary>Refund holds on sold gift cards to commit (a refund's <see cref="GrainInterfaces.Checkout.GiftCardRefundShare"/>s),
    /// saved with the refund and delivered after it (InvoiceGiftCards), removed once the card answered.</summary>
    [Id(155)] public List<GiftCardRefundIntent> GiftCardsToRefund { get; set; } = [];

    /// <summary>The payment plan this invoice's packages were issued on (before it was paid), and its allowance in % of
    /// a package's value (InvoicePackages.IssueIfPaid).</summary>
    [Id(180)] public Guid? PackagePlanId { get; set; }
    [Id(181)] public decimal PackagePlanAllowancePercent { get; set; }

    /// <summary>Packages issued on a plan: each one's value when issued, by line (what a later write-off cuts from).</summary>
    [Id(182)] public Dictionary<Guid, long> PlanPackageValues { get; set; } = [];

    /// <summary>What the paid shares were last computed from (paid, written off, status), so a commit that changes none
    /// of it pushes nothing.</summary>
    [Id(183)] public string? PaidShareBasis { get; set; }

    /// <summary>Paid shares to push into the plan's package grains (saved with the commit that changed them), removed
    /// once the grain answered; each carries the invoice version, so a late or repeated push changes nothing.</summary>
    [Id(184)] public List<PackagePaidShareIntent> PaidSharesToPush { get; set; } = [];

    /// <summary>The last operations (by operation id) that created or edited the invoice, written with the change they
    /// made (<see cref="RecentOperations"/>), so a request executed again after its answer was lost is answered, not
    /// applied twice. Payments, refunds and write-offs keep theirs in <see cref="AppliedOperations"/>. Ids from 190.</summary>
    [Id(190)] public ImmutableList<InvoiceOperation>? Operations { get; set; }
}

/// <summary>An operation the invoice applied: its id and the command it was (to tell an id reused for another command).</summary>
/// <param name="Command">What was asked, e.g. <c>add-line:{lineId}</c>; not the whole request: an execution again
/// re-reads prices and member discounts, and is still the same operation.</param>
[GenerateSerializer, Immutable, Alias("medspa.checkout.invoice-operation.v1")]
public sealed record InvoiceOperation(
    [property: Id(0)] string OperationId,
    [property: Id(1)] string Command);

[GenerateSerializer, Immutable, Alias("medspa.checkout.package-paid-share-intent.v1")]
public sealed record PackagePaidShareIntent(
    [property: Id(0)] Guid PurchaseId,
    [property: Id(1)] PackagePaidShare Share);

/// <summary>A card's refund hold to commit: the card and the refund's operation id on it.</summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.gift-card-refund-intent.v1")]
public sealed record GiftCardRefundIntent(
    [property: Id(0)] Guid CardId,
    [property: Id(1)] string OperationId);

[GenerateSerializer, Immutable, Alias("medspa.checkout.package-purchase-intent.v1")]
public sealed record PackagePurchaseIntent(
    [property: Id(0)] Guid PurchaseId,
    [property: Id(1)] PackagePurchase Purchase);

/// <summary>A threshold package's reward used on a line: the package, the package operation that took it, the line
/// discount it gave, and whether the package has committed it (false from the edit that saved the discount until the
/// package answers the commit: until then the package only holds it reserved, and <see cref="InvoicePackages"/>
/// commits it after the edit, on activation, on the timer or the reminder).</summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.package-reward-use.v1")]
public sealed record PackageRewardUse(
    [property: Id(0)] Guid PurchaseId,
    [property: Id(1)] string OperationId,
    [property: Id(2)] Discount Discount,
    [property: Id(3)] bool Committed = false);

/// <summary>An invoice's accrual: when it was paid (which packages it counts toward), the total a refund's share is
/// taken of, and the share of it refunds have taken back so far.</summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.threshold-accrual-mark.v1")]
public sealed record ThresholdAccrualMark(
    [property: Id(0)] DateTimeOffset PaidAt,
    [property: Id(1)] long Whole,
    [property: Id(2)] long TakenBack);

/// <summary>One delivery to the patient's threshold packages: the accrual itself (<see cref="Part"/> 0), or a take-back
/// bringing the refunded share to <see cref="Part"/> of <see cref="Whole"/>.</summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.threshold-accrual-intent.v1")]
public sealed record ThresholdAccrualIntent(
    [property: Id(0)] string OperationId,
    [property: Id(1)] Guid PatientId,
    [property: Id(2)] DateTimeOffset PaidAt,
    [property: Id(3)] bool TakeBack,
    [property: Id(4)] long Part,
    [property: Id(5)] long Whole,
    [property: Id(6)] DateTimeOffset At);

[GenerateSerializer, Immutable, Alias("medspa.checkout.package-closing-intent.v1")]
public sealed record PackageClosingIntent(
    [property: Id(0)] Guid PurchaseId,
    [property: Id(1)] PackageClosing Closing);

/// <summary>One movement on a card as the processor's batch shows it: a <c>charge</c> (captured), an
/// <c>authorization</c> that was released uncaptured (a split payment undone), or a <c>refund</c>.</summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.card-transaction.v1")]
public sealed record CardTransaction(
    [property: Id(0)] string OperationId,
    [property: Id(1)] string Kind,
    [property: Id(2)] string Status,
    [property: Id(3)] Guid TenderId,
    [property: Id(4)] TenderKind TenderKind,
    [property: Id(5)] TenderCardPayment Card,
    [property: Id(6)] long Amount,
    [property: Id(7)] string? GatewayRefundId,
    [property: Id(8)] DateOnly BusinessDate,
    [property: Id(9)] DateTimeOffset OccurredAt);
