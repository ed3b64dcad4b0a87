using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Domain.Checkout;
using MedSpa.Grains.Domain.Ledger;

namespace MedSpa.Domain.Tests.Packages;

/// <summary>A package tender pays the line's amount off receivable and draws the package's value from the liability;
/// the gap goes to discounts:package-redemption both ways, and a whole refund credits exactly the same back.</summary>
public sealed class PackageTenderLedgerTests
{
    private static Money M(long cents) => new(cents, "USD");

    private static string Key(Posting p) => $"{(p.Side == PostingSide.Debit ? "Dr" : "Cr")} {p.Account.Code} {p.Amount.Amount}";

    [Theory]
    [InlineData(12_000, 9_000, new[] { "Dr package-liability 9000", "Dr discounts:package-redemption 3000", "Cr accounts-receivable 12000" })]
    [InlineData(12_000, 15_000, new[] { "Dr package-liability 15000", "Cr discounts:package-redemption 3000", "Cr accounts-receivable 12000" })]
    [InlineData(12_000, 12_000, new[] { "Dr package-liability 12000", "Cr accounts-receivable 12000" })]
    public void The_gap_between_the_line_and_the_session_value_is_posted_explicitly(long amount, long redeemed, string[] expected)
    {
        var tender = new Tender(Guid.NewGuid(), TenderKind.Package, M(amount), Reference: Guid.NewGuid().ToString("D"), Redeemed: M(redeemed));
        var entry = CheckoutLedger.Tender("t", "inv", tender);
        Assert.Equal(expected, entry.Postings.Select(Key));
    }

    [Fact]
    public void Refunding_a_package_tender_whole_credits_back_what_it_drew_and_the_gap()
    {
        var line = new InvoiceLine(Guid.NewGuid(), InvoiceLineKind.Service, "Facial", 1m, M(12_000), CatalogItemId: Guid.NewGuid());
        var (priced, _) = InvoicePricer.Price(new InvoiceDraft("USD", [line]), []);
        var tender = new Tender(Guid.NewGuid(), TenderKind.Package, M(12_000), Reference: Guid.NewGuid().ToString("D"), LineId: line.Id,
            Redeemed: M(9_000));
        var (refund, refusal) = CheckoutLedger.Refund("r", "inv", priced!, tender, M(0), M(12_000));
        Assert.Null(refusal);
        Assert.Equal(
            ["Dr refunds:services 12000", "Cr package-liability 9000", "Cr discounts:package-redemption 3000"],
            refund!.Postings.Select(Key));
        // Sale + tender + refund leave the package liability and the discount where they started.
        var all = new[] { CheckoutLedger.Sale("s", "inv", priced!)!, CheckoutLedger.Tender("t", "inv", tender), refund };
        long Balance(string account) => all.SelectMany(e => e.Postings).Where(p => p.Account.Code == account).Sum(p => p.SignedAmount);
        Assert.Equal(0, Balance("package-liability"));
        Assert.Equal(0, Balance("discounts:package-redemption"));
        Assert.Equal(0, Balance("accounts-receivable"));
    }

    [Fact]
    public void Package_tenders_find_their_line_and_amount_and_only_they_name_a_package()
    {
        var facial = new InvoiceLine(Guid.NewGuid(), InvoiceLineKind.Service, "Facial", 1m, M(12_000), CatalogItemId: Guid.NewGuid());
        var serum = new InvoiceLine(Guid.NewGuid(), InvoiceLineKind.RetailProduct, "Serum", 1m, M(3_000), CatalogItemId: Guid.NewGuid());
        var (priced, _) = InvoicePricer.Price(new InvoiceDraft("USD", [serum, facial]), []);
        var purchase = Guid.NewGuid();

        var (resolved, refusal) = PackageTenderRules.Resolve([new TenderInput(TenderKind.Package, null, PurchaseId: purchase)], priced!.Lines, []);
        Assert.Null(refusal);
        Assert.Equal((facial.Id, M(12_000)), (resolved[0].ServiceLineId!.Value, resolved[0].Amount!.Value));

        // The line is already paid by a package tender: none is left.
        var applied = new Tender(Guid.NewGuid(), TenderKind.Package, M(12_000), LineId: facial.Id);
        Assert.Equal("tenders[0].serviceLineId",
            PackageTenderRules.Resolve([new TenderInput(TenderKind.Package, null, PurchaseId: purchase)], priced.Lines, [applied]).Refusal!.Field);
        Assert.Equal("tenders[0].serviceLineId", PackageTenderRules.Resolve(
            [new TenderInput(TenderKind.Package, null, PurchaseId: purchase, ServiceLineId: serum.Id)], priced.Lines, []).Refusal!.Field);
        Assert.Equal("tenders[0].purchaseId",
            PackageTenderRules.Resolve([new TenderInput(TenderKind.Package, M(100))], priced.Lines, []).Refusal!.Field);
        Assert.Equal("tenders[1].purchaseId", PackageTenderRules.Resolve(
            [new TenderInput(TenderKind.Package, null, PurchaseId: purchase), new TenderInput(TenderKind.Cash, M(100), PurchaseId: purchase)],
            priced.Lines, []).Refusal!.Field);
    }
}
