using System.Globalization;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.Payments;
using MedSpa.Grains.Payments;

namespace MedSpa.Grains.Checkout.Tenders;

/// <summary>
/// Credit, debit, HSA and FSA tenders through the payment gateway. A reservation is a PaymentIntent confirmed with
/// manual capture (the card is authorised, nothing taken); capture takes it; release cancels it (or refunds it when
/// it was already captured). HSA/FSA cards are cards like any other here — the invoice limits their total to the
/// eligible items before anything is reserved (TenderRules).
/// </summary>
internal sealed class CardTenderSource(IPaymentGateway gateway, TenderMetadata metadata) : ITenderSource
{
    public bool Reserves => true;

    public TenderStep? Unavailable => null;

    public async Task<TenderStep> ReserveAsync(PendingTender tender, CancellationToken cancellationToken)
    {
        var t = tender.Tender;
        var number = metadata.InvoiceNumber();
        var request = new PaymentRequest(
            t.Amount, tender.PaymentMethod ?? "", tender.CustomerId, CaptureLater: true, tender.OffSession,
            tender.IdempotencyKey + ":reserve", number is null ? "Invoice" : $"Invoice {number}",
            new Dictionary<string, string>
            {
                ["tenant_id"] = metadata.TenantId.ToString("D"),
                ["invoice_id"] = metadata.InvoiceId.ToString("D"),
                ["invoice_number"] = number ?? "",
                ["tender_id"] = t.Id.ToString("D"),
                ["tender_kind"] = t.Kind.ToString().ToLowerInvariant(),
                ["tender_index"] = tender.Index.ToString(CultureInfo.InvariantCulture),
            });
        PaymentResult result;
        try
        {
            result = await gateway.CreatePaymentAsync(request, cancellationToken);
        }
        catch (PaymentGatewayException e) when (!e.Transient)
        {
            // The processor refused the request itself (unknown payment method, customer mismatch): nothing exists.
            return new TenderStep(TenderStepStatus.Failed, Code: "payment_method_invalid", Message: e.Message);
        }

        if (result.IsDeclined || result.PaymentId is null)
        {
            return new TenderStep(TenderStepStatus.Declined, Code: result.DeclineCode ?? DeclineCodeOf(result.Status),
                Message: result.Message ?? "The card was declined.");
        }

        if (result.Status is PaymentStatus.Canceled or PaymentStatus.Processing)
        {
            // A cancelled reservation answered again (a key reused after an undo) or an asynchronous method: neither
            // holds money we could capture now.
            return new TenderStep(TenderStepStatus.Declined, Code: result.Status == PaymentStatus.Canceled ? "canceled" : "processing",
                Message: $"The payment is {result.Status}, not authorised.", Card: CardOf(result, tender));
        }

        if (result.Amount != t.Amount)
        {
            throw new InvalidOperationException($"The gateway reserved {result.Amount} for a {t.Amount} tender.");
        }

        return new TenderStep(TenderStepStatus.Done, CardOf(result, tender), Captured: result.Status == PaymentStatus.Succeeded);
    }

    public async Task<TenderStep> CaptureAsync(PendingTender tender, CancellationToken cancellationToken)
    {
        var paymentId = tender.Tender.Card?.PaymentId ?? throw new InvalidOperationException("Capturing a tender that was never reserved.");
        PaymentResult result;
        try
        {
            result = await gateway.CaptureAsync(paymentId, null, tender.IdempotencyKey + ":capture", cancellationToken);
        }
        catch (PaymentGatewayException e) when (!e.Transient)
        {
            return new TenderStep(TenderStepStatus.Failed, Code: "payment_capture_failed", Message: e.Message);
        }

        return result.Status == PaymentStatus.Succeeded
            ? new TenderStep(TenderStepStatus.Done, CardOf(result, tender) ?? tender.Tender.Card)
            : new TenderStep(TenderStepStatus.Failed, Code: "payment_capture_failed",
                Message: result.Message ?? $"The gateway answered the capture with {result.Status}.");
    }

    public async Task<TenderStep> ReleaseAsync(PendingTender tender, CancellationToken cancellationToken)
    {
        var paymentId = tender.Tender.Card?.PaymentId;
        if (tender.Phase == TenderPhase.Pending && tender.Attempted && paymentId is null)
        {
            // The reservation's answer was lost (crash or network): ask again with the same key, so the processor
            // answers the payment it made, if any, and cancel that.
            var again = await ReserveAsync(tender, cancellationToken);
            if (!again.IsDone)
            {
                return TenderStep.Done; // declined or refused: nothing is held
            }

            tender.Tender = tender.Tender with { Card = again.Card };
            tender.Phase = again.Captured ? TenderPhase.Captured : TenderPhase.Reserved;
            paymentId = again.Card!.PaymentId;
        }

        switch (tender.Phase)
        {
            case TenderPhase.Reserved when paymentId is not null:
                PaymentResult canceled;
                try
                {
                    canceled = await gateway.CancelAsync(paymentId, tender.IdempotencyKey + ":cancel", cancellationToken);
                }
                catch (PaymentGatewayException e) when (!e.Transient)
                {
                    // Not cancellable: a capture whose answer was lost went through after all. Refund it instead
                    // (if it was not captured either, the refund is refused too and the undo is retried).
                    return await RefundAllAsync(tender, paymentId, cancellationToken);
                }

                if (canceled.Status == PaymentStatus.Succeeded)
                {
                    // Captured after all (a capture whose answer was lost): give the money back instead.
                    return await RefundAllAsync(tender, paymentId, cancellationToken);
                }

                return TenderStep.Done;
            case TenderPhase.Captured when paymentId is not null:
                return await RefundAllAsync(tender, paymentId, cancellationToken);
            default:
                return TenderStep.Done;
        }
    }

    public async Task<TenderStep> RefundAsync(Tender tender, TenderRefund refund, string idempotencyKey, CancellationToken cancellationToken)
    {
        var paymentId = tender.Card?.PaymentId ?? throw new InvalidOperationException("A card tender without its payment.");
        RefundResult result;
        try
        {
            result = await gateway.RefundAsync(paymentId, refund.Amount, idempotencyKey, refund.Reason, cancellationToken);
        }
        catch (PaymentGatewayException e) when (!e.Transient)
        {
            return new TenderStep(TenderStepStatus.Failed, Code: "refund_failed", Message: e.Message);
        }

        return result.Status is RefundStatus.Succeeded or RefundStatus.Pending
            ? new TenderStep(TenderStepStatus.Done, GatewayRefundId: result.RefundId)
            : new TenderStep(TenderStepStatus.Failed, Code: "refund_failed",
                Message: result.FailureReason ?? $"The gateway answered the refund with {result.Status}.");
    }

    private async Task<TenderStep> RefundAllAsync(PendingTender tender, string paymentId, CancellationToken cancellationToken)
    {
        var result = await gateway!.RefundAsync(
            paymentId, tender.Tender.Amount, tender.IdempotencyKey + ":unwind-refund", "payment undone", cancellationToken);
        return result.Status is RefundStatus.Succeeded or RefundStatus.Pending
            ? TenderStep.Done
            : new TenderStep(TenderStepStatus.Failed, Code: "refund_failed", Message: result.FailureReason);
    }

    private static TenderCardPayment? CardOf(PaymentResult result, PendingTender tender) => result.PaymentId is null
        ? null
        : new TenderCardPayment(result.Gateway, result.PaymentId, result.PaymentMethodId ?? tender.PaymentMethod, result.Card, tender.OffSession);

    private static string DeclineCodeOf(PaymentStatus status) => status switch
    {
        PaymentStatus.RequiresAction => "authentication_required",
        PaymentStatus.Failed => "processing_error",
        _ => "card_declined",
    };
}
