using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Checkout.Tenders;
using MedSpa.Grains.Domain.Checkout;
using MedSpa.Grains.Domain.Ledger;

namespace MedSpa.Grains.Checkout;

/// <summary>
/// The invoice's books: its grain state priced by the domain core, and each accepted change applied to that state
/// together with the journal entries and card movements it causes (queued in the <see cref="InvoiceOutbox"/>). No
/// I/O and no decisions: the grain asks the rules first, then records here, then saves and projects.
/// </summary>
public sealed class InvoiceBook(IPersistentState<InvoiceState> state, InvoiceOutbox outbox, Guid invoiceId)
{
    private InvoiceState S => state.State;

    public PricedInvoice Price() => Price(S.Lines, S.InvoiceDiscount, S.Tip, S.TipSplit);

    /// <summary>Prices lines already accepted (the state, or an edit the rules passed): a refusal here is a bug.</summary>
    public PricedInvoice Price(IReadOnlyList<InvoiceLine> lines, Discount? discount, TipRequest? tip, TipSplit? split) =>
        PriceDraft(lines, discount, tip, split).Value("Pricing the invoice's accepted lines");

    /// <summary>Prices lines the caller may have got wrong (an edit, a new tip): the priced invoice or the pricing
    /// rules' refusal.</summary>
    public (PricedInvoice? Priced, Refusal? Refusal) TryPrice(IReadOnlyList<InvoiceLine> lines, Discount? discount, TipRequest? tip, TipSplit? split)
    {
        try
        {
            return PriceDraft(lines, discount, tip, split);
        }
        catch (CurrencyMismatchException e)
        {
            // Money refuses to add amounts in different currencies; the pricer checks each line's currency first, so
            // this only catches a combination it does not name a field for.
            return (null, Refusal.Invalid("currency", e.Message));
        }
    }

    private (PricedInvoice? Priced, Refusal? Refusal) PriceDraft(
        IReadOnlyList<InvoiceLine> lines, Discount? discount, TipRequest? tip, TipSplit? split) =>
        InvoicePricer.Price(new InvoiceDraft(S.Currency, lines, discount, null, tip, split), S.TaxRates);

    public InvoiceTotals Totals() => Totals(Price());

    public InvoiceTotals Totals(PricedInvoice priced) => InvoiceTotalsCalculator.Compute(priced, S.Lifecycle, S.Tenders, S.Refunds, S.WriteOffs);

    public InvoiceView View()
    {
        var priced = Price();
        var totals = Totals(priced);
        return new InvoiceView(
            invoiceId, S.ClinicId, S.PatientId, S.Number, totals.Status, S.Currency, priced.Lines, S.InvoiceDiscount, S.Tip,
            S.TipSplit, priced.TipAllocations, [.. S.Tenders], [.. S.Refunds], totals, S.CreatedAt, S.OpenedAt, S.UpdatedAt, S.Version,
            S.VisitId, [.. S.WriteOffs], Sold(), S.GiftCardIssueFailures.Count == 0 ? null : [.. S.GiftCardIssueFailures]);
    }

    /// <summary>The packages the invoice's lines sell (each the purchase it becomes once the invoice is paid).</summary>
    public IReadOnlyList<SoldPackage> Sold() => S.Lines
        .Where(l => S.PackageTerms.ContainsKey(l.Id))
        .Select(l => new SoldPackage(l.Id, PackagePurchaseIds.ForInvoiceLine(invoiceId, l.Id), S.PackageTerms[l.Id].DefinitionId,
            S.PackageTerms[l.Id].Name))
        .ToArray();

    /// <summary>The status as messages name it (<c>partially-paid</c>).</summary>
    public string Status() => InvoiceOutbox.StatusCode(View().Status);

    /// <summary>A new or edited line, tax-inclusive by default when its category's clinic rate is.</summary>
    public InvoiceLine Resolve(InvoiceLine line, bool? priceIncludesTax) =>
        line with { PriceIncludesTax = priceIncludesTax ?? S.InclusiveCategories.Contains(line.TaxCategory) };

    public DateOnly BusinessDate(DateTimeOffset at) => ClinicClock.BusinessDate(S.TimeZone, at);

    public Money RefundedOn(Guid tenderId) => Money.Sum(S.Refunds.Where(r => r.TenderId == tenderId).Select(r => r.Amount), S.Currency);

    /// <summary>Numbers the invoice, freezes it as opened and posts the sale.</summary>
    public void Open(string number, PricedInvoice priced, DateTimeOffset now)
    {
        S.Number = number;
        S.Lifecycle = InvoiceLifecycle.Opened;
        S.OpenedAt = now;
        S.SaleRevision = 1;
        outbox.Add(CheckoutLedger.Sale(SaleOperation(1), number, priced), now);
    }

    /// <summary>Sets the tip of an opened invoice and reposts the sale (reversal of the last posting + the new one).</summary>
    public void ApplyTip(TipAdjustmentCommand adjustment, DateTimeOffset now)
    {
        var before = Price();
        var after = Price(S.Lines, S.InvoiceDiscount, adjustment.Tip, adjustment.Split);
        S.Tip = adjustment.Tip;
        S.TipSplit = adjustment.Split;
        RepostSale(before, after, now);
    }

    /// <summary>Append-only correction of the sale: the last sale posting reversed, the new one posted.</summary>
    public void RepostSale(PricedInvoice before, PricedInvoice after, DateTimeOffset now)
    {
        var previous = CheckoutLedger.Sale(SaleOperation(S.SaleRevision), S.Number!, before);
        if (previous is not null)
        {
            outbox.Add(previous.Reverse($"{invoiceId:N}:sale-reversal:{S.SaleRevision}"), now);
        }

        S.SaleRevision++;
        outbox.Add(CheckoutLedger.Sale(SaleOperation(S.SaleRevision), S.Number!, after), now);
    }

    /// <summary>Tenders taken (all captured): each debits its account and, for a card, is a charge on the payments list
    /// (for what the card was charged: more than it applies when the excess was kept as wallet credit, see
    /// <see cref="Tender.Tendered"/>).</summary>
    public void RecordTenders(IEnumerable<Tender> tenders, DateTimeOffset now)
    {
        foreach (var tender in tenders)
        {
            S.Tenders.Add(tender);
            S.TenderDates[tender.Id] = BusinessDate(now);
            var operation = $"{invoiceId:N}:tender:{tender.Id:N}";
            outbox.Add(CheckoutLedger.Tender(operation, S.Number!, tender), now);
            if (tender.Card is { } card)
            {
                outbox.AddCard(operation, "charge", "succeeded", tender, card, tender.Tendered ?? tender.Amount, null, now);
            }
        }
    }

    /// <summary>
    /// The additional charges the package tenders of a payment ask (the package's answer when it reserved them): each
    /// becomes a line of the invoice (<see cref="PackageTenderRules.AdditionalChargeLine"/>) and the sale is reposted
    /// with them, in the commit that records the tenders. A line already there (a repeated commit) is not added again;
    /// a payment that was undone never gets here, so a released package adds nothing.
    /// </summary>
    public void AddAdditionalCharges(IEnumerable<Tender> tenders, DateTimeOffset now)
    {
        var charges = tenders
            .Where(t => t.Kind == TenderKind.Package && t.AdditionalCharge is { IsPositive: true })
            .Select(t => (Tender: t, Service: S.Lines.FirstOrDefault(l => l.Id == t.LineId)))
            .Where(x => x.Service is not null && S.Lines.All(l => l.Id != PackageTenderRules.AdditionalChargeLineId(x.Tender.Id)))
            .ToList();
        if (charges.Count == 0)
        {
            return;
        }

        var before = Price();
        foreach (var (tender, service) in charges)
        {
            S.Lines.Add(PackageTenderRules.AdditionalChargeLine(tender.Id, service!, tender.AdditionalCharge!.Value));
        }

        RepostSale(before, Price(), now);
    }

    /// <summary>
    /// A package tender given back (refunded whole: its sessions return to the package) no longer owes the additional
    /// charge it added: what is still due of that line is cancelled like the rest of a voided sale (reversed out of
    /// revenue and receivable, listed as a cancellation). Whatever of it was already paid stays paid: the desk refunds
    /// that tender if it should go back too.
    /// </summary>
    public void CancelAdditionalCharge(TenderRefund refund, DateTimeOffset now)
    {
        var tender = S.Tenders.First(t => t.Id == refund.TenderId);
        if (tender.Kind != TenderKind.Package || tender.AdditionalCharge is not { IsPositive: true })
        {
            return;
        }

        var priced = Price();
        var lineId = PackageTenderRules.AdditionalChargeLineId(tender.Id);
        // A package tender is refunded whole, once (TenderRules), so this runs once per tender.
        if (priced.Lines.FirstOrDefault(l => l.LineId == lineId) is not { } line)
        {
            return;
        }

        var amount = Money.Min(line.Charged, Totals(priced).BalanceDue);
        if (!amount.IsPositive)
        {
            return;
        }

        var reason = $"{line.Line.Description} cancelled: the package session was given back";
        var entry = CheckoutLedger.WriteOff($"{invoiceId:N}:additional-charge-cancelled:{tender.Id:N}", S.Number!, priced, SaleReversed(), amount,
            JournalEntryKind.Void, reason);
        outbox.Add(entry.Value("The additional charge's cancellation"), now);
        S.WriteOffs.Add(new InvoiceWriteOff(Guid.NewGuid(), amount, reason, Guid.Empty, now, Cancellation: true));
    }

    /// <summary>Card reservations of an undone payment that were authorised and then released: the patient saw a
    /// hold that went away; the payments list shows it so the desk can explain it.</summary>
    public void RecordReleasedAuthorizations(PendingPayment payment, DateTimeOffset now)
    {
        foreach (var t in payment.Tenders.Where(t => t.Phase == TenderPhase.Released && t.Tender.Card is not null))
        {
            outbox.AddCard($"{invoiceId:N}:authorization:{t.Tender.Card!.PaymentId}", "authorization", "released", t.Tender, t.Tender.Card,
                t.Tender.Amount, null, now);
        }
    }

    /// <summary>A refund made: it reverses its share of the sale (or, lowering a tip, returns the overpayment after the
    /// sale was reposted with the new tip) and, for a card, is a refund on the payments list.</summary>
    public void RecordRefund(TenderRefund refund, TipAdjustmentCommand? tipAdjustment, DateTimeOffset now)
    {
        var operation = $"{invoiceId:N}:refund:{refund.Id:N}";
        var tender = S.Tenders.First(t => t.Id == refund.TenderId);
        if (tipAdjustment is not null)
        {
            // A lowered tip: the sale is reposted with it (receivable goes below zero by the difference), and the
            // difference goes back on the card, which brings receivable back to zero.
            ApplyTip(tipAdjustment, now);
            outbox.Add(CheckoutLedger.TipRefund(operation, S.Number!, tender, refund.Amount, refund.Reason).Value("The tip refund"), now);
        }
        else
        {
            outbox.Add(RefundEntry(refund).Value("The refund"), now);
        }

        S.Refunds.Add(refund);
        foreach (var package in (refund.Packages ?? []).Where(p => !p.KeepOpen))
        {
            // Closed after the commit (InvoicePackages), with an operation id of this refund: delivered once.
            S.PackagesToClose.Add(new PackageClosingIntent(package.PurchaseId, new GrainInterfaces.Packages.PackageClosing(
                $"invoice:{invoiceId:N}:refund:{refund.Id:N}", GrainInterfaces.Packages.PackageClosingKind.Refunded, Guid.Empty,
                $"invoice {S.Number} refunded", now)));
        }

        foreach (var giftCard in refund.GiftCards ?? [])
        {
            // Its hold is committed after the commit (InvoiceGiftCards): the value leaves the card once.
            S.GiftCardsToRefund.Add(new GiftCardRefundIntent(giftCard.CardId, $"invoice:{invoiceId:N}:refund:{refund.Id:N}"));
        }

        if (tender.Card is { } card && !refund.ToWallet)
        {
            outbox.AddCard(operation, "refund", "succeeded", tender, card, refund.Amount, refund.GatewayRefundId, now);
        }
    }

    /// <summary>The ledger's own check of a refund (it never reverses more than the sale).</summary>
    public Refusal? CheckRefundEntry(TenderRefund refund) => RefundEntry(refund).Refusal;

    /// <summary>Voids an opened invoice nothing of which is held: never paid, the sale is reversed exactly; every
    /// payment refunded, the rest of the sale is cancelled, which takes the balance out of receivable.</summary>
    public void Void(PricedInvoice priced, InvoiceTotals totals, string? reason, DateTimeOffset now)
    {
        if (!totals.Paid.IsPositive && !totals.WrittenOff.IsPositive)
        {
            outbox.Add(CheckoutLedger.Void($"{invoiceId:N}:void", S.Number!, priced), now);
        }
        else if (totals.BalanceDue.IsPositive)
        {
            var cancellation = new InvoiceWriteOff(Guid.NewGuid(), totals.BalanceDue, reason, Guid.Empty, now, Cancellation: true);
            var entry = CheckoutLedger.WriteOff($"{invoiceId:N}:void", S.Number!, priced, SaleReversed(), cancellation.Amount,
                JournalEntryKind.Void, reason is null ? "void after refunds" : $"void after refunds: {reason}");
            outbox.Add(entry.Value("The void's cancellation"), now);
            S.WriteOffs.Add(cancellation);
        }

        S.Lifecycle = InvoiceLifecycle.Voided;
    }

    /// <summary>Closes the balance due without payment: the rest of the sale reversed, the reason in the memo.</summary>
    /// <param name="packageOverdrawn">What the packages this invoice sold on a plan no longer hold of the write-off's
    /// share (<see cref="InvoicePackages.HoldForWriteOffAsync"/>).</param>
    public void WriteOff(PricedInvoice priced, InvoiceTotals totals, WriteOffCommand command, DateTimeOffset now,
        IReadOnlyList<(Money Amount, string IncomeCategory)>? packageOverdrawn = null)
    {
        var writeOff = new InvoiceWriteOff(Guid.NewGuid(), totals.BalanceDue, command.Reason.Trim(), command.By, now, Cancellation: false);
        var entry = CheckoutLedger.WriteOff($"{invoiceId:N}:write-off:{writeOff.Id:N}", S.Number!, priced, SaleReversed(), writeOff.Amount,
            JournalEntryKind.WriteOff, $"written off by user {command.By:D} ({command.Role}): {writeOff.Reason}", packageOverdrawn);
        outbox.Add(entry.Value("The write-off"), now);
        S.WriteOffs.Add(writeOff);
    }

    private (JournalEntry? Entry, Refusal? Refusal) RefundEntry(TenderRefund refund)
    {
        var tender = S.Tenders.First(t => t.Id == refund.TenderId);
        return CheckoutLedger.Refund($"{invoiceId:N}:refund:{refund.Id:N}", S.Number!, Price(), tender, SaleReversed(), refund.Amount,
            refund.Packages?.Select(p => (p.Forfeited, p.IncomeCategory)).ToArray(), refund.ToWallet);
    }

    /// <summary>How much of the sale refunds and write-offs have reversed so far (tip-adjustment refunds reverse
    /// nothing: the sale was reposted instead).</summary>
    public Money SaleReversed() =>
        Money.Sum(S.Refunds.Where(r => !r.TipAdjustment).Select(r => r.Amount), S.Currency)
        + Money.Sum(S.WriteOffs.Select(w => w.Amount), S.Currency);

    private string SaleOperation(int revision) => $"{invoiceId:N}:sale:{revision}";
}
