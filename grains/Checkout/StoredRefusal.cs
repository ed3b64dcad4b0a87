using MedSpa.GrainInterfaces;

namespace MedSpa.Grains.Checkout;

/// <summary>
/// A <see cref="Refusal"/> as the invoice keeps it in grain state: the failure of a payment being undone
/// (<see cref="Tenders.PendingPayment.Failure"/>) and the answer to a refused pay operation replayed later
/// (<see cref="InvoiceState.FailedOperations"/>).
/// </summary>
/// <remarks>
/// Stored with Orleans' serializer, so this keeps the alias and field ids of the record it replaces
/// (<c>InvoiceError</c>, which also carried an error kind as field 0): rows written before read into it, the kind
/// being skipped as an unknown field, since the status now follows from the code alone.
/// </remarks>
[GenerateSerializer, Immutable, Alias("medspa.checkout.invoice-error.v1")]
public sealed record StoredRefusal(
    [property: Id(1)] string Code,
    [property: Id(2)] string? Field,
    [property: Id(3)] string Message,
    [property: Id(4)] int? TenderIndex = null,
    [property: Id(5)] string? DeclineCode = null)
{
    public Refusal ToRefusal()
    {
        var refusal = new Refusal(Code, Message, Field);
        refusal = TenderIndex is { } i ? refusal.With("tenderIndex", i) : refusal;
        return DeclineCode is { } d ? refusal.With("declineCode", d) : refusal;
    }

    public static StoredRefusal From(Refusal refusal)
    {
        ArgumentNullException.ThrowIfNull(refusal);
        return new StoredRefusal(refusal.Code, refusal.Field, refusal.Message,
            refusal.Details?.GetValueOrDefault("tenderIndex") as int?, refusal.Details?.GetValueOrDefault("declineCode") as string);
    }
}
