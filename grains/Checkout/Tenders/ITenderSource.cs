using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Payments;

namespace MedSpa.Grains.Checkout.Tenders;

/// <summary>
/// Where a tender's money comes from, in the three steps a split payment needs to be all-or-nothing:
/// <see cref="ReserveAsync"/> holds the amount (a card authorisation with manual capture, a gift-card or package hold),
/// <see cref="CaptureAsync"/> takes it once every tender of the payment is reserved, and <see cref="ReleaseAsync"/>
/// gives back whatever a failed payment had reserved or taken. <see cref="RefundAsync"/> returns (part of) a
/// committed tender to where it came from.
/// </summary>
/// <remarks>
/// Every step must be idempotent per <see cref="PendingTender.IdempotencyKey"/>: after a crash the invoice grain
/// repeats the step with the same key (for cards the processor then answers the first result instead of charging
/// again). Declines are values; <see cref="MedSpa.Grains.Payments.PaymentGatewayException"/> means the outcome is unknown.
/// </remarks>
public interface ITenderSource
{
    /// <summary>False for tenders recorded by the invoice alone (cash, check, other): nothing is held elsewhere, so
    /// a payment made only of them needs no reservation round.</summary>
    bool Reserves { get; }

    /// <summary>Why this source cannot take tenders now (not wired yet), or null when it can.</summary>
    TenderStep? Unavailable { get; }

    Task<TenderStep> ReserveAsync(PendingTender tender, CancellationToken cancellationToken);

    Task<TenderStep> CaptureAsync(PendingTender tender, CancellationToken cancellationToken);

    /// <summary>Undoes a reservation, or refunds in full a tender already captured. Releasing something never
    /// reserved is a no-op.</summary>
    Task<TenderStep> ReleaseAsync(PendingTender tender, CancellationToken cancellationToken);

    Task<TenderStep> RefundAsync(Tender tender, TenderRefund refund, string idempotencyKey, CancellationToken cancellationToken);
}

public enum TenderStepStatus
{
    Done,

    /// <summary>Refused by the card network or the holder of the balance (decline, insufficient funds, 3-D Secure).</summary>
    Declined,

    /// <summary>This kind of tender is not wired yet.</summary>
    Unsupported,

    /// <summary>The processor refused the request itself (invalid payment method, capture refused, ...).</summary>
    Failed,

    /// <summary>No processor to talk to (not configured).</summary>
    Unavailable,
}

/// <summary>The answer to one step. <see cref="Card"/> is filled by a card reservation; <see cref="Captured"/> says
/// the processor took the money at reservation already (then there is nothing left to capture);
/// <see cref="GatewayRefundId"/> is the processor's refund id. A balance tender's reservation answers the value it
/// drew in <see cref="Redeemed"/> (and a package the additional charge it asks, <see cref="AdditionalCharge"/>); a
/// refusal may name the request field it is about (<see cref="Field"/>, e.g. <c>purchaseId</c>).</summary>
public sealed record TenderStep(
    TenderStepStatus Status,
    TenderCardPayment? Card = null,
    string? Code = null,
    string? Message = null,
    bool Captured = false,
    string? GatewayRefundId = null,
    Money? Redeemed = null,
    string? Field = null,
    Money? AdditionalCharge = null)
{
    public static TenderStep Done { get; } = new(TenderStepStatus.Done);

    public bool IsDone => Status == TenderStepStatus.Done;
}

/// <summary>The tender sources an invoice uses, by tender kind.</summary>
public sealed class TenderSources
{
    private readonly ITenderSource _recorded = new RecordedTenderSource();
    private readonly ITenderSource _card;
    private readonly Dictionary<TenderKind, ITenderSource> _unwired;

    /// <param name="gateway">The silo's payment gateway (the sandbox unless Stripe is configured: there is always one).</param>
    /// <param name="balances">The silo's balance tender sources (package, wallet, membership ...: one factory per
    /// kind, registered in the silo's services); a kind without one stays <c>tender_not_supported</c>.</param>
    /// <param name="context">What those sources need to know about the invoice.</param>
    public TenderSources(IPaymentGateway gateway, TenderMetadata metadata,
        IEnumerable<ITenderSourceFactory>? balances = null, TenderContext? context = null)
    {
        _card = new CardTenderSource(gateway, metadata);
        _unwired = new[] { TenderKind.GiftCard, TenderKind.Package, TenderKind.Membership, TenderKind.Wallet }
            .ToDictionary(k => k, k => (ITenderSource)new UnwiredTenderSource(k));
        foreach (var factory in context is null ? [] : balances ?? [])
        {
            _unwired[factory.Kind] = factory.Create(context!);
        }
    }

    public ITenderSource For(TenderKind kind) => kind switch
    {
        TenderKind.Cash or TenderKind.Check or TenderKind.Other => _recorded,
        _ when Tender.IsCardKind(kind) => _card,
        _ => _unwired.TryGetValue(kind, out var s) ? s : throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}

/// <summary>
/// Makes the tender source of one balance tender kind (package, wallet, membership) for one invoice activation.
/// Registered in the silo's services (<c>services.AddSingleton&lt;ITenderSourceFactory, ...&gt;()</c>); the invoice
/// grain takes them all in its constructor, so each kind plugs in the same way.
/// </summary>
public interface ITenderSourceFactory
{
    TenderKind Kind { get; }

    ITenderSource Create(TenderContext context);
}

/// <summary>What a balance tender source knows of the invoice it serves: its keys, a grain factory, the clock, and
/// the invoice's parties and lines as they are now.</summary>
public sealed record TenderContext(
    IGrainFactory Grains, Guid TenantId, Guid InvoiceId, TimeProvider Time, Func<TenderInvoice> Invoice);

/// <summary>The invoice as a balance tender needs it.</summary>
public sealed record TenderInvoice(Guid ClinicId, Guid? PatientId, Guid? VisitId, Guid CreatedBy, IReadOnlyList<InvoiceLine> Lines);

/// <summary>What a card payment carries to the processor so a webhook (or a person in its dashboard) can find it.</summary>
public sealed record TenderMetadata(Guid TenantId, Guid InvoiceId, Func<string?> InvoiceNumber);

/// <summary>Cash, check and other: the invoice's own record is the whole tender.</summary>
internal sealed class RecordedTenderSource : ITenderSource
{
    public bool Reserves => false;

    public TenderStep? Unavailable => null;

    public Task<TenderStep> ReserveAsync(PendingTender tender, CancellationToken cancellationToken) => Task.FromResult(TenderStep.Done);

    public Task<TenderStep> CaptureAsync(PendingTender tender, CancellationToken cancellationToken) => Task.FromResult(TenderStep.Done);

    public Task<TenderStep> ReleaseAsync(PendingTender tender, CancellationToken cancellationToken) => Task.FromResult(TenderStep.Done);

    public Task<TenderStep> RefundAsync(Tender tender, TenderRefund refund, string idempotencyKey, CancellationToken cancellationToken) =>
        Task.FromResult(TenderStep.Done);
}

/// <summary>
/// Gift card, package, membership and wallet tenders: reservable by design (their grains will hold, redeem and
/// release balances), refused with <c>tender_not_supported</c> until their issues wire them in here.
/// </summary>
internal sealed class UnwiredTenderSource(TenderKind kind) : ITenderSource
{
    private readonly TenderStep _refusal = new(TenderStepStatus.Unsupported, Code: "tender_not_supported",
        Message: $"{kind} tenders are not available yet; cash, check, other and cards (credit, debit, HSA, FSA) are.");

    public bool Reserves => true;

    public TenderStep? Unavailable => _refusal;

    public Task<TenderStep> ReserveAsync(PendingTender tender, CancellationToken cancellationToken) => Task.FromResult(_refusal);

    // Nothing can have been reserved, so there is nothing to take or give back.
    public Task<TenderStep> CaptureAsync(PendingTender tender, CancellationToken cancellationToken) => Task.FromResult(_refusal);

    public Task<TenderStep> ReleaseAsync(PendingTender tender, CancellationToken cancellationToken) => Task.FromResult(TenderStep.Done);

    public Task<TenderStep> RefundAsync(Tender tender, TenderRefund refund, string idempotencyKey, CancellationToken cancellationToken) =>
        Task.FromResult(_refusal);
}
