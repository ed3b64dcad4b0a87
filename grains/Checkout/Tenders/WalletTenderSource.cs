using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Payments;

namespace MedSpa.Grains.Checkout.Tenders;

/// <summary>Plugs the wallet tender into every invoice (registered in the silo's PackagesHosting).</summary>
public sealed class WalletTenderSourceFactory : ITenderSourceFactory
{
    public TenderKind Kind => TenderKind.Wallet;

    public ITenderSource Create(TenderContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new WalletTenderSource(context.Grains, context.TenantId, context.InvoiceId, context.Invoice);
    }
}

/// <summary>
/// The patient's wallet as a tender: reserve holds the amount on the invoice's patient's wallet (refused with
/// <c>insufficient_balance</c> beyond what is available), capture spends the hold, release gives it back (or credits
/// back a spend whose payment was undone), and a refund of a wallet tender credits the wallet again. The hold's
/// operation id is the tender's idempotency key, so every step repeated after a crash is answered, not applied twice.
/// Posts nothing: the invoice's tender and refund entries move the <c>patient-wallet</c> account (WalletLedger).
/// </summary>
internal sealed class WalletTenderSource(IGrainFactory grains, Guid tenantId, Guid invoiceId, Func<TenderInvoice> parties) : ITenderSource
{
    public bool Reserves => true;

    public TenderStep? Unavailable => parties().PatientId is null
        ? new TenderStep(TenderStepStatus.Unsupported, Code: PackageRefusals.PatientRequired,
            Message: "The invoice has no patient, so there is no wallet to pay from.")
        : null;

    public async Task<TenderStep> ReserveAsync(PendingTender tender, CancellationToken cancellationToken)
    {
        var p = parties();
        var answer = await CallAsync(w => w.ReserveAsync(new WalletHold(tender.IdempotencyKey, tender.Tender.Amount, invoiceId, p.ClinicId, p.CreatedBy)));
        if (answer.Refusal is { } refused)
        {
            // Insufficient balance and the like: the payment is undone like a decline, with the wallet's own code.
            return new TenderStep(TenderStepStatus.Failed, Code: refused.Code, Message: refused.Message, Field: "amount");
        }

        return new TenderStep(TenderStepStatus.Done);
    }

    public async Task<TenderStep> CaptureAsync(PendingTender tender, CancellationToken cancellationToken)
    {
        var answer = await CallAsync(w => w.CommitAsync(tender.IdempotencyKey));
        return answer.Refusal is { } refused
            ? new TenderStep(TenderStepStatus.Failed, Code: refused.Code, Message: refused.Message)
            : TenderStep.Done;
    }

    public async Task<TenderStep> ReleaseAsync(PendingTender tender, CancellationToken cancellationToken)
    {
        // Releasing is safe whatever the phase: an unknown hold is recorded as released, a spent one credited back.
        var answer = await CallAsync(w => w.ReleaseAsync(tender.IdempotencyKey));
        return answer.Refusal is { } refused
            ? new TenderStep(TenderStepStatus.Failed, Code: refused.Code, Message: refused.Message)
            : TenderStep.Done;
    }

    public async Task<TenderStep> RefundAsync(Tender tender, TenderRefund refund, string idempotencyKey, CancellationToken cancellationToken)
    {
        var p = parties();
        var answer = await CallAsync(w => w.CreditAsync(new WalletCredit(
            idempotencyKey, refund.Amount, WalletCreditSource.RefundToCredit, "refund of a wallet tender", p.CreatedBy, p.ClinicId,
            refund.Reason, InvoiceId: invoiceId)));
        return answer.Refusal is { } refused
            ? new TenderStep(TenderStepStatus.Failed, Code: refused.Code, Message: refused.Message)
            : TenderStep.Done;
    }

    /// <summary>A failed call to the wallet grain has an unknown outcome, like a gateway timeout: the invoice then
    /// undoes (or retries) with the same keys, which the wallet answers idempotently.</summary>
    private async Task<WalletAnswer> CallAsync(Func<IWalletGrain, Task<WalletAnswer>> call)
    {
        var patientId = parties().PatientId ?? throw new InvalidOperationException("A wallet tender on an invoice without a patient.");
        try
        {
            var answer = await call(grains.GetGrain<IWalletGrain>(PackageKeys.For(tenantId, patientId)));
            if (answer.Refusal?.Code == WalletRefusals.Unavailable)
            {
                // The wallet's storage write failed: nothing was kept, so it is retried (or undone) with the same keys.
                throw new PaymentGatewayException(answer.Refusal.Message, transient: true);
            }

            return answer;
        }
        catch (Exception e) when (e is TimeoutException or OrleansException)
        {
            throw new PaymentGatewayException($"The wallet could not be reached: {e.Message}", transient: true, e);
        }
    }
}
