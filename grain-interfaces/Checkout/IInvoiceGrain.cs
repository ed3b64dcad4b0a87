namespace MedSpa.GrainInterfaces.Checkout;

/// <summary>
/// One invoice, keyed <c>"{tenantId:N}/{invoiceId:N}"</c> (see <see cref="InvoiceGrainKey"/>). The grain state is
/// the commit point of every change; the header row and the journal entries in PostgreSQL are projections written
/// from it. Every method answers an <see cref="InvoiceResult"/>: refusals are values, not exceptions, so the API can
/// map them to 4xx without depending on exception serialisation.
/// </summary>
/// <remarks>
/// The draft edits, open, void and create take an optional operation id (<see cref="CreateInvoiceCommand.OperationId"/>):
/// the caller and its Idempotency-Key, or the id the api gave a keyless request for as long as it executes it. The
/// grain remembers the last ones it applied in the same state write as the change and answers an id it already applied
/// to the same command with the invoice as it is (the change is in it), without applying it again; the same id on
/// another command is refused with <see cref="CheckoutRefusals.OperationReused"/>. Null: no memory, as before. The
/// parameters were appended to existing aliased methods, so callers of the former signature (and their messages in a
/// mixed-version cluster) pass null.
/// </remarks>
[Alias("medspa.checkout.invoice-grain.v1")]
public interface IInvoiceGrain : IGrainWithStringKey
{
    [Alias("create")] Task<InvoiceResult> CreateAsync(CreateInvoiceCommand command);

    /// <summary>Creates the invoice of a board visit (appointment) with the visit's service as its line. The invoice
    /// id is derived from the visit (<see cref="InvoiceGrainKey.ForVisit"/>), so a second call answers the same invoice.</summary>
    [Alias("create-from-visit")] Task<InvoiceResult> CreateFromVisitAsync(Guid visitId, Guid createdBy);

    [Alias("get")] Task<InvoiceResult> GetAsync();

    [Alias("add-line")] Task<InvoiceResult> AddLineAsync(InvoiceLine line, bool? priceIncludesTax, string? operationId = null);

    [Alias("update-line")] Task<InvoiceResult> UpdateLineAsync(InvoiceLine line, bool? priceIncludesTax, string? operationId = null);

    [Alias("remove-line")] Task<InvoiceResult> RemoveLineAsync(Guid lineId, string? operationId = null);

    [Alias("set-discount")] Task<InvoiceResult> SetInvoiceDiscountAsync(Discount? discount, string? operationId = null);

    [Alias("set-tip")] Task<InvoiceResult> SetTipAsync(TipRequest tip, TipSplit? split, string? operationId = null);

    /// <summary>Finalises the invoice: numbers it, freezes its tax rates and posts the sale.</summary>
    [Alias("open")] Task<InvoiceResult> OpenAsync(string? operationId = null);

    /// <summary>Applies tenders; <see cref="PayCommand.OperationId"/> makes a repeat a no-op.</summary>
    [Alias("pay")] Task<InvoiceResult> PayAsync(PayCommand command);

    [Alias("refund")] Task<InvoiceResult> RefundAsync(RefundCommand command);

    [Alias("void")] Task<InvoiceResult> VoidAsync(string? reason, string? operationId = null);

    /// <summary>Closes what is left of the balance without payment (owner/admin): the sale's remainder is reversed.</summary>
    [Alias("write-off")] Task<InvoiceResult> WriteOffAsync(WriteOffCommand command);

    /// <summary>Changes the tip of a card-paid invoice the same business day: the difference is charged to, or
    /// refunded on, the card, and the sale reposted with the new tip.</summary>
    [Alias("adjust-tip")] Task<InvoiceResult> AdjustTipAsync(TipAdjustmentCommand command);

    /// <summary>Writes any pending projection (header row, outbox journal entries) to PostgreSQL now.</summary>
    [Alias("flush")] Task<int> FlushProjectionAsync();

    /// <summary>Applies an unlocked %-off reward of the patient's threshold package to a service line: the package
    /// grain gives the reward up (reserve, then commit once the discount is on the line; released if the line cannot
    /// take it). Idempotent by <see cref="PackageRewardCommand.OperationId"/>.</summary>
    [Alias("apply-package-reward")] Task<InvoiceResult> ApplyPackageRewardAsync(PackageRewardCommand command);

    /// <summary>The invoice was put on payment plan <see cref="PackagePlanIssue.PlanId"/> (accepted): the packages it
    /// sells are issued now rather than when it is paid, each redeemable up to what has been paid of it so far plus
    /// the plan's allowance; every later payment (or write-off) pushes the new share into the package grains.
    /// Idempotent; an invoice that sells no package answers itself unchanged.</summary>
    [Alias("issue-packages-on-plan")] Task<InvoiceResult> IssuePackagesOnPlanAsync(PackagePlanIssue command);

    /// <summary>A payment plan cancelled under the clinic's "refund of unused value" rule (after its unpaid rest was
    /// written off): what the packages sold on the plan still hold is refunded on the tenders that paid it (cards through
    /// the gateway), newest first, one refund per tender, each package closed by the refund that empties it. Idempotent
    /// by <see cref="RefundUnusedCommand.OperationId"/> (a refund per tender, each its own operation).</summary>
    [Alias("refund-unused-packages")] Task<InvoiceResult> RefundUnusedPackagesAsync(RefundUnusedCommand command);

    /// <summary>Finishes or undoes a payment or card refund the invoice left half-done, if it holds one: what the
    /// stale-reservation sweep asks an invoice whose package sessions, gift-card or wallet hold have been reserved too
    /// long (a silo died between the payment's intent and its reminder, and nobody called the invoice since), and
    /// delivers what its commits queued for other grains and have not been delivered (a line's package reward saved and
    /// not committed, a refund not taken off a gift card). Never
    /// throws for an intent it cannot finish yet: it answers <see cref="PendingMoneyOutcome.StillPending"/> and keeps
    /// its pending-money reminder.</summary>
    [Alias("resolve-pending-money")] Task<PendingMoneyOutcome> ResolvePendingMoneyAsync();
}

/// <summary>What <see cref="IInvoiceGrain.ResolvePendingMoneyAsync"/> found.</summary>
[GenerateSerializer, Alias("medspa.checkout.pending-money-outcome.v1")]
public enum PendingMoneyOutcome
{
    /// <summary>No payment or refund was pending (its reservations, if any, are not this invoice's to give back).</summary>
    NothingPending = 0,

    /// <summary>A pending payment or refund was finished or undone, or work a commit queued for other grains (a line's
    /// package reward to commit, a gift card's refund) was delivered, by this call or by the activation it caused.</summary>
    Resolved = 1,

    /// <summary>Still pending (a tender's grain or the gateway unreachable): the invoice's reminder retries it.</summary>
    StillPending = 2,
}

[GenerateSerializer, Immutable, Alias("medspa.checkout.refund-unused-command.v1")]
public sealed record RefundUnusedCommand(
    [property: Id(0)] string OperationId,
    [property: Id(1)] string Reason);

/// <param name="AllowancePercent">How much more than paid may be redeemed, as a percentage of the package's value.</param>
[GenerateSerializer, Immutable, Alias("medspa.checkout.package-plan-issue.v1")]
public sealed record PackagePlanIssue(
    [property: Id(0)] Guid PlanId,
    [property: Id(1)] decimal AllowancePercent);

/// <summary>Apply the %-off reward of threshold package <see cref="PurchaseId"/> to the invoice's line <see cref="LineId"/>.
/// <see cref="OperationId"/> is the client's request key; the reward goes on a line once whatever the key.</summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.package-reward-command.v1")]
public sealed record PackageRewardCommand(
    [property: Id(0)] string OperationId,
    [property: Id(1)] Guid LineId,
    [property: Id(2)] Guid PurchaseId,
    [property: Id(3)] Guid By);

public static class InvoiceGrainKey
{
    public static string For(Guid tenantId, Guid invoiceId) => TenantKeys.For(tenantId, invoiceId);

    /// <summary>The one invoice id of a visit: a name-based id (SHA-256 of tenant and visit, RFC 9562 version 8
    /// layout), so every API host derives the same invoice for the same visit without a lookup table.</summary>
    public static Guid ForVisit(Guid tenantId, Guid visitId) => NameBased($"medspa:visit-invoice:{tenantId:N}/{visitId:N}");

    /// <summary>The invoice a create request makes, derived from its operation id (the caller's key, or the id the api
    /// gave the keyless request), so every execution of the request creates, or finds, the same invoice.</summary>
    public static Guid ForOperation(Guid tenantId, string operationId) => NameBased($"medspa:operation-invoice:{tenantId:N}/{operationId}");

    /// <summary>The line an add-line request adds, derived from the invoice and the request's operation id: the same in
    /// every execution of the request.</summary>
    public static Guid LineForOperation(Guid invoiceId, string operationId) => NameBased($"medspa:operation-line:{invoiceId:N}/{operationId}");

    private static Guid NameBased(string name)
    {
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(name));
        var bytes = hash.AsSpan(0, 16).ToArray();
        bytes[6] = (byte)((bytes[6] & 0x0F) | 0x80); // version 8 (custom)
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80); // RFC variant
        return new Guid(bytes, bigEndian: true);
    }

    public static bool TryParse(string key, out Guid tenantId, out Guid invoiceId) =>
        TenantKeys.TryParse(key, out tenantId, out invoiceId);
}

/// <param name="OperationId">The request's operation id (see <see cref="IInvoiceGrain"/>): a create executed again on
/// an invoice this operation created is answered with the invoice, not refused as existing.</param>
[GenerateSerializer, Immutable, Alias("medspa.checkout.create-invoice.v1")]
public sealed record CreateInvoiceCommand(
    [property: Id(0)] Guid ClinicId,
    [property: Id(1)] Guid? PatientId,
    [property: Id(2)] Guid CreatedBy,
    [property: Id(3)] Guid? VisitId = null,
    [property: Id(4)] string? OperationId = null);

/// <summary>One tender of a payment as asked for. Cash may give only <see cref="Tendered"/>: it then pays
/// min(tendered, what is left of the balance) and the rest is change.</summary>
/// <remarks>Card kinds (credit, debit, HSA, FSA) name the card: <see cref="PaymentMethodId"/> is a token made by
/// Stripe.js (<c>tok_...</c>/<c>pm_...</c>) or one of the patient's saved cards; <see cref="UseDefaultCard"/> takes the
/// patient's default saved card; <see cref="SavedCard"/> insists the method is one of the patient's saved cards.
/// A package tender names the package (<see cref="PurchaseId"/>) and the service line it pays for
/// (<see cref="ServiceLineId"/>; omitted: the first catalog service line no package tender covers yet); its amount
/// defaults to that line's charged amount.</remarks>
[GenerateSerializer, Immutable, Alias("medspa.checkout.tender-input.v1")]
public sealed record TenderInput(
    [property: Id(0)] TenderKind Kind,
    [property: Id(1)] Money? Amount,
    [property: Id(2)] Money? Tendered = null,
    [property: Id(3)] string? Reference = null,
    [property: Id(4)] string? PaymentMethodId = null,
    [property: Id(5)] bool UseDefaultCard = false,
    [property: Id(6)] bool SavedCard = false,
    [property: Id(7)] bool OffSession = false,
    [property: Id(8)] Guid? PurchaseId = null,
    [property: Id(9)] Guid? ServiceLineId = null);

/// <param name="ChangeToWallet">Cash handed over beyond the balance due is kept as credit on the patient's wallet
/// instead of being given back as change.</param>
/// <param name="OverpaymentToWallet">A credit or debit card may pay more than the balance due: the card is charged its
/// whole amount and the excess is kept as credit on the patient's wallet.</param>
[GenerateSerializer, Immutable, Alias("medspa.checkout.pay-command.v1")]
public sealed record PayCommand(
    [property: Id(0)] string OperationId,
    [property: Id(1)] IReadOnlyList<TenderInput> Tenders,
    [property: Id(2)] bool ChangeToWallet = false,
    [property: Id(3)] bool OverpaymentToWallet = false);

/// <param name="ToWallet">The refund goes to the patient's wallet as credit instead of back to the tender.</param>
[GenerateSerializer, Immutable, Alias("medspa.checkout.refund-command.v1")]
public sealed record RefundCommand(
    [property: Id(0)] string OperationId,
    [property: Id(1)] Guid TenderId,
    [property: Id(2)] Money Amount,
    [property: Id(3)] string? Reason = null,
    [property: Id(4)] bool ToWallet = false);

/// <param name="Role">The caller's role: the grain checks the write-off permission too (defence in depth).</param>
[GenerateSerializer, Immutable, Alias("medspa.checkout.write-off-command.v1")]
public sealed record WriteOffCommand(
    [property: Id(0)] string OperationId,
    [property: Id(1)] string Reason,
    [property: Id(2)] Guid By,
    [property: Id(3)] string Role);

/// <param name="TenderId">The card tender the difference goes to; null: the invoice's latest credit/debit tender.</param>
[GenerateSerializer, Immutable, Alias("medspa.checkout.tip-adjustment-command.v1")]
public sealed record TipAdjustmentCommand(
    [property: Id(0)] string OperationId,
    [property: Id(1)] TipRequest Tip,
    [property: Id(2)] TipSplit? Split,
    [property: Id(3)] Guid? TenderId);

/// <summary>What every invoice method answers: the invoice, or the <see cref="Refusal"/> that left it unchanged
/// (codes in <see cref="CheckoutRefusals"/>; the API maps them with its one refusal table).</summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.invoice-result.v2")]
public sealed record InvoiceResult(
    [property: Id(0)] InvoiceView? Invoice,
    [property: Id(1)] Refusal? Refusal)
{
    public static InvoiceResult Ok(InvoiceView invoice) => new(invoice, null);

    public static InvoiceResult Fail(Refusal refusal) => new(null, refusal);
}

[GenerateSerializer, Immutable, Alias("medspa.checkout.invoice-view.v1")]
public sealed record InvoiceView(
    [property: Id(0)] Guid Id,
    [property: Id(1)] Guid ClinicId,
    [property: Id(2)] Guid? PatientId,
    [property: Id(3)] string? Number,
    [property: Id(4)] InvoiceStatus Status,
    [property: Id(5)] string Currency,
    [property: Id(6)] IReadOnlyList<PricedLine> Lines,
    [property: Id(7)] Discount? InvoiceDiscount,
    [property: Id(8)] TipRequest? Tip,
    [property: Id(9)] TipSplit? TipSplit,
    [property: Id(10)] IReadOnlyList<TipAllocation> TipAllocations,
    [property: Id(11)] IReadOnlyList<Tender> Tenders,
    [property: Id(12)] IReadOnlyList<TenderRefund> Refunds,
    [property: Id(13)] InvoiceTotals Totals,
    [property: Id(14)] DateTimeOffset CreatedAt,
    [property: Id(15)] DateTimeOffset? OpenedAt,
    [property: Id(16)] DateTimeOffset UpdatedAt,
    [property: Id(17)] long Version,
    [property: Id(18)] Guid? VisitId = null,
    [property: Id(19)] IReadOnlyList<InvoiceWriteOff>? WriteOffs = null,
    [property: Id(20)] IReadOnlyList<SoldPackage>? Packages = null,
    [property: Id(21)] IReadOnlyList<GiftCards.GiftCardIssueFailure>? GiftCardIssueFailures = null);
