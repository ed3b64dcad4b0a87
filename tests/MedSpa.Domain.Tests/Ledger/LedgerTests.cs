using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Domain.Checkout;
using MedSpa.Grains.Domain.Ledger;
using static MedSpa.Domain.Tests.Checkout.CheckoutFixtures;

namespace MedSpa.Domain.Tests.Ledger;

public class LedgerTests
{
    private static Money M(long cents) => Usd(cents);

    private static string Key(Posting p) => $"{(p.Side == PostingSide.Debit ? "Dr" : "Cr")} {p.Account.Code} {p.Amount.Amount}";

    [Fact]
    public void An_unbalanced_entry_cannot_be_constructed()
    {
        var ex = Assert.Throws<UnbalancedEntryException>(() => new JournalEntry("op-1", JournalEntryKind.Sale, "inv",
            [new Posting(LedgerAccount.CashDrawer, PostingSide.Debit, M(1000)),
                new Posting(LedgerAccount.Revenue("services"), PostingSide.Credit, M(999))]));
        Assert.Contains("does not balance", ex.Message);
        Assert.Throws<UnbalancedEntryException>(() => new JournalEntry("op-2", JournalEntryKind.Sale, "inv", []));
        Assert.Throws<UnbalancedEntryException>(() => new JournalEntry("op-3", JournalEntryKind.Sale, "inv",
            [new Posting(LedgerAccount.CashDrawer, PostingSide.Debit, M(0)),
                new Posting(LedgerAccount.AccountsReceivable, PostingSide.Credit, M(0))]));
        Assert.Throws<UnbalancedEntryException>(() => new JournalEntry("op-4", JournalEntryKind.Sale, "inv",
            [new Posting(LedgerAccount.CashDrawer, PostingSide.Debit, M(-5)),
                new Posting(LedgerAccount.AccountsReceivable, PostingSide.Debit, M(5))]));
        // Balanced in total but not per currency.
        Assert.Throws<UnbalancedEntryException>(() => new JournalEntry("op-5", JournalEntryKind.Sale, "inv",
            [new Posting(LedgerAccount.CashDrawer, PostingSide.Debit, M(100)),
                new Posting(LedgerAccount.AccountsReceivable, PostingSide.Credit, new Money(100, "CAD"))]));
        Assert.Throws<UnbalancedEntryException>(() => new JournalEntryBuilder()
            .Debit(LedgerAccount.CashDrawer, M(10)).Credit(LedgerAccount.AccountsReceivable, M(9)).Build("op-6", JournalEntryKind.Tender, "inv"));
    }

    [Fact]
    public void The_builder_merges_postings_per_account_and_side_and_flips_negative_amounts()
    {
        var entry = new JournalEntryBuilder()
            .Debit(LedgerAccount.CashDrawer, M(600))
            .Debit(LedgerAccount.CashDrawer, M(400))
            .Credit(LedgerAccount.CashDrawer, M(300))
            .Debit(LedgerAccount.TaxPayable("x"), M(-200))
            .Credit(LedgerAccount.AccountsReceivable, M(500))
            .Debit(LedgerAccount.Discounts("services"), M(0))
            .Build("op", JournalEntryKind.Tender, "inv");
        Assert.Equal(["Dr cash-drawer 1000", "Cr cash-drawer 300", "Cr tax-payable:x 200", "Cr accounts-receivable 500"], entry.Postings.Select(Key));
        Assert.Equal(1000, entry.TotalDebits("USD"));
        Assert.Equal(1000, entry.TotalCredits("USD"));
    }

    /// <summary>Service $100 −10 % (A), retail $40 at 8.875 %, a $50 gift card, a $500 package, $20 tip to A.</summary>
    private static PricedInvoice Sample() => InvoicePricer.Price(new InvoiceDraft(UsdCode,
        [
            Service(10000, ProviderA, Discount.OfPercent(10m)),
            Line(InvoiceLineKind.RetailProduct, 4000, incomeCategory: "retail"),
            Line(InvoiceLineKind.GiftCardSale, 5000),
            Line(InvoiceLineKind.PackageSale, 50000, taxCategory: TaxCategories.Exempt),
        ],
        Tip: TipRequest.OfAmount(M(2000)), TipSplit: TipSplit.To(ProviderA)), SingleRate8875).Ok();

    [Fact]
    public void Sale_entry_posts_receivable_revenue_discounts_liabilities_tax_and_tips()
    {
        var invoice = Sample();
        Assert.Equal(M(70355), invoice.Total);
        var sale = CheckoutLedger.Sale("sale-1", "INV-2025-0001", invoice)!;
        Assert.Equal(
            new[]
            {
                "Dr accounts-receivable 70355",
                "Cr revenue:services 10000",
                "Dr discounts:services 1000",
                "Cr revenue:retail 4000",
                "Cr tax-payable:combined 355",
                "Cr gift-card-liability 5000",
                "Cr package-liability 50000",
                $"Cr tips-payable:{ProviderA:D} 2000",
            }.Order(),
            sale.Postings.Select(Key).Order());
        Assert.Equal(JournalEntryKind.Sale, sale.Kind);
        Assert.Equal("INV-2025-0001", sale.Reference);
    }

    [Theory]
    [InlineData(TenderKind.Cash, "cash-drawer")]
    [InlineData(TenderKind.Credit, "card-clearing")]
    [InlineData(TenderKind.Debit, "card-clearing")]
    [InlineData(TenderKind.Hsa, "hsa-fsa-clearing")]
    [InlineData(TenderKind.Fsa, "hsa-fsa-clearing")]
    [InlineData(TenderKind.Check, "check-clearing")]
    [InlineData(TenderKind.GiftCard, "gift-card-liability")]
    [InlineData(TenderKind.Package, "package-liability")]
    [InlineData(TenderKind.Membership, "membership-liability")]
    [InlineData(TenderKind.Wallet, "patient-wallet")]
    [InlineData(TenderKind.Other, "other-clearing")]
    public void Each_tender_debits_its_account_and_credits_receivable(TenderKind kind, string account)
    {
        var entry = CheckoutLedger.Tender("t-1", "inv", new Tender(Guid.NewGuid(), kind, M(1234), kind == TenderKind.Cash ? M(2000) : null));
        Assert.Equal([$"Dr {account} 1234", "Cr accounts-receivable 1234"], entry.Postings.Select(Key));
    }

    [Fact]
    public void Refunding_everything_in_pieces_reverses_tax_tips_and_liabilities_to_the_cent()
    {
        var invoice = Sample();
        var card = new Tender(Guid.NewGuid(), TenderKind.Credit, invoice.Total);
        var entries = new List<JournalEntry> { CheckoutLedger.Sale("s", "inv", invoice)!, CheckoutLedger.Tender("t", "inv", card) };
        var refunded = M(0);
        foreach (var piece in new[] { 23451L, 1L, 23451L, 23452L })
        {
            entries.Add(CheckoutLedger.Refund($"r{piece}-{refunded.Amount}", "inv", invoice, card, refunded, M(piece)).Ok());
            refunded += M(piece);
        }

        Assert.Equal(invoice.Total, refunded);
        var tb = TrialBalance.From(entries);
        Assert.True(tb.IsBalanced);
        foreach (var zero in new[]
                 {
                     LedgerAccount.AccountsReceivable, LedgerAccount.CardClearing, LedgerAccount.TaxPayable("combined"),
                     LedgerAccount.TipsPayable(ProviderA), LedgerAccount.GiftCardLiability, LedgerAccount.PackageLiability,
                 })
        {
            Assert.Equal(0, tb.Balance(zero, UsdCode));
        }

        Assert.Equal(9000, tb.NormalBalance(LedgerAccount.Refunds("services"), UsdCode));
        Assert.Equal(4000, tb.NormalBalance(LedgerAccount.Refunds("retail"), UsdCode));
        // Net revenue: 10000 + 4000 gross − 1000 discounts − 13000 returned = 0.
        Assert.Equal(
            0, tb.NormalBalance(
                AccountKind.Revenue, UsdCode) - tb.NormalBalance(AccountKind.Discounts, UsdCode) - tb.NormalBalance(AccountKind.Refunds, UsdCode));
        CheckoutLedger.Refund("r-extra", "inv", invoice, card, refunded, M(1)).Refused();
    }

    [Fact]
    public void A_partial_refund_takes_its_proportion_of_each_component()
    {
        var invoice = InvoicePricer.Price(new InvoiceDraft(UsdCode,
            [Line(InvoiceLineKind.RetailProduct, 10000)], Tip: TipRequest.OfAmount(M(1112)), TipSplit: TipSplit.To(ProviderB)), SingleRate8875).Ok();
        Assert.Equal(M(12000), invoice.Total); // 10000 + 888 tax + 1112 tip
        var cash = new Tender(Guid.NewGuid(), TenderKind.Cash, invoice.Total);
        var refund = CheckoutLedger.Refund("r", "inv", invoice, cash, M(0), M(6000)).Ok(); // half
        Assert.Equal(
            new[] { "Dr refunds:services 5000", "Dr tax-payable:combined 444", $"Dr tips-payable:{ProviderB:D} 556", "Cr cash-drawer 6000" }.Order(),
            refund.Postings.Select(Key).Order());
    }

    [Fact]
    public void Voiding_reverses_the_sale_exactly()
    {
        var invoice = Sample();
        var sale = CheckoutLedger.Sale("s", "inv", invoice)!;
        var voided = CheckoutLedger.Void("v", "inv", invoice)!;
        Assert.Equal(JournalEntryKind.Void, voided.Kind);
        var tb = TrialBalance.From([sale, voided]);
        Assert.All(tb.Lines, l => Assert.Equal(0, l.Balance));
        Assert.Equal(sale.Postings.Count, voided.Postings.Count);
        Assert.Null(CheckoutLedger.Sale("s0", "inv", InvoicePricer.Price(new InvoiceDraft(UsdCode, []), []).Ok()));
    }

    [Fact]
    public void Gift_card_sold_online_then_redeemed_at_the_desk()
    {
        var sold = CheckoutLedger.GiftCardSale("gc-sale", "GC-ABCD-EFGH-JKLM", M(10000), TenderKind.Credit);
        var invoice = InvoicePricer.Price(new InvoiceDraft(UsdCode, [Service(6000)]), []).Ok();
        var sale = CheckoutLedger.Sale("s", "inv", invoice)!;
        var redeemed = CheckoutLedger.GiftCardRedemption("gc-redeem", "inv", Guid.NewGuid(), M(6000), "GC-ABCD-EFGH-JKLM");
        Assert.Equal(JournalEntryKind.GiftCardRedemption, redeemed.Kind);
        var tb = TrialBalance.From([sold, sale, redeemed]);
        Assert.Equal(4000, tb.NormalBalance(LedgerAccount.GiftCardLiability, UsdCode));
        Assert.Equal(10000, tb.NormalBalance(LedgerAccount.CardClearing, UsdCode));
        Assert.Equal(6000, tb.NormalBalance(LedgerAccount.Revenue("services"), UsdCode));
        Assert.Equal(0, tb.Balance(LedgerAccount.AccountsReceivable, UsdCode));
        Assert.True(tb.IsBalanced);
    }

    [Fact]
    public void Package_sold_with_tax_then_a_session_redeemed()
    {
        var sold = CheckoutLedger.PackageSale("pkg-sale", "pkg-1", M(50000), [new LineTax("combined", M(4438))], TenderKind.Debit);
        Assert.Equal(["Dr card-clearing 54438", "Cr package-liability 50000", "Cr tax-payable:combined 4438"], sold.Postings.Select(Key));
        var session = InvoicePricer.Price(new InvoiceDraft(UsdCode, [Service(10000)]), []).Ok();
        var entries = new[]
        {
            sold,
            CheckoutLedger.Sale("s", "inv", session)!,
            CheckoutLedger.PackageRedemption("pkg-redeem", "inv", Guid.NewGuid(), M(10000), "pkg-1"),
        };
        var tb = TrialBalance.From(entries);
        Assert.Equal(40000, tb.NormalBalance(LedgerAccount.PackageLiability, UsdCode));
        Assert.Equal(10000, tb.NormalBalance(LedgerAccount.Revenue("services"), UsdCode));
        Assert.Equal(0, tb.Balance(LedgerAccount.AccountsReceivable, UsdCode));
        Assert.Equal(JournalEntryKind.PackageRedemption, entries[2].Kind);
    }

    [Fact]
    public void Wallet_topped_up_with_cash_then_spent_on_an_invoice()
    {
        var topUp = CheckoutLedger.WalletTopUp("w-1", "patient-1", M(30000), TenderKind.Cash).Ok();
        var sale = CheckoutLedger.Sale("s", "inv", InvoicePricer.Price(new InvoiceDraft(UsdCode, [Service(12000)]), []).Ok())!;
        var spent = CheckoutLedger.Tender("t", "inv", new Tender(Guid.NewGuid(), TenderKind.Wallet, M(12000)));
        var tb = TrialBalance.From([topUp, sale, spent]);
        Assert.Equal(18000, tb.NormalBalance(LedgerAccount.PatientWallet, UsdCode));
        Assert.Equal(30000, tb.NormalBalance(LedgerAccount.CashDrawer, UsdCode));
        Assert.Equal(0, tb.Balance(LedgerAccount.AccountsReceivable, UsdCode));
        CheckoutLedger.WalletTopUp("w-2", "patient-1", M(1), TenderKind.Wallet).Refused();
    }

    [Fact]
    public void Trial_balance_sums_per_account_and_currency()
    {
        var usd = CheckoutLedger.Tender("a", "inv", new Tender(Guid.NewGuid(), TenderKind.Cash, M(500)));
        var cad = CheckoutLedger.Tender("b", "inv", new Tender(Guid.NewGuid(), TenderKind.Cash, new Money(700, "CAD")));
        var tb = TrialBalance.From([usd, usd.Reverse("c"), cad]);
        Assert.True(tb.IsBalanced);
        Assert.Equal(0, tb.Balance(LedgerAccount.CashDrawer, "USD"));
        Assert.Equal(700, tb.Balance(LedgerAccount.CashDrawer, "CAD"));
        Assert.Equal(-700, tb.Balance(LedgerAccount.AccountsReceivable, "CAD"));
        Assert.Equal(1200, tb.TotalDebits("USD") + tb.TotalDebits("CAD") - 500);
        Assert.Equal(["accounts-receivable", "cash-drawer", "accounts-receivable", "cash-drawer"], tb.Lines.Select(l => l.Account.Code));
    }

    [Fact]
    public void Account_codes_and_normal_sides()
    {
        Assert.Equal("revenue:injectables", LedgerAccount.Revenue("injectables").Code);
        Assert.Equal("tips-payable", LedgerAccount.TipsPayable(null).Code);
        Assert.True(LedgerAccount.CashDrawer.IsDebitNormal);
        Assert.True(LedgerAccount.Discounts("x").IsDebitNormal);
        Assert.False(LedgerAccount.GiftCardLiability.IsDebitNormal);
        Assert.False(LedgerAccount.Revenue("x").IsDebitNormal);
        Assert.Equal(LedgerAccount.Revenue("x"), LedgerAccount.Revenue("x"));
    }
}
