namespace MedSpa.Grains.Domain.Checkout;

/// <summary>
/// Where an invoice is in its life, independent of the money on it: the one lifecycle, kept in grain state and used by
/// the rules. The status the front ends see (<see cref="MedSpa.GrainInterfaces.Checkout.InvoiceStatus"/>: draft, open,
/// partially-paid, paid, refunded, void) is not a second lifecycle: it is derived from this and the money
/// (<see cref="InvoiceLifecycleRules.DeriveStatus"/>) and never stored on its own.
/// </summary>
/// <remarks>
/// Stored in grain state with Orleans' serializer: the alias and the numeric values are what old rows hold (this enum
/// was the grain's <c>InvoiceStage</c>, whose value 1 was called <c>Finalized</c>), so neither may change.
/// </remarks>
[GenerateSerializer, Alias("medspa.checkout.invoice-lifecycle-state.v1")]
public enum InvoiceLifecycle
{
    /// <summary>Being edited; nothing posted; owes nothing yet.</summary>
    Draft = 0,

    /// <summary>Opened (<c>POST .../open</c>): numbered, tax rates frozen, sale posted to the ledger.</summary>
    Opened = 1,

    /// <summary>Cancelled: a draft discarded or an opened invoice voided.</summary>
    Voided = 2,
}
