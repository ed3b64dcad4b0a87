using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.Memberships;
using MedSpa.Grains.Domain.Checkout;
using MedSpa.Grains.Payments;

namespace MedSpa.Grains.Checkout.Tenders;

/// <summary>Plugs membership tenders into every invoice (registered in the silo's services).</summary>
public sealed class MembershipTenderSourceFactory : ITenderSourceFactory
{
    public TenderKind Kind => TenderKind.Membership;

    public ITenderSource Create(TenderContext context) => new MembershipTenderSource(context);
}

/// <summary>
/// Membership tenders: the tender's <see cref="Tender.Reference"/> names the membership; the current period's included
/// sessions (one per unit of a catalog service line of the plan's services — the tender's line when it names one — at
/// most the session's value) and credit pay the amount. Reserve holds them in the membership grain, capture makes the
/// hold a use, release (a failed payment, or a refund of the tender) gives it back. The hold is keyed by invoice and
/// tender id, so a step repeated after a crash finds the same hold; the invoice posts the tender (Dr membership
/// liability) when it completes.
/// </summary>
public sealed class MembershipTenderSource(TenderContext context) : ITenderSource
{
    public bool Reserves => true;

    public TenderStep? Unavailable => null;

    public static string OperationId(Guid invoiceId, Guid tenderId) => $"invoice:{invoiceId:N}:tender:{tenderId:N}";

    public async Task<TenderStep> ReserveAsync(PendingTender tender, CancellationToken cancellationToken)
    {
        if (!Guid.TryParse(tender.Tender.Reference, out var membershipId))
        {
            return Refused(Refusal.ValidationFailed, "A membership tender names the membership it draws on in reference (its id).");
        }

        var invoice = context.Invoice();
        var lines = invoice.Lines
            .Where(l => l.Kind == InvoiceLineKind.Service && l.CatalogItemId is not null && l.Quantity >= 1
                && (tender.Tender.LineId is null || l.Id == tender.Tender.LineId))
            .Select(l => new BenefitLine(l.CatalogItemId, l.Quantity, UnitNet(l)))
            .ToList();
        var answer = await Call(() => Grain(membershipId).ReserveBenefitAsync(new BenefitReservation(
            OperationId(context.InvoiceId, tender.Tender.Id), context.InvoiceId, invoice.ClinicId, invoice.PatientId, tender.Tender.Amount,
            lines)));
        return answer.Refusal is { } refused ? Refused(refused.Code, refused.Message) : TenderStep.Done;
    }

    public async Task<TenderStep> CaptureAsync(PendingTender tender, CancellationToken cancellationToken)
    {
        if (!Guid.TryParse(tender.Tender.Reference, out var membershipId))
        {
            return Refused(Refusal.ValidationFailed, "The tender names no membership.");
        }

        var answer = await Call(() => Grain(membershipId).CommitBenefitAsync(OperationId(context.InvoiceId, tender.Tender.Id)));
        return answer.Refusal is { } refused ? Refused(refused.Code, refused.Message) : TenderStep.Done;
    }

    public Task<TenderStep> ReleaseAsync(PendingTender tender, CancellationToken cancellationToken) => GiveBackAsync(tender.Tender);

    /// <summary>A membership tender is refunded whole (a session cannot be part-refunded): its sessions and credit go
    /// back to the membership (as breakage if their period is over).</summary>
    public Task<TenderStep> RefundAsync(Tender tender, TenderRefund refund, string idempotencyKey, CancellationToken cancellationToken) =>
        refund.Amount != tender.Amount
            ? Task.FromResult(Refused(Refusal.ValidationFailed, $"A membership tender is refunded whole ({tender.Amount})."))
            : GiveBackAsync(tender);

    private async Task<TenderStep> GiveBackAsync(Tender tender)
    {
        if (!Guid.TryParse(tender.Reference, out var membershipId))
        {
            return TenderStep.Done; // no membership named: nothing can have been held
        }

        var answer = await Call(() => Grain(membershipId).ReleaseBenefitAsync(OperationId(context.InvoiceId, tender.Id)));
        return answer.Refusal is { Code: not MembershipRefusals.NotFound } refused ? Refused(refused.Code, refused.Message) : TenderStep.Done;
    }

    /// <summary>What one unit of the line costs after its own discount (before tax): the most a session pays of it.</summary>
    private static Money UnitNet(InvoiceLine line)
    {
        var (gross, _) = LinePricing.Gross(line);
        var discount = line.Discount is { } d ? LinePricing.DiscountAmount(d, gross, "discount").Amount : Money.Zero(gross.Currency);
        return new Money((gross - discount).Amount / (long)Math.Floor(line.Quantity), gross.Currency);
    }

    private IMembershipGrain Grain(Guid membershipId) =>
        context.Grains.GetGrain<IMembershipGrain>(MembershipKeys.For(context.TenantId, membershipId));

    /// <summary>A membership grain that cannot be reached leaves the outcome unknown, like a gateway timeout: the
    /// invoice undoes (or retries) the payment with the same operation ids.</summary>
    private static async Task<MembershipAnswer> Call(Func<Task<MembershipAnswer>> call)
    {
        try
        {
            return await call();
        }
        catch (Exception e) when (e is TimeoutException or OrleansException)
        {
            throw new PaymentGatewayException($"The membership could not be reached: {e.Message}", transient: true, e);
        }
    }

    private static TenderStep Refused(string code, string message) =>
        new(TenderStepStatus.Failed, Code: code, Message: message, Field: "reference");
}
