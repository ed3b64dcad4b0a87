using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Domain.Checkout;
using static MedSpa.Domain.Tests.Checkout.CheckoutFixtures;

namespace MedSpa.Domain.Tests.Checkout;

public class TipCalculatorTests
{
    /// <summary>Service $100 −10 % (A), toxin 20 U × $14 (B), retail, gift card, package, membership, adjustment.</summary>
    private static PricedInvoice Mixed(TipRequest tip, TipSplit? split = null) => TryMixed(tip, split).Ok();

    private static (PricedInvoice? Priced, Refusal? Refusal) TryMixed(TipRequest tip, TipSplit? split = null) =>
        InvoicePricer.Price(new InvoiceDraft(UsdCode,
            [
                Service(10000, ProviderA, Discount.OfPercent(10m)),
                Line(InvoiceLineKind.Injectable, 1400, 20m, provider: ProviderB, inclusive: true),
                Line(InvoiceLineKind.RetailProduct, 5000, provider: ProviderA),
                Line(InvoiceLineKind.GiftCardSale, 10000, provider: ProviderA),
                Line(InvoiceLineKind.PackageSale, 50000, provider: ProviderA),
                Line(InvoiceLineKind.Membership, 9900, provider: ProviderA),
                Line(InvoiceLineKind.Adjustment, 2500, provider: ProviderA),
            ],
            Tip: tip, TipSplit: split),
            SingleRate8875);

    [Fact]
    public void Tip_base_is_the_pre_tax_net_of_services_injectables_and_fillers_only()
    {
        var priced = Mixed(TipRequest.None);
        // Service 9000 (medical, untaxed) + toxin 28000 inclusive of 8.875 % → 25718 pre-tax.
        Assert.Equal(Usd(25718), priced.Lines[1].NetExcludingTax);
        Assert.Equal(Usd(9000 + 25718), priced.TipBase);
        Assert.Equal(Usd(0), priced.Tip);
        Assert.Empty(priced.TipAllocations);
    }

    [Theory]
    [InlineData(15, 5208)]  // 34718 × 15 % = 5207.7 → 5208
    [InlineData(18, 6249)]  // 6249.24
    [InlineData(20, 6944)]  // 6943.6
    [InlineData(25, 8680)]  // 8679.5 → 8680 (half away from zero)
    public void Preset_percentages_of_the_tip_base(int percent, long expected)
    {
        Assert.Contains(percent, TipCalculator.PresetPercents);
        var priced = Mixed(TipRequest.OfPercent(percent));
        Assert.Equal(Usd(expected), priced.Tip);
        Assert.Equal(priced.NetSales + priced.Tax + priced.Tip, priced.Total);
    }

    [Fact]
    public void A_tip_amount_is_taken_as_given_and_never_taxed()
    {
        var priced = Mixed(TipRequest.OfAmount(Usd(2000)));
        Assert.Equal(Usd(2000), priced.Tip);
        Assert.Equal(Mixed(TipRequest.None).Tax, priced.Tax);
        TryMixed(TipRequest.OfAmount(Usd(-1))).Refused();
        TryMixed(TipRequest.OfAmount(new MedSpa.GrainInterfaces.Money(1, "EUR"))).Refused();
        TryMixed(TipRequest.OfPercent(101m)).Refused();
    }

    [Fact]
    public void Split_by_service_revenue_weighs_each_provider_by_their_tip_base()
    {
        var priced = Mixed(TipRequest.OfAmount(Usd(1000)), TipSplit.ByServiceRevenue());
        // A: 9000, B: 25718 of 34718 → 259.23 / 740.77 → 259 + 741 after the leftover cent.
        Assert.Equal([(ProviderA, 259L), (ProviderB, 741L)], priced.TipAllocations.Select(a => (a.ProviderId, a.Amount.Amount)));
    }

    [Fact]
    public void Split_equally_gives_the_leftover_cents_to_the_first_providers()
    {
        var priced = Mixed(TipRequest.OfAmount(Usd(1000)), TipSplit.Equally(ProviderA, ProviderB, ProviderC));
        Assert.Equal([334L, 333L, 333L], priced.TipAllocations.Select(a => a.Amount.Amount));
        var defaultProviders = Mixed(TipRequest.OfAmount(Usd(1001)), new TipSplit(TipSplitKind.Equal));
        Assert.Equal([(ProviderA, 501L), (ProviderB, 500L)], defaultProviders.TipAllocations.Select(a => (a.ProviderId, a.Amount.Amount)));
    }

    [Fact]
    public void Custom_percentages_must_sum_to_100_and_the_parts_to_the_tip()
    {
        var priced = Mixed(TipRequest.OfAmount(Usd(1000)),
            TipSplit.Custom(new TipShare(ProviderA, 33.33m), new TipShare(ProviderB, 33.33m), new TipShare(ProviderC, 33.34m)));
        Assert.Equal([333L, 333L, 334L], priced.TipAllocations.Select(a => a.Amount.Amount));

        Assert.Equal("tipSplit.shares", TryMixed(TipRequest.OfAmount(Usd(1000)),
            TipSplit.Custom(new TipShare(ProviderA, 50m), new TipShare(ProviderB, 49.99m))).Refused().Field);
        TryMixed(TipRequest.OfAmount(Usd(1000)),
            TipSplit.Custom(new TipShare(ProviderA, 50m), new TipShare(ProviderA, 50m))).Refused();
        TryMixed(TipRequest.OfAmount(Usd(1000)),
            TipSplit.Custom(new TipShare(ProviderA, 150m), new TipShare(ProviderB, -50m))).Refused();
    }

    [Fact]
    public void Single_provider_split_and_default_for_a_lone_provider()
    {
        var priced = Mixed(TipRequest.OfAmount(Usd(777)), TipSplit.To(ProviderC));
        Assert.Equal([(ProviderC, 777L)], priced.TipAllocations.Select(a => (a.ProviderId, a.Amount.Amount)));

        var lone = InvoicePricer.Price(new InvoiceDraft(UsdCode, [Service(10000, ProviderB)], Tip: TipRequest.OfPercent(20m)), []).Ok();
        Assert.Equal([(ProviderB, 2000L)], lone.TipAllocations.Select(a => (a.ProviderId, a.Amount.Amount)));
    }

    [Fact]
    public void Split_by_revenue_of_fully_discounted_services_falls_back_to_equal_parts()
    {
        var priced = InvoicePricer.Price(new InvoiceDraft(UsdCode,
            [Service(10000, ProviderA, Discount.OfPercent(100m)), Service(5000, ProviderB, Discount.OfPercent(100m))],
            Tip: TipRequest.OfAmount(Usd(501)), TipSplit: TipSplit.ByServiceRevenue()), []).Ok();
        Assert.Equal([251L, 250L], priced.TipAllocations.Select(a => a.Amount.Amount));
    }

    [Fact]
    public void A_tip_with_nobody_to_receive_it_is_refused()
    {
        var ex = InvoicePricer.Price(new InvoiceDraft(UsdCode,
            [Line(InvoiceLineKind.RetailProduct, 1000)], Tip: TipRequest.OfAmount(Usd(100))), []).Refused();
        Assert.StartsWith("tipSplit", ex.Field);
    }

    [Fact]
    public void Random_splits_always_sum_exactly_to_the_tip()
    {
        var random = new Random(18);
        for (var i = 0; i < 500; i++)
        {
            var tip = Usd(random.Next(1, 100_000));
            var providers = Enumerable.Range(0, random.Next(1, 6)).Select(_ => Guid.NewGuid()).ToArray();
            var lines = providers.Select(p => (PricedLine)InvoicePricer.Price(
                new InvoiceDraft(UsdCode, [Service(random.Next(0, 50_000), p)]), []).Ok().Lines[0]).ToArray();
            foreach (var split in new[] { TipSplit.Equally(providers), TipSplit.ByServiceRevenue(), TipSplit.To(providers[0]) })
            {
                var parts = TipCalculator.Split(tip, split, lines).Ok();
                Assert.Equal(tip.Amount, parts.Sum(p => p.Amount.Amount));
                Assert.All(parts, p => Assert.False(p.Amount.IsNegative));
            }
        }
    }
}
