using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Grains.Checkout;

namespace MedSpa.Grains.Domain.GiftCards;

[GenerateSerializer, Alias("medspa.giftcards.hold-state.v1")]
public enum GiftCardHoldState
{
    Held = 0,
    Committed = 1,
    Released = 2,
}

/// <summary>A checkout tender's hold on the card, kept after it ends so commit/release repeats are answered.</summary>
[GenerateSerializer, Alias("medspa.giftcards.hold-record.v1")]
public sealed class GiftCardHoldRecord
{
    [Id(0)] public long Amount { get; set; }
    [Id(1)] public GiftCardHoldState State { get; set; }
    [Id(2)] public Guid? InvoiceId { get; set; }
    [Id(3)] public Guid ClinicId { get; set; }
    [Id(4)] public Guid By { get; set; }

    /// <summary>A refund of the invoice that sold the card holds this (GiftCardRules.HoldForRefund): committed, it is
    /// taken off the card as a refund, never put back.</summary>
    [Id(5)] public bool ForRefund { get; set; }

    /// <summary>When a refund hold was taken (it lapses after GiftCardRules.RefundHoldLapse).</summary>
    [Id(6)] public DateTimeOffset HeldAt { get; set; }
}

/// <summary>An operation already answered: what it asked (to tell a replay from another request under the same id)
/// and its answer (without the raw code: the code is given out once).</summary>
[GenerateSerializer, Immutable, Alias("medspa.giftcards.operation.v1")]
public sealed record GiftCardOperationRecord(
    [property: Id(0)] string Fingerprint,
    [property: Id(1)] GiftCardAnswer Answer);

/// <summary>One history row for <c>gift_card_transactions</c>; <see cref="Sequence"/> is the card version it produced
/// (unique per card: writing a row twice adds nothing). The row's amount is signed (what the balance moved).</summary>
[GenerateSerializer, Immutable, Alias("medspa.giftcards.outbox-item.v1")]
public sealed record GiftCardOutboxItem(
    [property: Id(0)] long Sequence,
    [property: Id(1)] GiftCardTransaction Row,
    [property: Id(2)] OutboxEntry? Journal);

/// <summary>The <c>gift_cards</c> row: the card as staff see it plus what only the database keeps (the code's hash,
/// what was paid and given as bonus, the invoice it was sold on).</summary>
[GenerateSerializer, Immutable, Alias("medspa.giftcards.record.v1")]
public sealed record GiftCardRecord(
    [property: Id(0)] GiftCardView View,
    [property: Id(1)] string CodeHash,
    [property: Id(2)] Money Paid,
    [property: Id(3)] Money Bonus,
    [property: Id(4)] Guid? InvoiceId,
    [property: Id(5)] Guid? InvoiceLineId,
    [property: Id(6)] string? PaymentReference);

/// <summary>A transfer out of this card, recorded before the other side is called, so a crash between the two is
/// finished (with the same operation id) on the next activation or call: exactly once.</summary>
[GenerateSerializer, Alias("medspa.giftcards.transfer-intent.v1")]
public sealed class GiftCardTransferIntent
{
    [Id(0)] public string OperationId { get; set; } = "";
    [Id(1)] public long Amount { get; set; }
    [Id(2)] public Guid? ToCardId { get; set; }
    [Id(3)] public Guid? ToPatientWallet { get; set; }
    [Id(4)] public Guid ClinicId { get; set; }
    [Id(5)] public Guid By { get; set; }
    [Id(6)] public bool Delivered { get; set; }
}

/// <summary>The card grain's state: the commit point of every change (its outbox goes to PostgreSQL after).</summary>
[GenerateSerializer, Alias("medspa.giftcards.state.v1")]
public sealed class GiftCardState
{
    [Id(0)] public bool Issued { get; set; }
    [Id(1)] public string Last4 { get; set; } = "";
    [Id(2)] public string CodeHash { get; set; } = "";
    [Id(3)] public GiftCardStatus Status { get; set; }
    [Id(4)] public string Currency { get; set; } = "";

    /// <summary>Paid + bonus at issue, plus reloads and transfers in: everything that was ever put on the card.</summary>
    [Id(5)] public long InitialValue { get; set; }

    /// <summary>Value on the card in minor units, held amounts included (they leave it when committed).</summary>
    [Id(6)] public long Balance { get; set; }
    [Id(7)] public long Paid { get; set; }
    [Id(8)] public long Bonus { get; set; }
    [Id(9)] public GiftCardSource Source { get; set; }
    [Id(10)] public Guid ClinicId { get; set; }
    [Id(11)] public string TimeZone { get; set; } = "UTC";
    [Id(12)] public Guid? PurchaserPatientId { get; set; }
    [Id(13)] public Guid? RecipientPatientId { get; set; }
    [Id(14)] public Guid? OrderId { get; set; }
    [Id(15)] public Guid? InvoiceId { get; set; }
    [Id(16)] public Guid? InvoiceLineId { get; set; }
    [Id(17)] public string? PaymentReference { get; set; }
    [Id(18)] public DateTimeOffset IssuedAt { get; set; }
    [Id(19)] public DateTimeOffset? ExpiresAt { get; set; }
    [Id(20)] public Dictionary<string, GiftCardHoldRecord> Holds { get; set; } = new(StringComparer.Ordinal);
    [Id(21)] public Dictionary<string, GiftCardOperationRecord> Operations { get; set; } = new(StringComparer.Ordinal);
    [Id(22)] public List<GiftCardOutboxItem> Outbox { get; set; } = [];
    [Id(23)] public List<GiftCardTransferIntent> Transfers { get; set; } = [];
    [Id(24)] public long Version { get; set; }

    /// <summary>The issue's operation id: a retried issue answers again (without the code).</summary>
    [Id(25)] public string IssueOperationId { get; set; } = "";

    [Id(27)] public TenderKind? PaidWith { get; set; }

    /// <summary>The code, encrypted with the code protector's key (not in the database), kept only for a card sold on
    /// an invoice without delivery until the desk reveals it once (<see cref="IGiftCardGrain.RevealCodeAsync"/>).</summary>
    [Id(28)] public string? ProtectedCode { get; set; }

    /// <summary>The delivery the issue asked for, saved with the issue (the commit point) and cleared once the delivery
    /// grain has it: a silo dying between the two would otherwise leave a paid card whose code nobody can ever get (the
    /// retried issue is answered from <see cref="Operations"/>). The retried issue and the next activation hand it over
    /// again (<see cref="IGiftCardDeliveryGrain.ScheduleAsync"/> is idempotent).</summary>
    [Id(29)] public GiftCardDeliveryRequest? DeliveryToSchedule { get; set; }

    /// <summary>The code of <see cref="DeliveryToSchedule"/>, encrypted with the code protector's key; cleared with it.</summary>
    [Id(30)] public string? DeliveryCode { get; set; }

    public long Reserved => Holds.Values.Where(h => h.State == GiftCardHoldState.Held).Sum(h => h.Amount);

    public long Available => Balance - Reserved;
}
