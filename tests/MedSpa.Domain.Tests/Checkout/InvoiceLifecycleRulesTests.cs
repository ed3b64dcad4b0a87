using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Domain.Checkout;
using MedSpa.Grains.Domain.Ledger;
using static MedSpa.Domain.Tests.Checkout.CheckoutFixtures;

namespace MedSpa.Domain.Tests.Checkout;

/// <summary>The invoice lifecycle (grains/Domain/Checkout/README.md) as pure rules, and its ledger postings.</summary>
public class InvoiceLifecycleRulesTests
{
    private static Money M(long cents) => Usd(cents);

    private static readonly DateOnly Today = new(2026, 12, 6);

    private static PricedInvoice Hundred(TipRequest? tip = null) =>
        InvoicePricer.Price(new InvoiceDraft(UsdCode, [Service(10000, ProviderA, taxCategory: TaxCategories.Standard)], Tip: tip,
            TipSplit: tip is null ? null : TipSplit.To(ProviderA)), SingleRate8875).Ok();

    private static InvoiceTotals Totals(PricedInvoice invoice, IReadOnlyList<Tender> tenders, IReadOnlyList<TenderRefund>? refunds = null,
        IReadOnlyList<InvoiceWriteOff>? writeOffs = null, InvoiceLifecycle lifecycle = InvoiceLifecycle.Opened) =>
        InvoiceTotalsCalculator.Compute(invoice, lifecycle, tenders, refunds ?? [], writeOffs ?? []);

    private static InvoiceWriteOff WriteOff(long cents, bool cancellation = false) =>
        new(Guid.NewGuid(), M(cents), "reason", Guid.NewGuid(), DateTimeOffset.UnixEpoch, cancellation);

    [Fact]
    public void A_draft_owes_nothing_and_is_not_closed()
    {
        var t = Totals(Hundred(), [], lifecycle: InvoiceLifecycle.Draft);
        Assert.Equal((InvoiceStatus.Draft, M(0)), (t.Status, t.BalanceDue));
        Assert.False(InvoiceLifecycleRules.IsClosed(t));
    }

    [Fact]
    public void Refunding_a_partial_payment_reopens_the_balance_and_every_way_out_closes_it()
    {
        var invoice = Hundred();
        var total = invoice.Total;
        var cash = new Tender(Guid.NewGuid(), TenderKind.Cash, M(4000));
        var back = new TenderRefund(Guid.NewGuid(), cash.Id, M(4000));
        var after = Totals(invoice, [cash], [back]);
        Assert.Equal((InvoiceStatus.Open, total - M(4000)), (after.Status, after.BalanceDue));

        // 1. Pay the rest.
        var rest = new Tender(Guid.NewGuid(), TenderKind.Cash, total - M(4000));
        Assert.Null(TenderRules.ValidatePayment(after, [rest]));
        var paid = Totals(invoice, [cash, rest], [back]);
        Assert.Equal((InvoiceStatus.Paid, M(0)), (paid.Status, paid.BalanceDue));
        Assert.True(InvoiceLifecycleRules.IsClosed(paid));

        // 2. Void (cancel the rest): allowed because nothing is held.
        Assert.Null(InvoiceLifecycleRules.CheckVoid(after));
        var voided = Totals(invoice, [cash], [back], [WriteOff((total - M(4000)).Amount, cancellation: true)], InvoiceLifecycle.Voided);
        Assert.Equal((InvoiceStatus.Void, M(0)), (voided.Status, voided.BalanceDue));

        // 3. Write it off (owner/admin): closed, and — nothing held, a refund made — "refunded".
        Assert.Null(InvoiceLifecycleRules.CheckWriteOff(after, "owner", "patient moved away"));
        var written = Totals(invoice, [cash], [back], [WriteOff((total - M(4000)).Amount)]);
        Assert.Equal((InvoiceStatus.Refunded, M(0)), (written.Status, written.BalanceDue));
        Assert.True(InvoiceLifecycleRules.IsClosed(written));
    }

    [Theory]
    [InlineData("owner", "bad debt", null)]
    [InlineData("admin", "bad debt", null)]
    [InlineData("front-desk", "bad debt", "forbidden")]
    [InlineData("provider", "bad debt", "forbidden")]
    [InlineData(null, "bad debt", "forbidden")]
    [InlineData("owner", "  ", "validation_failed")]
    public void Only_owner_or_admin_writes_off_and_always_with_a_reason(string? role, string reason, string? refusal)
    {
        var open = Totals(Hundred(), [new Tender(Guid.NewGuid(), TenderKind.Cash, M(1000))]);
        if (refusal is null)
        {
            Assert.Null(InvoiceLifecycleRules.CheckWriteOff(open, role, reason));
        }
        else
        {
            Assert.Equal(refusal, InvoiceLifecycleRules.CheckWriteOff(open, role, reason)?.Code);
        }
    }

    [Fact]
    public void Nothing_due_nothing_to_write_off_and_a_held_payment_blocks_void()
    {
        var invoice = Hundred();
        var full = new Tender(Guid.NewGuid(), TenderKind.Credit, invoice.Total);
        var paid = Totals(invoice, [full]);
        Assert.Equal("conflict", InvoiceLifecycleRules.CheckWriteOff(paid, "owner", "x")?.Code);
        Assert.Equal("conflict", InvoiceLifecycleRules.CheckVoid(paid)?.Code);
        var draft = Totals(invoice, [], lifecycle: InvoiceLifecycle.Draft);
        Assert.Equal("conflict", InvoiceLifecycleRules.CheckWriteOff(draft, "owner", "x")?.Code);
        Assert.Null(InvoiceLifecycleRules.CheckVoid(draft));
        // Fully refunded and closed: nothing left to void.
        var refunded = Totals(invoice, [full], [new TenderRefund(Guid.NewGuid(), full.Id, invoice.Total)]);
        Assert.Equal(InvoiceStatus.Refunded, refunded.Status);
        Assert.NotNull(InvoiceLifecycleRules.CheckVoid(refunded));
    }

    [Fact]
    public void An_opened_invoice_keeps_a_line_and_is_edited_only_while_untouched()
    {
        Assert.Null(InvoiceLifecycleRules.CheckKeepsALine(InvoiceLifecycle.Draft, 0));
        Assert.Null(InvoiceLifecycleRules.CheckKeepsALine(InvoiceLifecycle.Opened, 1));
        Assert.Equal("conflict", InvoiceLifecycleRules.CheckKeepsALine(InvoiceLifecycle.Opened, 0)?.Code);

        var invoice = Hundred();
        Assert.Null(InvoiceLifecycleRules.CheckEdit(Totals(invoice, [])));
        var cash = new Tender(Guid.NewGuid(), TenderKind.Cash, M(1000));
        Assert.NotNull(InvoiceLifecycleRules.CheckEdit(Totals(invoice, [cash])));
        // Even with the payment refunded, the sale was partly reversed: no more editing.
        Assert.NotNull(InvoiceLifecycleRules.CheckEdit(Totals(invoice, [cash], [new TenderRefund(Guid.NewGuid(), cash.Id, M(1000))])));
        Assert.NotNull(InvoiceLifecycleRules.CheckEdit(Totals(invoice, [], lifecycle: InvoiceLifecycle.Voided)));
    }

    [Fact]
    public void A_tip_is_adjusted_the_same_business_day_on_a_card_of_a_paid_invoice()
    {
        var invoice = Hundred(TipRequest.OfAmount(M(1500)));
        var card = new Tender(Guid.NewGuid(), TenderKind.Credit, invoice.Total, Card: new TenderCardPayment("sandbox", "pi_1", "pm_1", null));
        var paid = Totals(invoice, [card]);
        Assert.Equal((M(500), (Refusal?)null), InvoiceLifecycleRules.PlanTipAdjustment(paid, M(2000), card, M(0), Today, Today));
        Assert.Equal((M(-1500), (Refusal?)null), InvoiceLifecycleRules.PlanTipAdjustment(paid, M(0), card, M(0), Today, Today));

        Assert.Equal("conflict", InvoiceLifecycleRules.PlanTipAdjustment(paid, M(2000), card, M(0), Today.AddDays(-1), Today).Refusal?.Code);
        var cash = new Tender(Guid.NewGuid(), TenderKind.Cash, invoice.Total);
        Assert.Equal("tenderId", InvoiceLifecycleRules.PlanTipAdjustment(Totals(invoice, [cash]), M(2000), cash, M(0), Today, Today).Refusal?.Field);
        var partly = new Tender(Guid.NewGuid(), TenderKind.Credit, M(100), Card: card.Card);
        Assert.NotNull(InvoiceLifecycleRules.PlanTipAdjustment(Totals(invoice, [partly]), M(2000), partly, M(0), Today, Today).Refusal);
        var refunded = Totals(invoice, [card], [new TenderRefund(Guid.NewGuid(), card.Id, M(100))]);
        Assert.NotNull(InvoiceLifecycleRules.PlanTipAdjustment(refunded, M(2000), card, M(0), Today, Today).Refusal);
        Assert.NotNull(InvoiceLifecycleRules.PlanTipAdjustment(paid, M(-1), card, M(0), Today, Today).Refusal);
    }

    [Fact]
    public void Void_after_refunds_and_write_off_postings_balance_and_empty_receivable()
    {
        var invoice = Hundred(TipRequest.OfPercent(20m));
        var total = invoice.Total;
        var cash = new Tender(Guid.NewGuid(), TenderKind.Cash, M(4000));
        var entries = new List<JournalEntry>
        {
            CheckoutLedger.Sale("s", "INV", invoice)!,
            CheckoutLedger.Tender("t", "INV", cash),
            CheckoutLedger.Refund("r", "INV", invoice, cash, M(0), M(4000)).Ok(),
            CheckoutLedger.WriteOff("v", "INV", invoice, M(4000), total - M(4000), JournalEntryKind.Void, "void after refunds").Ok(),
        };
        var tb = TrialBalance.From(entries);
        Assert.True(tb.IsBalanced);
        // The whole sale is reversed to the cent: receivable, drawer, tax and tips are all zero; revenue nets out.
        Assert.Equal(0, tb.Balance(LedgerAccount.AccountsReceivable, UsdCode));
        Assert.Equal(0, tb.Balance(LedgerAccount.CashDrawer, UsdCode));
        Assert.Equal(0, tb.NormalBalance(AccountKind.TaxPayable, UsdCode));
        Assert.Equal(0, tb.NormalBalance(AccountKind.TipsPayable, UsdCode));
        Assert.Equal(0, tb.NormalBalance(AccountKind.Revenue, UsdCode) - tb.NormalBalance(AccountKind.Discounts, UsdCode)
                        - tb.NormalBalance(AccountKind.Refunds, UsdCode) - tb.NormalBalance(AccountKind.WriteOffs, UsdCode));
        Assert.Equal("void after refunds", entries[3].Memo);
        CheckoutLedger.WriteOff("x", "INV", invoice, M(4000), total - M(3999), JournalEntryKind.WriteOff, null).Refused();
    }

    /// <summary>
    /// Random invoices through random lifecycles: partial payments, refunds of partial payments, write-offs, tip
    /// adjustments (raise: sale reposted + a card tender; lower: sale reposted + a tip refund), then closed one of
    /// the ways the README lists. After every step each entry balances and receivable equals the balance due; at the
    /// end the invoice is closed, receivable is zero, and money kept (tenders − refunds) equals what the sale still
    /// owes (total − sales refunds − write-offs): nothing lost, nothing created.
    /// </summary>
    [Fact]
    public void Random_lifecycles_keep_receivable_equal_to_balance_due_and_every_invoice_closes()
    {
        var random = new Random(20261206);
        var closedBy = new Dictionary<string, int>();
        var exercised = new Dictionary<string, int>();
        for (var n = 0; n < 1000; n++)
        {
            var tip = random.Next(3) == 0 ? null : TipRequest.OfAmount(M(random.Next(0, 5000)));
            var lines = Enumerable.Range(0, random.Next(1, 4)).Select(_ => random.Next(3) switch
            {
                0 => Line(InvoiceLineKind.RetailProduct, random.Next(1, 20_000), taxCategory: TaxCategories.Standard, incomeCategory: "retail"),
                1 => Line(InvoiceLineKind.GiftCardSale, random.Next(1, 20) * 2500, taxCategory: TaxCategories.Exempt),
                _ => Service(random.Next(1, 60_000), ProviderA, taxCategory: TaxCategories.Standard),
            }).ToList();
            var draft = new InvoiceDraft(UsdCode, lines, Tip: tip, TipSplit: tip is null ? null : TipSplit.To(ProviderB));
            var invoice = InvoicePricer.Price(draft, NycRates).Ok();
            var saleRevision = 1;
            var entries = new List<JournalEntry> { CheckoutLedger.Sale("sale:1", "INV", invoice)! };
            var tenders = new List<Tender>();
            var refunds = new List<TenderRefund>();
            var writeOffs = new List<InvoiceWriteOff>();
            InvoiceTotals Now() => Totals(invoice, tenders, refunds, writeOffs);
            Money SaleReversed() =>
                Money.Sum(refunds.Where(r => !r.TipAdjustment).Select(r => r.Amount), UsdCode) + Money.Sum(writeOffs.Select(w => w.Amount), UsdCode);
            void Check()
            {
                var tb = TrialBalance.From(entries);
                Assert.True(tb.IsBalanced);
                Assert.Equal(Now().BalanceDue.Amount, tb.Balance(LedgerAccount.AccountsReceivable, UsdCode));
            }

            for (var step = 0; step < random.Next(1, 10); step++)
            {
                var t = Now();
                var op = $"{n}:{step}";
                switch (random.Next(5))
                {
                    case 0 or 1 when t.BalanceDue.IsPositive: // a partial (or full) payment
                    {
                        var card = random.Next(2) == 0;
                        var tender = new Tender(
                            Guid.NewGuid(), card ? TenderKind.Credit : TenderKind.Cash,
                            random.Next(2) == 0 ? t.BalanceDue : M(random.NextInt64(1, t.BalanceDue.Amount + 1)),
                            Card: card ? new TenderCardPayment("sandbox", "pi_" + op, "pm", null) : null);
                        Assert.Null(TenderRules.ValidatePayment(t, [tender]));
                        tenders.Add(tender);
                        entries.Add(CheckoutLedger.Tender("tender:" + op, "INV", tender));
                        break;
                    }

                    case 2: // a refund of (part of) some tender
                    {
                        var candidates = tenders.Select(
                            x => (Tender: x, Left: x.Amount - Money.Sum(refunds.Where(r => r.TenderId == x.Id).Select(r => r.Amount), UsdCode)))
                            .Where(x => x.Left.IsPositive).ToList();
                        if (candidates.Count == 0)
                        {
                            break;
                        }

                        var (tender, left) = candidates[random.Next(candidates.Count)];
                        var refund = new TenderRefund(Guid.NewGuid(), tender.Id, M(random.NextInt64(1, left.Amount + 1)));
                        Assert.Null(TenderRules.ValidateRefund(tender, refunds, refund));
                        entries.Add(CheckoutLedger.Refund("refund:" + op, "INV", invoice, tender, SaleReversed(), refund.Amount).Ok());
                        refunds.Add(refund);
                        exercised[t.BalanceDue.IsPositive ? "refund-of-partial-payment" : "refund"] =
                            exercised.GetValueOrDefault(t.BalanceDue.IsPositive ? "refund-of-partial-payment" : "refund") + 1;
                        break;
                    }

                    case 3 when t.BalanceDue.IsPositive && random.Next(3) == 0: // a write-off of the rest
                    {
                        Assert.Null(InvoiceLifecycleRules.CheckWriteOff(t, "admin", "uncollectable"));
                        var w = WriteOff(t.BalanceDue.Amount);
                        entries.Add(
                            CheckoutLedger.WriteOff(
                                "write-off:" + op, "INV", invoice, SaleReversed(), w.Amount, JournalEntryKind.WriteOff, w.Reason).Ok());
                        writeOffs.Add(w);
                        break;
                    }

                    case 4 when tip is not null && t.Status == InvoiceStatus.Paid && (t.Refunded - t.TipRefunded).IsZero && !t.WrittenOff.IsPositive
                                && tenders.LastOrDefault(x => x.Kind == TenderKind.Credit) is { } cardTender:
                    {
                        var newTip = M(random.Next(0, 6000));
                        var backAlready = Money.Sum(refunds.Where(r => r.TenderId == cardTender.Id).Select(r => r.Amount), UsdCode);
                        var (difference, refused) = InvoiceLifecycleRules.PlanTipAdjustment(t, newTip, cardTender, backAlready, Today, Today);
                        if (refused is not null)
                        {
                            break; // lowering by more than the card paid: refused, nothing changes
                        }

                        var after = InvoicePricer.Price(draft with { Tip = TipRequest.OfAmount(newTip) }, NycRates).Ok();
                        entries.Add(CheckoutLedger.Sale($"sale:{saleRevision}", "INV", invoice)!.Reverse($"sale-reversal:{saleRevision}"));
                        saleRevision++;
                        entries.Add(CheckoutLedger.Sale($"sale:{saleRevision}", "INV", after)!);
                        invoice = after;
                        draft = draft with { Tip = TipRequest.OfAmount(newTip) };
                        if (difference.IsPositive)
                        {
                            var extra = new Tender(Guid.NewGuid(), TenderKind.Credit, difference, Card: cardTender.Card);
                            tenders.Add(extra);
                            entries.Add(CheckoutLedger.Tender("tip-charge:" + op, "INV", extra));
                        }
                        else if (difference.IsNegative)
                        {
                            var back = new TenderRefund(Guid.NewGuid(), cardTender.Id, -difference, TipAdjustment: true);
                            Assert.Null(TenderRules.ValidateRefund(cardTender, refunds, back));
                            refunds.Add(back);
                            entries.Add(CheckoutLedger.TipRefund("tip-refund:" + op, "INV", cardTender, back.Amount, null).Ok());
                        }

                        Assert.Equal(InvoiceStatus.Paid, Now().Status);
                        exercised[difference.IsPositive ? "tip-raised" : difference.IsNegative ? "tip-lowered" : "tip-same"] =
                            exercised.GetValueOrDefault(
                                difference.IsPositive ? "tip-raised" : difference.IsNegative ? "tip-lowered" : "tip-same") + 1;
                        break;
                    }
                }

                Check();
            }

            // Close it: pay the rest, void (when nothing is held) or write it off.
            var end = Now();
            string how;
            if (!end.BalanceDue.IsPositive)
            {
                how = "already-closed";
            }
            else if (InvoiceLifecycleRules.Held(end).IsZero && random.Next(2) == 0)
            {
                Assert.Null(InvoiceLifecycleRules.CheckVoid(end));
                var w = WriteOff(end.BalanceDue.Amount, cancellation: true);
                entries.Add(end.Paid.IsPositive
                    ? CheckoutLedger.WriteOff("void", "INV", invoice, SaleReversed(), w.Amount, JournalEntryKind.Void, null).Ok()
                    : CheckoutLedger.Void("void", "INV", invoice)!);
                writeOffs.Add(w);
                how = "void";
            }
            else if (random.Next(2) == 0)
            {
                var rest = new Tender(Guid.NewGuid(), TenderKind.Cash, end.BalanceDue);
                Assert.Null(TenderRules.ValidatePayment(end, [rest]));
                tenders.Add(rest);
                entries.Add(CheckoutLedger.Tender("rest", "INV", rest));
                how = "paid-the-rest";
            }
            else
            {
                Assert.Null(InvoiceLifecycleRules.CheckWriteOff(end, "owner", "closing"));
                var w = WriteOff(end.BalanceDue.Amount);
                entries.Add(CheckoutLedger.WriteOff("write-off", "INV", invoice, SaleReversed(), w.Amount, JournalEntryKind.WriteOff, null).Ok());
                writeOffs.Add(w);
                how = "written-off";
            }

            closedBy[how] = closedBy.GetValueOrDefault(how) + 1;
            var closed = Now();
            Assert.True(closed.BalanceDue.IsZero);
            Assert.NotEqual(InvoiceStatus.Open, closed.Status);
            Assert.NotEqual(InvoiceStatus.PartiallyPaid, closed.Status);
            var ledger = TrialBalance.From(entries);
            Assert.True(ledger.IsBalanced);
            Assert.Equal(0, ledger.Balance(LedgerAccount.AccountsReceivable, UsdCode));
            // Money kept on the tender accounts = what the sale still owes on the credit side.
            var kept = ledger.Balance(LedgerAccount.CashDrawer, UsdCode) + ledger.Balance(LedgerAccount.CardClearing, UsdCode);
            Assert.Equal((closed.Paid - closed.Refunded).Amount, kept);
            var owed = ledger.NormalBalance(AccountKind.Revenue, UsdCode) - ledger.NormalBalance(AccountKind.Discounts, UsdCode)
                       - ledger.NormalBalance(AccountKind.Refunds, UsdCode) - ledger.NormalBalance(AccountKind.WriteOffs, UsdCode)
                       + ledger.NormalBalance(AccountKind.TaxPayable, UsdCode) + ledger.NormalBalance(AccountKind.TipsPayable, UsdCode)
                       + ledger.NormalBalance(AccountKind.GiftCardLiability, UsdCode);
            Assert.Equal(kept, owed);
        }

        var summary = string.Join(", ", closedBy) + " | " + string.Join(", ", exercised);
        Assert.True(closedBy.Count == 4 && closedBy.Values.All(v => v > 10), summary);
        Assert.True(exercised.GetValueOrDefault("tip-raised") > 10 && exercised.GetValueOrDefault("tip-lowered") > 10
                    && exercised.GetValueOrDefault("refund-of-partial-payment") > 10, summary);
    }
}
