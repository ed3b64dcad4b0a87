using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Grains.Payments;

namespace MedSpa.Grains.Checkout.Tenders;

/// <summary>Plugs the gift card tender into every invoice (registered in the silo's GiftCardsHosting).</summary>
public sealed class GiftCardTenderSourceFactory : ITenderSourceFactory
{
    public TenderKind Kind => TenderKind.GiftCard;

    public ITenderSource Create(TenderContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new GiftCardTenderSource(context);
    }
}

/// <summary>
/// A gift card as a tender. The tender's <see cref="Tender.Reference"/> is the card id (the API turns a typed code
/// into it through the code's keyed hash, so the raw code never reaches the invoice, its journal or its receipt).
/// Reserve holds the amount on the card (partial payment of the invoice is fine; more than the card has available is
/// refused with <c>insufficient_balance</c> and the amount available), capture makes the hold a redemption, release
/// gives it back (or puts back a spent one whose payment was undone), and a refund puts the amount back on the card.
/// Every step carries the tender's idempotency key as the card's operation id, so a repeat after a crash is answered.
/// Posts nothing: the invoice's tender entry is the redemption (Dr gift-card liability), its refund entry the reverse.
/// </summary>
internal sealed class GiftCardTenderSource(TenderContext context) : ITenderSource
{
    public bool Reserves => true;

    public TenderStep? Unavailable => null;

    public async Task<TenderStep> ReserveAsync(PendingTender tender, CancellationToken cancellationToken)
    {
        if (!Guid.TryParse(tender.Tender.Reference, out var cardId))
        {
            return Refused(Refusal.ValidationFailed, "giftCardCode", "A gift card tender names the card (its code, or giftCardId for staff).");
        }

        var p = context.Invoice();
        var answer = await CallAsync(cardId, g => g.ReserveAsync(new GiftCardHold(tender.IdempotencyKey, tender.Tender.Amount, context.InvoiceId,
            p.ClinicId, p.CreatedBy)));
        if (answer.Refusal is { } refused)
        {
            var step = Refused(refused.Code, refused.Code == GiftCardRefusals.NotFound ? "giftCardCode" : refused.Field ?? "amount", refused.Message);
            return step;
        }

        return new TenderStep(TenderStepStatus.Done, Redeemed: tender.Tender.Amount);
    }

    public async Task<TenderStep> CaptureAsync(PendingTender tender, CancellationToken cancellationToken)
    {
        if (!Guid.TryParse(tender.Tender.Reference, out var cardId))
        {
            return Refused(Refusal.ValidationFailed, "giftCardCode", "The tender names no gift card.");
        }

        var answer = await CallAsync(cardId, g => g.CommitAsync(tender.IdempotencyKey));
        return answer.Refusal is { } refused ? Refused(refused.Code, "giftCardCode", refused.Message) : TenderStep.Done;
    }

    public async Task<TenderStep> ReleaseAsync(PendingTender tender, CancellationToken cancellationToken)
    {
        if (!Guid.TryParse(tender.Tender.Reference, out var cardId))
        {
            return TenderStep.Done; // no card named: nothing can have been held
        }

        var answer = await CallAsync(cardId, g => g.ReleaseAsync(tender.IdempotencyKey));
        return answer.Refusal is { Code: not GiftCardRefusals.NotFound } refused
            ? Refused(refused.Code, "giftCardCode", refused.Message)
            : TenderStep.Done;
    }

    /// <summary>The refunded amount goes back on the card (the card receives it under the refund's key; a cancelled or
    /// expired card refuses, and the refund must then go elsewhere, e.g. to the wallet).</summary>
    public async Task<TenderStep> RefundAsync(Tender tender, TenderRefund refund, string idempotencyKey, CancellationToken cancellationToken)
    {
        if (!Guid.TryParse(tender.Reference, out var cardId))
        {
            return Refused(Refusal.ValidationFailed, "tenderId", "The tender names no gift card.");
        }

        var p = context.Invoice();
        var answer = await CallAsync(cardId, g => g.ReceiveAsync(new GiftCardTransferIn(idempotencyKey, cardId, refund.Amount, p.ClinicId, p.CreatedBy)));
        return answer.Refusal is { } refused ? Refused(refused.Code, "tenderId", refused.Message) : TenderStep.Done;
    }

    /// <summary>A card grain that cannot be reached leaves the outcome unknown, like a gateway timeout: the invoice then
    /// undoes (or retries) the payment with the same keys, which the card answers idempotently.</summary>
    private async Task<GiftCardAnswer> CallAsync(Guid cardId, Func<IGiftCardGrain, Task<GiftCardAnswer>> call)
    {
        try
        {
            return await call(context.Grains.GetGrain<IGiftCardGrain>(TenantKeys.For(context.TenantId, cardId)));
        }
        catch (Exception e) when (e is TimeoutException or OrleansException)
        {
            throw new PaymentGatewayException($"The gift card could not be reached: {e.Message}", transient: true, e);
        }
    }

    private static TenderStep Refused(string code, string field, string message) =>
        new(TenderStepStatus.Failed, Code: code, Message: message, Field: field);
}
