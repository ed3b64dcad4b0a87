using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Payments;
using Microsoft.Extensions.Logging;

namespace MedSpa.Grains.Checkout.Tenders;

/// <summary>How a run of <see cref="PaymentOrchestrator"/> ended.</summary>
public enum PaymentRunResult
{
    /// <summary>Every tender captured: the caller commits the tenders and their journal entries.</summary>
    Completed,

    /// <summary>The payment failed and everything it had reserved or taken was given back.</summary>
    Undone,

    /// <summary>The payment failed and some release could not be confirmed yet (gateway down): it stays pending
    /// in grain state and the undo is repeated later.</summary>
    UndoIncomplete,
}

/// <summary>
/// Drives one <see cref="PendingPayment"/>: reserve every tender in order, then capture them all; on a decline or
/// failure, release whatever was reserved (newest first) and refund whatever was captured. <paramref name="persist"/>
/// saves grain state: it is called after each reservation and before capturing, so a crash at any point leaves a
/// state from which <see cref="RunAsync"/> finishes the payment one way or the other with the same idempotency keys.
/// </summary>
public sealed class PaymentOrchestrator(TenderSources sources, Func<Task> persist, ILogger logger, Guid invoiceId)
{
    public async Task<PaymentRunResult> RunAsync(PendingPayment payment, CancellationToken cancellationToken = default)
    {
        if (payment.Stage == PaymentStage.Reserving)
        {
            foreach (var tender in payment.Tenders.Where(t => t.Phase == TenderPhase.Pending))
            {
                var source = sources.For(tender.Tender.Kind);
                if (!source.Reserves)
                {
                    tender.Phase = TenderPhase.Reserved;
                    continue;
                }

                tender.Attempted = true;
                TenderStep step;
                try
                {
                    step = await source.ReserveAsync(tender, cancellationToken);
                }
                catch (PaymentGatewayException e)
                {
                    logger.LogWarning(e, "Invoice {InvoiceId}: reserving tender {Index} failed at the gateway; undoing the payment",
                        invoiceId, tender.Index);
                    return await UndoAsync(payment, GatewayUnavailable(tender.Index, e.Message), cancellationToken);
                }

                if (!step.IsDone)
                {
                    tender.Phase = step.Status == TenderStepStatus.Declined ? TenderPhase.Declined : TenderPhase.Released;
                    tender.DeclineCode = step.Code;
                    return await UndoAsync(payment, Refusal(tender.Index, step), cancellationToken);
                }

                tender.Tender = tender.Tender with
                {
                    Card = step.Card, Reference = tender.Tender.Reference ?? step.Card?.PaymentId, Redeemed = step.Redeemed ?? tender.Tender.Redeemed,
                    AdditionalCharge = step.AdditionalCharge ?? tender.Tender.AdditionalCharge,
                };
                tender.Phase = step.Captured ? TenderPhase.Captured : TenderPhase.Reserved;
                // Saved before the next reservation, so a crash from here on knows this one exists.
                await persist();
            }

            payment.Stage = PaymentStage.Capturing;
            await persist();
        }

        if (payment.Stage == PaymentStage.Capturing)
        {
            foreach (var tender in payment.Tenders.Where(t => t.Phase == TenderPhase.Reserved))
            {
                var source = sources.For(tender.Tender.Kind);
                if (!source.Reserves)
                {
                    tender.Phase = TenderPhase.Captured;
                    continue;
                }

                TenderStep step;
                try
                {
                    step = await source.CaptureAsync(tender, cancellationToken);
                }
                catch (PaymentGatewayException e)
                {
                    logger.LogError(e, "Invoice {InvoiceId}: capturing tender {Index} failed; releasing the payment", invoiceId, tender.Index);
                    return await UndoAsync(payment, CaptureFailed(tender.Index, e.Message), cancellationToken);
                }

                if (!step.IsDone)
                {
                    logger.LogError("Invoice {InvoiceId}: capture of tender {Index} refused ({Code}: {Message}); releasing the payment",
                        invoiceId, tender.Index, step.Code, step.Message);
                    return await UndoAsync(payment, CaptureFailed(tender.Index, step.Message ?? "The capture was refused."), cancellationToken);
                }

                tender.Phase = TenderPhase.Captured;
                tender.Tender = tender.Tender with { Card = step.Card ?? tender.Tender.Card };
            }

            return PaymentRunResult.Completed;
        }

        return await ContinueUndoAsync(payment, cancellationToken);
    }

    /// <summary>Marks the payment as being undone (saved first: a crash mid-undo resumes the undo) and undoes it.</summary>
    public async Task<PaymentRunResult> UndoAsync(PendingPayment payment, Refusal failure, CancellationToken cancellationToken = default)
    {
        payment.Stage = PaymentStage.Unwinding;
        payment.Failure ??= StoredRefusal.From(failure);
        await persist();
        return await ContinueUndoAsync(payment, cancellationToken);
    }

    private async Task<PaymentRunResult> ContinueUndoAsync(PendingPayment payment, CancellationToken cancellationToken)
    {
        var stillHeld = false;
        // Newest first: the mirror image of the reservations.
        foreach (var tender in Enumerable.Reverse(payment.Tenders))
        {
            var mayHold = tender.Phase is TenderPhase.Reserved or TenderPhase.Captured || (tender.Phase == TenderPhase.Pending && tender.Attempted);
            if (!mayHold)
            {
                continue;
            }

            var source = sources.For(tender.Tender.Kind);
            if (!source.Reserves)
            {
                tender.Phase = TenderPhase.Released;
                continue;
            }

            try
            {
                var step = await source.ReleaseAsync(tender, cancellationToken);
                if (step.IsDone)
                {
                    tender.Phase = TenderPhase.Released;
                    continue;
                }

                logger.LogError("Invoice {InvoiceId}: releasing tender {Index} refused ({Code}: {Message}); will retry",
                    invoiceId, tender.Index, step.Code, step.Message);
            }
            catch (PaymentGatewayException e)
            {
                logger.LogWarning(e, "Invoice {InvoiceId}: releasing tender {Index} failed at the gateway; will retry", invoiceId, tender.Index);
            }

            stillHeld = true;
        }

        return stillHeld ? PaymentRunResult.UndoIncomplete : PaymentRunResult.Undone;
    }

    public static Refusal Refusal(int index, TenderStep step) => step.Status switch
    {
        TenderStepStatus.Declined => CheckoutRefusals.ForTender(CheckoutRefusals.PaymentDeclined, $"tenders[{index}]",
            step.Message ?? "The card was declined.", index, step.Code),
        TenderStepStatus.Unsupported => CheckoutRefusals.ForTender(step.Code ?? CheckoutRefusals.TenderNotSupported, $"tenders[{index}].kind",
            step.Message ?? "This tender is not available.", index),
        TenderStepStatus.Unavailable => GatewayUnavailable(index, step.Message ?? "The payment gateway is not available."),
        _ => CheckoutRefusals.ForTender(step.Code ?? CheckoutRefusals.PaymentMethodInvalid, $"tenders[{index}].{step.Field ?? "paymentMethodId"}",
            step.Message ?? "The payment method was refused.", index),
    };

    public static Refusal GatewayUnavailable(int? index, string message) =>
        CheckoutRefusals.ForTender(CheckoutRefusals.GatewayUnavailable, index is { } i ? $"tenders[{i}]" : "tenders",
            $"The payment gateway could not be reached; nothing was charged. {message}", index);

    private static Refusal CaptureFailed(int index, string message) =>
        CheckoutRefusals.ForTender(CheckoutRefusals.CaptureFailed, $"tenders[{index}]",
            "Capturing the card failed after every tender was reserved; every reservation was released and anything "
            + $"captured refunded. {message}", index);
}
