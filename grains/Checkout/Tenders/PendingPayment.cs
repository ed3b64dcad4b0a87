using System.Security.Cryptography;
using System.Text;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;

namespace MedSpa.Grains.Checkout.Tenders;

/// <summary>How far one tender of an in-flight payment got.</summary>
[GenerateSerializer, Alias("medspa.checkout.tender-phase.v1")]
public enum TenderPhase
{
    /// <summary>Not reserved yet (or the reservation's answer was never saved: see <see cref="PendingTender.Attempted"/>).</summary>
    Pending = 0,
    Reserved = 1,
    Captured = 2,

    /// <summary>Given back (reservation cancelled, or a captured amount refunded) or never held at all.</summary>
    Released = 3,
    Declined = 4,
}

/// <summary>Where an in-flight payment is. The stage is saved before the step it names starts, so after a crash
/// the grain knows which way to finish it.</summary>
[GenerateSerializer, Alias("medspa.checkout.payment-stage.v1")]
public enum PaymentStage
{
    /// <summary>Reserving tenders in order. Interrupted here, the payment is undone (nothing was promised).</summary>
    Reserving = 0,

    /// <summary>Every tender reserved; capturing. Interrupted here, the captures are finished and the tenders committed.</summary>
    Capturing = 1,

    /// <summary>Giving back whatever was reserved or captured; repeated until the gateway confirms every release.</summary>
    Unwinding = 2,
}

/// <summary>One tender of an in-flight payment, with everything needed to repeat or undo its steps after a crash.</summary>
[GenerateSerializer, Alias("medspa.checkout.pending-tender.v1")]
public sealed class PendingTender
{
    [Id(0)] public int Index { get; set; }

    /// <summary>The tender as it will be committed (its <see cref="Tender.Card"/> is filled once reserved).</summary>
    [Id(1)] public required Tender Tender { get; set; }
    [Id(2)] public TenderPhase Phase { get; set; }

    /// <summary>Base of the processor idempotency keys of this tender's steps (<c>:reserve</c>, <c>:capture</c>, ...):
    /// derived from invoice, operation, attempt and tender index, so a repeat after a crash reuses them.</summary>
    [Id(3)] public required string IdempotencyKey { get; set; }
    [Id(4)] public string? PaymentMethod { get; set; }
    [Id(5)] public string? CustomerId { get; set; }
    [Id(6)] public bool OffSession { get; set; }

    /// <summary>A reservation request may have reached the processor without its answer being saved: undoing the
    /// payment then repeats the request (same key, so the processor answers the same payment) to cancel it.</summary>
    [Id(7)] public bool Attempted { get; set; }
    [Id(8)] public string? DeclineCode { get; set; }

    /// <summary>A card overpayment: the part of <see cref="Tender"/>'s amount (charged whole at the gateway) beyond the
    /// balance due, kept as wallet credit when the payment commits.</summary>
    [Id(9)] public Money? ToWallet { get; set; }
}

/// <summary>A payment between its first reservation and its commit (grain state), or being undone.</summary>
[GenerateSerializer, Alias("medspa.checkout.pending-payment.v1")]
public sealed class PendingPayment
{
    [Id(0)] public required string OperationId { get; set; }
    [Id(1)] public int Attempt { get; set; }
    [Id(2)] public PaymentStage Stage { get; set; }
    [Id(3)] public List<PendingTender> Tenders { get; set; } = [];
    [Id(4)] public DateTimeOffset StartedAt { get; set; }

    /// <summary>Why the payment is being undone (answered to the caller once the unwinding completes).</summary>
    [Id(5)] public StoredRefusal? Failure { get; set; }

    /// <summary>Set when this payment charges a tip raised after the invoice was paid: the new tip is applied (and the
    /// sale reposted) in the same commit as the charge, also when a crash makes activation finish it.</summary>
    [Id(6)] public TipAdjustmentCommand? TipAdjustment { get; set; }

    /// <summary>Cash change beyond the balance is kept as wallet credit when the payment commits.</summary>
    [Id(7)] public bool ChangeToWallet { get; set; }
}

/// <summary>A card refund sent (or about to be sent) to the processor and not yet committed to the invoice.</summary>
[GenerateSerializer, Alias("medspa.checkout.pending-refund.v1")]
public sealed class PendingRefund
{
    [Id(0)] public required string OperationId { get; set; }
    [Id(1)] public required TenderRefund Refund { get; set; }
    [Id(2)] public required string IdempotencyKey { get; set; }

    /// <summary>Set when this refund gives back a tip lowered after payment (applied with the refund's commit).</summary>
    [Id(3)] public TipAdjustmentCommand? TipAdjustment { get; set; }
}

/// <summary>The processor idempotency keys of an invoice's payments and refunds.</summary>
public static class GatewayKeys
{
    /// <summary>
    /// <c>inv_{invoice}_{op}_{attempt}_{index}</c>. The operation id (the API's <c>Idempotency-Key</c>) is hashed so
    /// any client key fits Stripe's 255-character limit. The attempt number changes only when a payment of the same
    /// operation was undone after a gateway failure: the retry must not get the cancelled reservation back.
    /// </summary>
    public static string ForTender(Guid invoiceId, string operationId, int attempt, int index) =>
        $"inv_{invoiceId:N}_{Hash(operationId)}_{attempt}_{index}";

    public static string ForRefund(Guid invoiceId, string operationId) => $"inv_{invoiceId:N}_refund_{Hash(operationId)}";

    private static string Hash(string operationId) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(operationId)).AsSpan(0, 12));
}
