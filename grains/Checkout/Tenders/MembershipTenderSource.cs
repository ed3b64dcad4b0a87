using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.Memberships;

namespace MedSpa.Grains.Checkout.Tenders;

/// <summary>
/// Membership tenders: the tender's <see cref="Tender.Reference"/> names the membership; its included sessions (one per
/// unit of a service line of the plan's services, at most the session's value) and credit of the current period pay
/// the amount. Reserve holds them in the membership grain, capture makes the hold a use, release gives it back. The
/// hold is keyed by the tender id, so a repeated step after a crash finds the same hold; the invoice posts the tender
/// (Dr membership liability) when it completes.
/// </summary>
internal sealed class MembershipTenderSource(IGrainFactory grains, TenderMetadata metadata, Func<InvoiceView> invoice) : ITenderSource
{
    public bool Reserves => true;

    public TenderStep? Unavailable => null;

    public async Task<TenderStep> ReserveAsync(PendingTender tender, CancellationToken cancellationToken)
    {
        if (!TryMembership(tender.Tender, out var membershipId))
        {
            return new TenderStep(TenderStepStatus.Failed, Code: Refusal.ValidationFailed,
                Message: "A membership tender names the membership it draws on in reference (its id).");
        }

        var view = invoice();
        var lines = view.Lines
            .Where(l => l.Line.Kind == InvoiceLineKind.Service && l.Line.CatalogItemId is not null && l.Line.Quantity >= 1)
            .Select(l => new BenefitLine(l.Line.CatalogItemId, l.Line.Quantity,
                new Money(l.Charged.Amount / (long)Math.Floor(l.Line.Quantity), l.Charged.Currency)))
            .ToList();
        var answer = await Grain(membershipId).ReserveBenefitAsync(
            new BenefitReservation(OperationId(tender.Tender), metadata.InvoiceId, view.ClinicId, view.PatientId, tender.Tender.Amount, lines));
        return answer.Refusal is { } refused
            ? new TenderStep(TenderStepStatus.Declined, Code: refused.Code,
                Message: refused.Message)
            : TenderStep.Done;
    }

    public async Task<TenderStep> CaptureAsync(PendingTender tender, CancellationToken cancellationToken)
    {
        if (!TryMembership(tender.Tender, out var membershipId))
        {
            throw new InvalidOperationException("Capturing a membership tender that was never reserved.");
        }

        var answer = await Grain(membershipId).CommitBenefitAsync(OperationId(tender.Tender));
        return answer.Refusal is { } refused ? new TenderStep(TenderStepStatus.Failed, Code: refused.Code, Message: refused.Message) : TenderStep.Done;
    }

    public async Task<TenderStep> ReleaseAsync(PendingTender tender, CancellationToken cancellationToken)
    {
        if (!TryMembership(tender.Tender, out var membershipId))
        {
            return TenderStep.Done; // nothing can have been held
        }

        var answer = await Grain(membershipId).ReleaseBenefitAsync(OperationId(tender.Tender));
        return answer.Refusal is { Code: not MembershipRefusals.NotFound } refused
            ? new TenderStep(TenderStepStatus.Failed, Code: refused.Code, Message: refused.Message)
            : TenderStep.Done;
    }

    /// <summary>Benefits are given back whole: a session cannot be part-refunded, so a partial refund is refused.</summary>
    public async Task<TenderStep> RefundAsync(Tender tender, TenderRefund refund, string idempotencyKey, CancellationToken cancellationToken)
    {
        if (refund.Amount != tender.Amount)
        {
            return new TenderStep(TenderStepStatus.Failed, Code: Refusal.ValidationFailed,
                Message: $"A membership tender is refunded whole ({tender.Amount}): its sessions and credit go back to the membership.");
        }

        if (!TryMembership(tender, out var membershipId))
        {
            return TenderStep.Done;
        }

        var answer = await Grain(membershipId).ReleaseBenefitAsync(OperationId(tender));
        return answer.Refusal is { } refused ? new TenderStep(TenderStepStatus.Failed, Code: refused.Code, Message: refused.Message) : TenderStep.Done;
    }

    private IMembershipGrain Grain(Guid membershipId) => grains.GetGrain<IMembershipGrain>(MembershipKeys.For(metadata.TenantId, membershipId));

    private string OperationId(Tender tender) => $"inv_{metadata.InvoiceId:N}_tender_{tender.Id:N}";

    private static bool TryMembership(Tender tender, out Guid membershipId)
    {
        membershipId = Guid.Empty;
        return tender.Reference is { } reference && Guid.TryParse(reference, out membershipId);
    }
}
