using System.Data.Common;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Domain.Checkout;
using MedSpa.Grains.Domain.Packages;
using MedSpa.Grains.Packages;
using Microsoft.Extensions.Logging;

namespace MedSpa.Grains.Checkout;

/// <summary>
/// What a paid invoice counts toward its patient's threshold packages (issue 14 §1), the same way the invoice issues
/// the packages it sells (<see cref="InvoicePackages"/>): the commit that makes the invoice paid saves the intent
/// (<see cref="InvoiceState.ThresholdAccruals"/>), delivered after the commit and again on activation or the retry
/// timer until every package answered. Each package counts it once: the accrual's operation id is derived from the
/// invoice (<see cref="ThresholdAccrualRules.OperationId"/>), and the package answers a repeat as the first time.
/// <para>
/// The packages are those the patient owned, or shared as a family member, when the invoice was paid (read from their
/// rows, <see cref="IPackageCatalog.FindThresholdPackagesAsync"/>), and the threshold packages this invoice sold itself
/// (the patient joins at this checkout). What counts toward each is its own terms' business
/// (<see cref="ThresholdAccrualRules.Count"/>).
/// </para>
/// <para>
/// A refund takes the accrual back in proportion: each refund commit saves a take-back bringing the refunded share to
/// refunds ÷ the invoice's total (all of it once the invoice is refunded whole); each package takes back that share of
/// what it counted, once (see <see cref="IPackageBalanceGrain.TakeBackAccrualAsync"/> for a reward already used).
/// </para>
/// </summary>
internal sealed class InvoiceThresholds(
    IPersistentState<InvoiceState> state,
    InvoiceBook book,
    IPackageCatalog catalog,
    IGrainFactory grains,
    ILogger logger,
    Guid tenantId,
    Guid invoiceId)
{
    private InvoiceState S => state.State;

    public bool Pending => S.ThresholdAccruals.Count > 0;

    /// <summary>Called before each commit: the first time the invoice is paid (before any refund), queues its accrual;
    /// after, each refund that raises the refunded share queues its take-back.</summary>
    public void QueueIfPaidOrRefunded(DateTimeOffset now)
    {
        // Cheap checks first: every commit of every invoice passes here, and only a payment or a refund can change this.
        if (S.PatientId is not { } patientId || S.Lifecycle != InvoiceLifecycle.Opened
            || (S.ThresholdAccrual is null ? S.Tenders.Count == 0 || S.Refunds.Count > 0 : S.Refunds.Count == 0))
        {
            return;
        }

        var priced = book.Price();
        var totals = book.Totals(priced);
        if (S.ThresholdAccrual is not { } mark)
        {
            // Only lines of the catalog can be an eligible service; an invoice with none counts toward nothing.
            if (totals.Status != InvoiceStatus.Paid || S.Refunds.Count > 0 || !priced.Lines.Any(l => l.Line.CatalogItemId is not null))
            {
                return;
            }

            var whole = Math.Max(1, (totals.Total - totals.WrittenOff).Amount);
            S.ThresholdAccrual = new ThresholdAccrualMark(now, whole, 0);
            S.ThresholdAccruals.Add(new ThresholdAccrualIntent(ThresholdAccrualRules.OperationId(invoiceId), patientId, now, false, 0, whole, now));
            return;
        }

        var refunded = Money.Sum(S.Refunds.Where(r => !r.TipAdjustment).Select(r => r.Amount), S.Currency).Amount;
        var part = totals.Status == InvoiceStatus.Refunded ? mark.Whole : Math.Clamp(refunded, 0, mark.Whole);
        if (part > mark.TakenBack)
        {
            S.ThresholdAccrual = mark with { TakenBack = part };
            S.ThresholdAccruals.Add(new ThresholdAccrualIntent(
                ThresholdAccrualRules.TakeBackOperationId(invoiceId, part), patientId, mark.PaidAt, true, part, mark.Whole, now));
        }
    }

    /// <summary>Delivers the queued accruals and take-backs (each leaves the list in memory only; the next state write
    /// stores that). False when a package or the rows could not be reached (the caller retries on its timer).</summary>
    public async Task<bool> TryCompleteAsync()
    {
        try
        {
            while (S.ThresholdAccruals.Count > 0)
            {
                var next = S.ThresholdAccruals[0];
                var found = await catalog.FindThresholdPackagesAsync(tenantId, next.PatientId, next.PaidAt);
                var sold = S.PackagesIssued
                    ? S.PackageTerms.Where(t => t.Value.Type == PackageType.Threshold).Select(t => PackagePurchaseIds.ForInvoiceLine(invoiceId, t.Key))
                    : [];
                foreach (var purchaseId in found.Concat(sold).Distinct())
                {
                    if (!await DeliverAsync(purchaseId, next))
                    {
                        return false;
                    }
                }

                S.ThresholdAccruals.RemoveAt(0);
            }

            return true;
        }
        catch (Exception e) when (e is TimeoutException or OrleansException or DbException)
        {
            logger.LogWarning(e, "Invoice {InvoiceId}: threshold accrual deferred ({Pending} pending)", invoiceId, S.ThresholdAccruals.Count);
            return false;
        }
    }

    /// <summary>One package's accrual or take-back; false when the package could not save it just now.</summary>
    private async Task<bool> DeliverAsync(Guid purchaseId, ThresholdAccrualIntent next)
    {
        var package = grains.GetGrain<IPackageBalanceGrain>(PackageKeys.For(tenantId, purchaseId));
        PackageAnswer answer;
        if (next.TakeBack)
        {
            // Sent to every package of the patient: one that never counted this invoice has nothing to take back.
            answer = await package.TakeBackAccrualAsync(new PackageAccrualReversal(
                next.OperationId, ThresholdAccrualRules.OperationId(invoiceId), next.Part, next.Whole, next.At));
        }
        else
        {
            if ((await package.GetAsync()).Package is not { } view
                || ThresholdAccrualRules.Count(view.Terms, book.Price().Lines, S.Tenders, S.Currency) is not { } count)
            {
                return true; // nothing of this invoice is eligible for it
            }

            answer = await package.AccrueAsync(new PackageAccrual(next.OperationId, count.Spend, count.Visits, invoiceId, next.PaidAt));
        }

        if (answer.Refusal is { Code: PackageRefusals.Unavailable })
        {
            return false;
        }

        if (answer.Refusal is { } refused)
        {
            // Final for this package (expired, cancelled, another currency): it counts nothing of this invoice.
            logger.LogInformation("Invoice {InvoiceId}: package {PurchaseId} did not count it ({Code}: {Message})",
                invoiceId, purchaseId, refused.Code, refused.Message);
        }

        return true;
    }
}
