using System.Numerics;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Domain.Checkout;
using MedSpa.Grains.Domain.Ledger;
using static MedSpa.Domain.Tests.Checkout.CheckoutFixtures;

namespace MedSpa.Domain.Tests.Checkout;

/// <summary>
/// 1,000 random invoices (random lines, discounts, promo, clinic tax rates, inclusive/exclusive, tips and splits),
/// finalised, paid with random split tenders, partly refunded in random pieces or voided. No cent may be created or
/// lost: every entry balances and the trial balance, per invoice and overall, equals what the invoices say.
/// Fixed seed, so a failure reproduces.
/// </summary>
public class CheckoutPropertyTests
{
    private const int Invoices = 1000;

    private static readonly TaxRate[][] ClinicRateSets =
    [
        [],
        SingleRate8875,
        NycRates,
        [
            new("state", "State", 7.25m, [TaxCategories.Standard, TaxCategories.Medical]),
            new("county", "County", 1.5m, [TaxCategories.Standard]),
            new("zero", "Zero", 0m, [TaxCategories.ZeroRated]),
        ],
        [new("vat", "VAT", 20m, [TaxCategories.Standard]), new("odd", "Odd", 0.001m, [TaxCategories.Standard])],
    ];

    private static readonly string[] TaxCategoryPool = [TaxCategories.Standard, TaxCategories.Medical, TaxCategories.ZeroRated, TaxCategories.Exempt];
    private static readonly string[] IncomeCategories = ["services", "injectables", "retail", "memberships"];
    private static readonly Guid[] Providers = [ProviderA, ProviderB, ProviderC];
    private static readonly TenderKind[] TenderKinds = Enum.GetValues<TenderKind>();

    private sealed class InjectablePromo : IPromoCodeRule
    {
        public PromoApplication? Apply(string code, IReadOnlyList<PromoLineView> lines) =>
            code == "TOX"
                ? new PromoApplication(
                    code, Discount.OfPercent(15m),
                    lines.Where(l => l.Kind is InvoiceLineKind.Injectable or InvoiceLineKind.Filler).Select(l => l.LineId).ToHashSet())
                : code == "FIVE" ? new PromoApplication(code, Discount.OfAmount(Usd(500))) : null;
    }

    private sealed record Outcome(
        PricedInvoice Invoice,
        bool Voided,
        List<Tender> Tenders,
        List<TenderRefund> Refunds,
        List<JournalEntry> Entries);

    [Fact]
    public void No_cent_is_created_or_lost_across_1000_random_invoices()
    {
        var random = new Random(20261124);
        var outcomes = new List<Outcome>();
        for (var n = 0; n < Invoices; n++)
        {
            outcomes.Add(Simulate(random, n));
        }

        var all = outcomes.SelectMany(o => o.Entries).ToArray();
        Assert.True(all.Length > 2000, $"only {all.Length} entries: the generator is too tame");
        Assert.Contains(outcomes, o => o.Voided);
        Assert.Contains(outcomes, o => o.Refunds.Count > 1);
        Assert.Contains(outcomes, o => o.Tenders.Any(t => t.IsHsaFsa));
        Assert.Contains(outcomes, o => o.Invoice.TaxIncluded.IsPositive && o.Invoice.TaxAdded.IsPositive);

        // Every entry balances, recomputed here from its postings (not trusting the constructor).
        foreach (var entry in all)
        {
            var debits = entry.Postings.Where(p => p.Side == PostingSide.Debit).Sum(p => p.Amount.Amount);
            var credits = entry.Postings.Where(p => p.Side == PostingSide.Credit).Sum(p => p.Amount.Amount);
            Assert.Equal(debits, credits);
            Assert.All(entry.Postings, p => Assert.True(p.Amount.IsPositive));
        }

        Assert.Equal(all.Length, all.Select(e => e.OperationId).Distinct().Count());

        foreach (var o in outcomes)
        {
            AssertInvoiceLedgerMatchesFigures(o);
        }

        // The whole ledger against the sum of the invoices.
        var tb = TrialBalance.From(all);
        Assert.True(tb.IsBalanced);
        var live = outcomes.Where(o => !o.Voided).ToArray();
        long Applied(Outcome o, Func<TenderKind, bool> which) => o.Tenders.Where(t => which(t.Kind)).Sum(t => t.Amount.Amount);
        long Returned(Outcome o, Func<TenderKind, bool> which) =>
            o.Refunds.Where(r => which(o.Tenders.Single(t => t.Id == r.TenderId).Kind)).Sum(r => r.Amount.Amount);
        static bool DrawsLiability(TenderKind k) => !CheckoutLedger.TenderAccount(k).IsDebitNormal;

        Assert.Equal(
            live.Sum(o => o.Invoice.Total.Amount - o.Tenders.Sum(t => t.Amount.Amount)), tb.Balance(LedgerAccount.AccountsReceivable, UsdCode));
        Assert.Equal(
            outcomes.Sum(o => Applied(o, k => k == TenderKind.Cash) - Returned(o, k => k == TenderKind.Cash)),
            tb.Balance(LedgerAccount.CashDrawer, UsdCode));
        // Everything the clinic owes or earned (revenue net of contra, tax, tips, prepaid liabilities) equals what was
        // sold and not refunded, less the prepaid value patients spent.
        var salesSide = new[]
        {
            AccountKind.Revenue, AccountKind.TaxPayable, AccountKind.TipsPayable, AccountKind.GiftCardLiability,
            AccountKind.PackageLiability, AccountKind.MembershipLiability, AccountKind.PatientWallet,
        }.Sum(k => tb.NormalBalance(k, UsdCode)) - tb.NormalBalance(AccountKind.Discounts, UsdCode) - tb.NormalBalance(AccountKind.Refunds, UsdCode);
        Assert.Equal(
            live.Sum(o => o.Invoice.Total.Amount - o.Refunds.Sum(r => r.Amount.Amount))
            - outcomes.Sum(o => Applied(o, DrawsLiability) - Returned(o, DrawsLiability)),
            salesSide);
    }

    private static void AssertInvoiceLedgerMatchesFigures(Outcome o)
    {
        var inv = o.Invoice;
        var tb = TrialBalance.From(o.Entries);
        Assert.True(tb.IsBalanced);

        // The invoice's own identities.
        Assert.Equal(inv.Total, inv.NetSales + inv.Tax + inv.Tip);
        Assert.Equal(inv.Subtotal - inv.Discounts, inv.NetSales + inv.TaxIncluded);
        Assert.Equal(inv.Tip, Money.Sum(inv.TipAllocations.Select(a => a.Amount), UsdCode));
        Assert.All(inv.Lines, l =>
        {
            Assert.False(l.Net.IsNegative);
            Assert.Equal(l.Gross - l.Discounts, l.Net);
            Assert.Equal(l.Charged, l.NetExcludingTax + l.Tax);
            Assert.Equal(l.Tax, Money.Sum(l.Taxes.Select(t => t.Amount), UsdCode));
        });

        if (o.Voided)
        {
            Assert.All(tb.Lines, l => Assert.Equal(0, l.Balance));
            return;
        }

        var paid = o.Tenders.Sum(t => t.Amount.Amount);
        var refunded = o.Refunds.Sum(r => r.Amount.Amount);
        var total = inv.Total.Amount;
        Assert.Equal(total - paid, tb.Balance(LedgerAccount.AccountsReceivable, UsdCode));
        var totals = InvoiceTotalsCalculator.Compute(inv, InvoiceLifecycle.Opened, o.Tenders, o.Refunds);
        Assert.Equal(totals.Status is InvoiceStatus.Paid or InvoiceStatus.Refunded ? 0 : total - paid, totals.BalanceDue.Amount);

        // Revenue and discounts are never touched by refunds: exact.
        foreach (var group in inv.Lines.Where(l => CheckoutLedger.IsRevenue(l.Line)).GroupBy(l => l.Line.IncomeCategory))
        {
            Assert.Equal(group.Sum(l => l.NetExcludingTax.Amount + l.Discounts.Amount), tb.NormalBalance(LedgerAccount.Revenue(group.Key), UsdCode));
            Assert.Equal(group.Sum(l => l.Discounts.Amount), tb.NormalBalance(LedgerAccount.Discounts(group.Key), UsdCode));
        }

        // Each refunded component is within one cent of its exact share R/T of the sale, and exact at 0 and at T.
        var tenderAccountNet = o.Tenders.GroupBy(t => CheckoutLedger.TenderAccount(t.Kind)).ToDictionary(
            g => g.Key,
            g => g.Sum(t => t.Amount.Amount) - o.Refunds.Where(r => g.Any(t => t.Id == r.TenderId)).Sum(r => r.Amount.Amount));
        foreach (var (account, weight) in CheckoutLedger.RefundComponents(inv))
        {
            var w = weight.Amount;
            long share; // the part of this component refunded so far
            if (account.Kind == AccountKind.Refunds)
            {
                share = tb.NormalBalance(account, UsdCode);
            }
            else
            {
                // Liability credited by the sale, debited by refunds (and by tenders that draw on it).
                var drawn = tenderAccountNet.GetValueOrDefault(account);
                share = w - drawn - tb.NormalBalance(account, UsdCode);
            }

            if (refunded == 0)
            {
                Assert.Equal(0, share);
            }
            else if (refunded == total)
            {
                Assert.Equal(w, share);
            }
            else
            {
                var deviation = (BigInteger)share * total - (BigInteger)w * refunded;
                Assert.True(BigInteger.Abs(deviation) < total, $"{account}: {share} of {w} for {refunded}/{total}");
            }
        }

        // Non-liability tender accounts hold exactly what was applied less what went back.
        foreach (var (account, net) in tenderAccountNet.Where(kv => kv.Key.IsDebitNormal))
        {
            Assert.Equal(net, tb.Balance(account, UsdCode));
        }
    }

    private static Outcome Simulate(Random random, int n)
    {
        var rates = ClinicRateSets[random.Next(ClinicRateSets.Length)];
        var lines = Enumerable.Range(0, random.Next(1, 7)).Select(_ => RandomLine(random)).ToList();
        var draft = new InvoiceDraft(UsdCode, lines,
            random.Next(4) == 0 ? RandomDiscount(random) : null,
            random.Next(6) switch { 0 => "TOX", 1 => "FIVE", 2 => "UNKNOWN", _ => null });
        var priced = InvoicePricer.Price(draft, rates, new InjectablePromo()).Ok();
        if (priced.Lines.Any(l => TipCalculator.CountsTowardTipBase(l.Kind)) && random.Next(3) > 0)
        {
            var tip = random.Next(3) switch
            {
                0 => TipRequest.OfPercent(TipCalculator.PresetPercents[random.Next(4)]),
                1 => TipRequest.OfAmount(Usd(random.Next(0, 5000))),
                _ => TipRequest.OfPercent(random.Next(0, 3001) / 100m),
            };
            var split = random.Next(4) switch
            {
                0 => TipSplit.ByServiceRevenue(),
                1 => TipSplit.Equally(Providers.Take(random.Next(1, 4)).ToArray()),
                2 => TipSplit.Custom(new TipShare(ProviderA, 12.5m), new TipShare(ProviderB, 33.33m), new TipShare(ProviderC, 54.17m)),
                _ => (TipSplit?)null,
            };
            priced = InvoicePricer.Price(draft with { Tip = tip, TipSplit = split }, rates, new InjectablePromo()).Ok();
        }

        var reference = InvoiceNumber.Format(2026, n + 1);
        var entries = new List<JournalEntry>();
        var sale = CheckoutLedger.Sale($"{reference}/sale", reference, priced);
        if (sale is not null)
        {
            entries.Add(sale);
        }

        var tenders = new List<Tender>();
        var refunds = new List<TenderRefund>();
        if (random.Next(10) == 0)
        {
            var voided = CheckoutLedger.Void($"{reference}/void", reference, priced);
            if (voided is not null)
            {
                entries.Add(voided);
            }

            Assert.Equal(InvoiceStatus.Void, InvoiceTotalsCalculator.Compute(priced, InvoiceLifecycle.Voided, tenders, refunds).Status);
            return new Outcome(priced, true, tenders, refunds, entries);
        }

        // Pay in one to three calls, each with one to three tenders; sometimes leave a balance.
        for (var call = 0; call < random.Next(1, 4); call++)
        {
            var totals = InvoiceTotalsCalculator.Compute(priced, InvoiceLifecycle.Opened, tenders, refunds);
            if (totals.Status is not (InvoiceStatus.Open or InvoiceStatus.PartiallyPaid) || totals.BalanceDue.IsZero)
            {
                break;
            }

            var batch = new List<Tender>();
            var due = totals.BalanceDue;
            var hsaRoom = totals.HsaFsaAvailable;
            for (var k = 0; k < random.Next(1, 4) && due.IsPositive; k++)
            {
                var kind = TenderKinds[random.Next(TenderKinds.Length)];
                var cap = kind is TenderKind.Hsa or TenderKind.Fsa ? Money.Min(due, hsaRoom) : due;
                if (!cap.IsPositive)
                {
                    continue;
                }

                var amount = random.Next(3) == 0 ? cap : Usd(random.NextInt64(1, cap.Amount + 1));
                var tender = kind == TenderKind.Cash
                    ? TenderRules.Cash(
                        Guid.NewGuid(), TenderRules.CashQuickAmounts(amount)[random.Next(TenderRules.CashQuickAmounts(amount).Count)], amount)
                        .Tender!
                    : new Tender(Guid.NewGuid(), kind, amount);
                batch.Add(tender);
                due -= tender.Amount;
                if (tender.IsHsaFsa)
                {
                    hsaRoom -= tender.Amount;
                }
            }

            if (batch.Count == 0)
            {
                continue;
            }

            Assert.Null(TenderRules.ValidatePayment(totals, batch)); // the generator only makes valid payments
            foreach (var t in batch)
            {
                tenders.Add(t);
                entries.Add(CheckoutLedger.Tender($"{reference}/tender/{t.Id:N}", reference, t));
            }
        }

        // Refund some tenders, in one or more pieces, sometimes entirely.
        foreach (var tender in tenders.Where(_ => random.Next(3) == 0).ToArray())
        {
            for (var piece = 0; piece < random.Next(1, 4); piece++)
            {
                var left = tender.Amount - Money.Sum(refunds.Where(r => r.TenderId == tender.Id).Select(r => r.Amount), UsdCode);
                if (!left.IsPositive)
                {
                    break;
                }

                var amount = random.Next(2) == 0 ? left : Usd(random.NextInt64(1, left.Amount + 1));
                var refund = new TenderRefund(Guid.NewGuid(), tender.Id, amount);
                Assert.Null(TenderRules.ValidateRefund(tender, refunds, refund));
                var before = Money.Sum(refunds.Select(r => r.Amount), UsdCode);
                entries.Add(CheckoutLedger.Refund($"{reference}/refund/{refund.Id:N}", reference, priced, tender, before, amount).Ok());
                refunds.Add(refund);
            }
        }

        return new Outcome(priced, false, tenders, refunds, entries);
    }

    private static InvoiceLine RandomLine(Random random)
    {
        var kind = (InvoiceLineKind)random.Next(8);
        long price = random.Next(5) switch
        {
            0 => random.Next(0, 11),          // pennies: the awkward rounding cases
            1 => random.Next(100, 2000),
            _ => random.Next(1000, 200_000),
        };
        decimal quantity = random.Next(1, 4);
        FillerDetails? filler = null;
        if (kind == InvoiceLineKind.Injectable)
        {
            quantity = random.Next(1, 400) / 8m; // 0.125 steps: 12.5, 20.375, ...
        }
        else if (kind == InvoiceLineKind.Filler)
        {
            var size = new[] { 0.5m, 1.0m, 1.5m }[random.Next(3)];
            var volume = random.Next(1, 40) / 10m;
            var syringes = LinePricing.BilledSyringes(new FillerDetails(volume, size)).Ok();
            var adjustment = new[] { -0.5m, 0m, 0m, 0.5m }[random.Next(4)];
            filler = new FillerDetails(volume, size, syringes + adjustment >= 0 ? adjustment : 0m);
            quantity = LinePricing.BilledSyringes(filler).Ok();
        }

        var discount = kind != InvoiceLineKind.GiftCardSale && random.Next(3) == 0 ? RandomDiscount(random) : null;
        var performed = TipCalculator.CountsTowardTipBase(kind);
        return new InvoiceLine(Guid.NewGuid(), kind, kind.ToString(), quantity, Usd(price),
            performed || random.Next(2) == 0 ? Providers[random.Next(Providers.Length)] : null,
            TaxCategoryPool[random.Next(TaxCategoryPool.Length)],
            IncomeCategories[random.Next(IncomeCategories.Length)],
            HsaFsaEligible: random.Next(3) == 0,
            PriceIncludesTax: random.Next(3) == 0,
            Discount: discount,
            Filler: filler);
    }

    private static Discount RandomDiscount(Random random) => random.Next(4) switch
    {
        0 => Discount.OfPercent(100m),
        1 => Discount.OfPercent(random.Next(0, 10001) / 100m),
        2 => Discount.OfAmount(Usd(random.Next(0, 300))),
        _ => Discount.OfAmount(Usd(random.Next(0, 300_000))),
    };
}
