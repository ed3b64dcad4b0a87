using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Domain.Checkout;
using MedSpa.Grains.Domain.Ledger;
using MedSpa.Grains.Domain.PaymentPlans;
using MedSpa.Grains.Packages;
using Microsoft.Extensions.Logging;

namespace MedSpa.Grains.Checkout;

/// <summary>
/// The packages an invoice sells (issue 14 §2): a <c>package-sale</c> line is priced from its definition and keeps the
/// definition's terms as sold (<see cref="InvoiceState.PackageTerms"/>); the commit that makes the invoice paid saves
/// the intent to create one package grain per such line (<see cref="InvoiceState.PackagesToCreate"/>), completed
/// after the commit and again on activation or the retry timer until each grain answered — the purchase id is derived
/// from invoice + line, so a repeat creates nothing twice. A refund that reverses a sold package's liability is
/// checked against what is unused, and the package is closed as refunded the same way (intent, then the call).
/// </summary>
internal sealed class InvoicePackages(
    IPersistentState<InvoiceState> state,
    InvoiceBook book,
    IPackageCatalog catalog,
    IGrainFactory grains,
    ILogger logger,
    Guid tenantId,
    Guid invoiceId)
{
    private InvoiceState S => state.State;

    /// <summary>True while a package creation or closing is still to be delivered to its grain.</summary>
    public bool Pending => S.PackagesToCreate.Count > 0 || S.PackagesToClose.Count > 0 || S.RewardsToRelease.Count > 0
        || S.PaidSharesToPush.Count > 0 || UncommittedRewards > 0;

    /// <summary>Rewards on the invoice's lines the package holds reserved but has not committed yet.</summary>
    public int UncommittedRewards => S.PackageRewards.Values.Count(u => !u.Committed);

    /// <summary>Called with an accepted edit's lines (or with none when the invoice is voided): a reward whose line is
    /// gone, or no longer carries the reward's discount, is queued to go back to its package with this commit.</summary>
    public void DropRewards(IReadOnlyList<InvoiceLine> lines)
    {
        foreach (var (lineId, use) in S.PackageRewards.ToList())
        {
            if (lines.FirstOrDefault(l => l.Id == lineId)?.Discount != use.Discount)
            {
                S.PackageRewards.Remove(lineId);
                S.RewardsToRelease.Add(use);
            }
        }
    }

    /// <summary>A package-sale line priced from its definition (read within the invoice's tenant: another
    /// organisation's definition is not found), with the terms it sells.</summary>
    public async Task<(InvoiceLine? Line, PackageTerms? Terms, Refusal? Refusal)> ResolveSaleAsync(InvoiceLine line)
    {
        var entry = line.CatalogItemId is { } definitionId ? await catalog.FindAsync(tenantId, definitionId) : null;
        var (priced, refusal) = PackageSaleRules.Price(line, entry, S.Currency, S.PatientId);
        return (priced, priced is null ? null : entry!.Terms, refusal);
    }

    /// <summary>Called before each commit: the first time the invoice is paid in full, queues one package per
    /// package-sale line (owner: the invoice's patient; value: the line's pre-tax net).</summary>
    public void IssueIfPaid(DateTimeOffset now)
    {
        if (S.PackagesIssued || S.Lifecycle != InvoiceLifecycle.Opened || !S.Lines.Any(l => S.PackageTerms.ContainsKey(l.Id)))
        {
            return;
        }

        var priced = book.Price();
        var totals = book.Totals(priced);
        // On a payment plan the packages are issued at acceptance, each limited to its paid share (QueuePaidShares).
        if (totals.Status != InvoiceStatus.Paid && S.PackagePlanId is null)
        {
            return;
        }

        S.PackagesIssued = true;
        var lines = priced.Lines.Where(l => S.PackageTerms.ContainsKey(l.LineId)).ToArray();
        // Refunds of a partial payment or a write-off before the invoice was paid may already have reversed part of the
        // package liability the sale posted: a package is worth what its line still holds in the ledger.
        var reversed = CheckoutLedger.ReversedShare(priced, Money.Zero(S.Currency), book.SaleReversed(), LedgerAccount.PackageLiability);
        var reversedParts = reversed.Allocate(lines.Select(l => l.NetExcludingTax.Amount).ToArray());
        for (var i = 0; i < lines.Length; i++)
        {
            var netPaid = lines[i].NetExcludingTax - reversedParts[i];
            if (netPaid.IsNegative || netPaid.IsZero && lines[i].NetExcludingTax.IsPositive)
            {
                continue; // everything this line sold was reversed before it was paid: there is no package to issue
            }

            PackagePaidShare? share = null;
            if (S.PackagePlanId is not null && totals.Status != InvoiceStatus.Paid)
            {
                S.PlanPackageValues[lines[i].LineId] = netPaid.Amount;
                share = new PackagePaidShare(S.Version, PlanPackageShare.RedeemableUpTo(netPaid, Money.Zero(S.Currency), totals,
                    S.PackagePlanAllowancePercent), Money.Zero(S.Currency));
            }

            var purchase = new PackagePurchase(
                S.PatientId!.Value, S.ClinicId, S.PackageTerms[lines[i].LineId], netPaid, now, S.TimeZone, invoiceId, lines[i].LineId, S.CreatedBy,
                share);
            S.PackagesToCreate.Add(new PackagePurchaseIntent(PackagePurchaseIds.ForInvoiceLine(invoiceId, lines[i].LineId), purchase));
        }
    }

    /// <summary>Called before each commit, after <see cref="IssueIfPaid"/>: when packages were issued on a payment plan and
    /// what the invoice has been paid (or written off) changed, queues each package's new paid share with this commit,
    /// so the redemption path checks its own state and never asks the invoice.</summary>
    public void QueuePaidShares()
    {
        if (S.PlanPackageValues.Count == 0)
        {
            return;
        }

        var priced = book.Price();
        var totals = book.Totals(priced);
        var reversedSale = book.SaleReversed();
        var basis = $"{totals.Total.Amount}/{totals.BalanceDue.Amount}/{totals.WrittenOff.Amount}/{reversedSale.Amount}/{totals.Status}";
        if (basis == S.PaidShareBasis)
        {
            return;
        }

        var first = S.PaidShareBasis is null;
        S.PaidShareBasis = basis;
        if (first)
        {
            return; // the issue itself carried the share
        }

        var lines = priced.Lines.Where(l => S.PlanPackageValues.ContainsKey(l.LineId)).ToArray();
        // A write-off of the unpaid rest reverses its share of the package liability (CheckoutLedger): that much of each
        // package is no longer owed to the patient, and leaves the package too.
        var reversed = CheckoutLedger.ReversedShare(priced, Money.Zero(S.Currency), reversedSale, LedgerAccount.PackageLiability);
        var parts = reversed.Allocate(lines.Select(l => l.NetExcludingTax.Amount).ToArray());
        for (var i = 0; i < lines.Length; i++)
        {
            var value = new Money(S.PlanPackageValues[lines[i].LineId], S.Currency);
            var reversedAtIssue = lines[i].NetExcludingTax - value;
            var cut = parts[i] - reversedAtIssue;
            cut = cut.IsNegative ? Money.Zero(S.Currency) : cut;
            S.PaidSharesToPush.Add(new PackagePaidShareIntent(PackagePurchaseIds.ForInvoiceLine(invoiceId, lines[i].LineId),
                new PackagePaidShare(S.Version, PlanPackageShare.RedeemableUpTo(value, cut, totals, S.PackagePlanAllowancePercent), cut)));
        }
    }

    /// <summary>
    /// Delivers the queued creations and closings. Each delivered one leaves the list in memory only (the next state
    /// write stores that); until then a new activation delivers it again, which the grain answers as the first time.
    /// False when a grain could not be reached (the caller retries on its timer).
    /// </summary>
    public async Task<bool> TryCompleteAsync()
    {
        try
        {
            while (S.PackagesToCreate.Count > 0)
            {
                var next = S.PackagesToCreate[0];
                var answer = await Grain(next.PurchaseId).CreateAsync(next.Purchase);
                if (answer.Refusal is { } refused)
                {
                    // A refusal is final (the terms snapshot was accepted when the line was added): keep the record in
                    // the logs for the clinic rather than retrying forever.
                    logger.LogError("Invoice {InvoiceId}: package {PurchaseId} was refused at creation ({Code}: {Message})",
                        invoiceId, next.PurchaseId, refused.Code, refused.Message);
                }

                S.PackagesToCreate.RemoveAt(0);
            }

            while (S.PaidSharesToPush.Count > 0)
            {
                var next = S.PaidSharesToPush[0];
                if ((await Grain(next.PurchaseId).UpdatePaidShareAsync(next.Share)).Refusal is { } refused)
                {
                    logger.LogError("Invoice {InvoiceId}: package {PurchaseId} refused its paid share ({Code}: {Message})",
                        invoiceId, next.PurchaseId, refused.Code, refused.Message);
                }

                S.PaidSharesToPush.RemoveAt(0);
            }

            while (S.PackagesToClose.Count > 0)
            {
                var next = S.PackagesToClose[0];
                var answer = await Grain(next.PurchaseId).CloseAsync(next.Closing);
                if (answer.Refusal is { } refused)
                {
                    logger.LogError("Invoice {InvoiceId}: closing package {PurchaseId} was refused ({Code}: {Message})",
                        invoiceId, next.PurchaseId, refused.Code, refused.Message);
                }

                S.PackagesToClose.RemoveAt(0);
            }

            foreach (var (lineId, use) in S.PackageRewards.Where(r => !r.Value.Committed).ToList())
            {
                // The discount is saved on the line: the package commits the reward it reserved for it (a repeat of
                // the same operation id is answered as the first commit was). Like the deliveries above, marked in
                // memory only; the next state write stores it, and until then an activation commits it again.
                if ((await Grain(use.PurchaseId).CommitAsync(use.OperationId)).Refusal is { } refused)
                {
                    logger.LogError("Invoice {InvoiceId}: reward {OperationId} applied but not committed by package {PurchaseId} ({Code}: {Message})",
                        invoiceId, use.OperationId, use.PurchaseId, refused.Code, refused.Message);
                }

                S.PackageRewards[lineId] = use with { Committed = true };
            }

            while (S.RewardsToRelease.Count > 0)
            {
                var next = S.RewardsToRelease[0];
                if ((await Grain(next.PurchaseId).ReleaseAsync(next.OperationId)).Refusal is { Code: not PackageRefusals.NotFound } refused)
                {
                    logger.LogError("Invoice {InvoiceId}: giving reward {OperationId} back to package {PurchaseId} was refused ({Code}: {Message})",
                        invoiceId, next.OperationId, next.PurchaseId, refused.Code, refused.Message);
                }

                S.RewardsToRelease.RemoveAt(0);
            }

            return true;
        }
        catch (Exception e) when (e is TimeoutException or OrleansException)
        {
            logger.LogWarning(e, "Invoice {InvoiceId}: package creation/closing deferred ({Pending} pending)",
                invoiceId, S.PackagesToCreate.Count + S.PackagesToClose.Count + S.RewardsToRelease.Count);
            return false;
        }
    }

    /// <summary>
    /// What a refund does to the packages the invoice sold: the refund reverses its share of the sale (CheckoutLedger),
    /// and each package's share of the package liability must not exceed what is unused (<see cref="PackageView.LiabilityLeft"/>);
    /// the package is then closed, and whatever unused value the refund does not give back is forfeited. Null shares:
    /// the refund touches no sold package.
    /// </summary>
    public async Task<(IReadOnlyList<PackageRefundShare>? Shares, Refusal? Refusal)> PlanRefundAsync(TenderRefund refund)
    {
        if (!S.PackagesIssued || refund.TipAdjustment)
        {
            return (null, null);
        }

        var priced = book.Price();
        var lines = priced.Lines.Where(l => S.PackageTerms.ContainsKey(l.LineId)).ToArray();
        var total = CheckoutLedger.ReversedShare(priced, book.SaleReversed(), refund.Amount, LedgerAccount.PackageLiability);
        if (lines.Length == 0 || !total.IsPositive)
        {
            return (null, null);
        }

        if (!await TryCompleteAsync() || S.PackagesToCreate.Count > 0)
        {
            return (null, CheckoutRefusals.ConflictOn("tenderId", "The packages this invoice sold are still being issued; try again shortly."));
        }

        var parts = total.Allocate(lines.Select(l => l.NetExcludingTax.Amount).ToArray());
        var shares = new List<PackageRefundShare>();
        for (var i = 0; i < lines.Length; i++)
        {
            if (!parts[i].IsPositive)
            {
                continue;
            }

            var purchaseId = PackagePurchaseIds.ForInvoiceLine(invoiceId, lines[i].LineId);
            var terms = S.PackageTerms[lines[i].LineId];
            PackageAnswer answer;
            try
            {
                // Held, not just read: until this refund closes the package (or lets go), nothing is redeemed from it,
                // so what the refund plans on is what the closing finds.
                answer = await Grain(purchaseId).HoldForRefundAsync(RefundOperationId(refund), parts[i]);
            }
            catch (Exception e) when (e is TimeoutException or OrleansException)
            {
                logger.LogWarning(e, "Invoice {InvoiceId}: package {PurchaseId} unreachable for a refund", invoiceId, purchaseId);
                await ReleaseRefundHoldsAsync(refund, shares);
                return (null, CheckoutRefusals.ConflictOn("tenderId", $"The package '{terms.Name}' could not be reached; try again shortly."));
            }

            var refusal = answer switch
            {
                { Package: null } or { Refusal.Code: PackageRefusals.NotActive } or { Refusal.Code: PackageRefusals.NotFound } =>
                    CheckoutRefusals.ConflictOn("amount",
                        $"The package '{terms.Name}' sold on this invoice is already refunded or cancelled: this refund would reverse {parts[i]} of it."),
                { Refusal.Code: PackageRefusals.InsufficientBalance } => Refusal.Invalid("amount",
                        $"Only {answer.Package.LiabilityLeft} of the package '{terms.Name}' is unused; this refund would give back {parts[i]} of it.")
                    .With("unused", answer.Package.LiabilityLeft),
                { Refusal: { } other } when answer.Package.Reserved.IsPositive => CheckoutRefusals.ConflictOn("amount",
                    $"A checkout is using the package '{terms.Name}' right now; refund it once that checkout is finished."),
                { Refusal: { } other } => CheckoutRefusals.ConflictOn("amount", other.Message),
                _ => null,
            };
            if (refusal is not null)
            {
                await ReleaseRefundHoldsAsync(refund, shares);
                return (null, refusal);
            }

            var package = answer.Package!;
            // A package on a payment plan gives back part of what it holds and goes on (the refund's share leaves it as
            // the plan's value cut): a plan cancelled with "refund of unused value" refunds it tender by tender.
            var keepOpen = S.PlanPackageValues.ContainsKey(lines[i].LineId) && parts[i] < package.LiabilityLeft;
            shares.Add(new PackageRefundShare(lines[i].LineId, purchaseId, parts[i],
                keepOpen ? Money.Zero(S.Currency) : package.LiabilityLeft - parts[i],
                MedSpa.Grains.Domain.Packages.PackageBalanceRules.BreakageCategory, keepOpen));
        }

        return (shares, null);
    }

    /// <summary>
    /// Before a write-off of <paramref name="amount"/>: each package sold on a payment plan is held (amount 0: nothing is
    /// redeemed from it until <see cref="ReleaseWriteOffHoldsAsync"/>, after the commit that pushes its cut) and asked
    /// what it still holds. The write-off's share of a package beyond that — value redeemed beyond what was paid, the
    /// plan's allowance — is answered per income category, for the ledger to post as a bad debt instead of taking it
    /// out of the package liability (which would go below zero).
    /// </summary>
    public async Task<(IReadOnlyList<(Money Amount, string IncomeCategory)>? Overdrawn, Refusal? Refusal)> HoldForWriteOffAsync(
        PricedInvoice priced, Money amount)
    {
        if (S.PlanPackageValues.Count == 0 || !amount.IsPositive)
        {
            return (null, null);
        }

        var lines = priced.Lines.Where(l => S.PlanPackageValues.ContainsKey(l.LineId)).ToArray();
        var weights = lines.Select(l => l.NetExcludingTax.Amount).ToArray();
        var zero = Money.Zero(S.Currency);
        var before = book.SaleReversed();
        // The same cumulative allocation QueuePaidShares makes, so each line's part is exactly the cut it will push.
        var partsBefore = CheckoutLedger.ReversedShare(priced, zero, before, LedgerAccount.PackageLiability).Allocate(weights);
        var partsAfter = CheckoutLedger.ReversedShare(priced, zero, before + amount, LedgerAccount.PackageLiability).Allocate(weights);
        var overdrawn = new List<(Money, string)>();
        for (var i = 0; i < lines.Length; i++)
        {
            var purchaseId = PackagePurchaseIds.ForInvoiceLine(invoiceId, lines[i].LineId);
            PackageAnswer answer;
            try
            {
                answer = await Grain(purchaseId).HoldForRefundAsync(WriteOffOperationId(), zero);
            }
            catch (Exception e) when (e is TimeoutException or OrleansException)
            {
                logger.LogWarning(e, "Invoice {InvoiceId}: package {PurchaseId} unreachable for a write-off", invoiceId, purchaseId);
                await ReleaseWriteOffHoldsAsync();
                return (null, CheckoutRefusals.ConflictOn("id", "The packages this invoice sold could not be reached; try again shortly."));
            }

            if (answer.Package is not { } package)
            {
                continue; // never created (refused at issue): it holds nothing, and no cut reaches it
            }

            if (answer.Refusal is { } refused && package.Status == PackageStatus.Active)
            {
                await ReleaseWriteOffHoldsAsync();
                return (null, CheckoutRefusals.ConflictOn("id", $"The package '{package.Terms.Name}' is busy ({refused.Message}) Try again shortly."));
            }

            var part = partsAfter[i] - partsBefore[i];
            var beyond = part - package.LiabilityLeft;
            if (beyond.IsPositive)
            {
                overdrawn.Add((beyond, lines[i].Line.IncomeCategory));
            }
        }

        return (overdrawn, null);
    }

    /// <summary>Lets the write-off's holds go (best effort: a hold not let go lapses by itself).</summary>
    public async Task ReleaseWriteOffHoldsAsync()
    {
        foreach (var lineId in S.PlanPackageValues.Keys)
        {
            try
            {
                await Grain(PackagePurchaseIds.ForInvoiceLine(invoiceId, lineId)).ReleaseRefundHoldAsync(WriteOffOperationId());
            }
            catch (Exception e) when (e is TimeoutException or OrleansException)
            {
                logger.LogWarning(e, "Invoice {InvoiceId}: a package's write-off hold not released; it lapses", invoiceId);
            }
        }
    }

    /// <summary>One per invoice (its balance is written off once; a repeated write-off is answered from the invoice) and
    /// within the package's operation id length.</summary>
    private string WriteOffOperationId() => $"invoice:{invoiceId:N}:write-off";

    /// <summary>The refund's operation on its packages: the hold, and the closing after the commit.</summary>
    public string RefundOperationId(TenderRefund refund) => $"invoice:{invoiceId:N}:refund:{refund.Id:N}";

    /// <summary>The refund did not happen: its packages go on (best effort — a hold not let go lapses by itself).</summary>
    public async Task ReleaseRefundHoldsAsync(TenderRefund refund, IEnumerable<PackageRefundShare>? shares = null)
    {
        foreach (var share in shares ?? refund.Packages ?? [])
        {
            try
            {
                await Grain(share.PurchaseId).ReleaseRefundHoldAsync(RefundOperationId(refund));
            }
            catch (Exception e) when (e is TimeoutException or OrleansException)
            {
                logger.LogWarning(e, "Invoice {InvoiceId}: package {PurchaseId} refund hold not released; it lapses", invoiceId, share.PurchaseId);
            }
        }
    }

    private IPackageBalanceGrain Grain(Guid purchaseId) => grains.GetGrain<IPackageBalanceGrain>(PackageKeys.For(tenantId, purchaseId));
}
