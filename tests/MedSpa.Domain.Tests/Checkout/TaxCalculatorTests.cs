using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Domain.Checkout;
using static MedSpa.Domain.Tests.Checkout.CheckoutFixtures;

namespace MedSpa.Domain.Tests.Checkout;

public class TaxCalculatorTests
{
    [Theory]
    [InlineData(10000, 888)]  // 887.5 → 888 (half away from zero)
    [InlineData(1000, 89)]    // 88.75 → 89
    [InlineData(1, 0)]        // 0.08875 → 0
    [InlineData(6, 1)]        // 0.5325 → 1
    [InlineData(0, 0)]
    public void Exclusive_8875_is_added_and_rounded_per_line(long net, long expectedTax)
    {
        var r = TaxCalculator.Calculate(Usd(net), inclusive: false, SingleRate8875).Ok();
        Assert.Equal(Usd(expectedTax), r.Tax);
        Assert.Equal(Usd(net), r.NetExcludingTax);
        Assert.Equal(Usd(net + expectedTax), r.Charged);
    }

    [Theory]
    [InlineData(1000, 918, 82)]     // 10.00 / 1.08875 = 9.1848… → 9.18
    [InlineData(10000, 9185, 815)]  // 91.848… → 91.85
    [InlineData(1, 1, 0)]           // a 1-cent inclusive line has no tax
    [InlineData(2, 2, 0)]
    [InlineData(13, 12, 1)]         // 11.94 → 12
    [InlineData(0, 0, 0)]
    public void Inclusive_8875_extracts_tax_so_net_plus_tax_is_the_price(long price, long expectedNet, long expectedTax)
    {
        var r = TaxCalculator.Calculate(Usd(price), inclusive: true, SingleRate8875).Ok();
        Assert.Equal(Usd(expectedNet), r.NetExcludingTax);
        Assert.Equal(Usd(expectedTax), r.Tax);
        Assert.Equal(Usd(price), r.Charged);
    }

    [Fact]
    public void Exact_half_cent_rounds_away_from_zero()
    {
        var quarterPercent = new[] { new TaxRate("q", "Quarter", 0.25m, [TaxCategories.Standard]) };
        Assert.Equal(Usd(1), TaxCalculator.Calculate(Usd(200), false, quarterPercent).Ok().Tax); // 0.5 → 1
        Assert.Equal(Usd(0), TaxCalculator.Calculate(Usd(199), false, quarterPercent).Ok().Tax); // 0.4975 → 0
        // Inclusive at 100 %: 3 / 2 = 1.5 → net 2, tax 1.
        var hundred = new[] { new TaxRate("h", "Hundred", 100m, [TaxCategories.Standard]) };
        var r = TaxCalculator.Calculate(Usd(3), true, hundred).Ok();
        Assert.Equal((Usd(2), Usd(1)), (r.NetExcludingTax, r.Tax));
    }

    [Fact]
    public void Several_rates_on_one_exclusive_line_are_each_rounded()
    {
        var r = TaxCalculator.Calculate(Usd(10000), false, NycRates).Ok();
        Assert.Equal(["ny-state", "nyc", "mctd"], r.Taxes.Select(t => t.RateId));
        Assert.Equal([400L, 450L, 38L], r.Taxes.Select(t => t.Amount.Amount)); // 37.5 → 38
        Assert.Equal(Usd(888), r.Tax);
    }

    [Fact]
    public void Several_rates_on_one_inclusive_line_split_the_extracted_tax_by_their_percentages()
    {
        var r = TaxCalculator.Calculate(Usd(1000), true, NycRates).Ok();
        Assert.Equal(Usd(82), r.Tax);
        Assert.Equal(Usd(918), r.NetExcludingTax);
        // 82 × (4000, 4500, 375) / 8875 = 36.96, 41.58, 3.46 → 36, 41, 3 + the 2 leftover cents to the largest remainders.
        Assert.Equal([37L, 42L, 3L], r.Taxes.Select(t => t.Amount.Amount));
    }

    [Fact]
    public void Per_line_rounding_of_many_small_lines_is_what_the_invoice_shows()
    {
        // 100 lines of 5¢ each have 0.44¢ of tax: zero per line (the invoice-level figure would be 44¢).
        var fives = Enumerable.Range(0, 100).Select(_ => Line(InvoiceLineKind.RetailProduct, 5)).ToArray();
        var priced = InvoicePricer.Price(new InvoiceDraft(UsdCode, fives), SingleRate8875).Ok();
        Assert.Equal(Usd(0), priced.Tax);
        Assert.Equal(Usd(500), priced.Total);
        // 100 lines of 6¢: 0.53¢ → 1¢ each.
        var sixes = Enumerable.Range(0, 100).Select(_ => Line(InvoiceLineKind.RetailProduct, 6)).ToArray();
        priced = InvoicePricer.Price(new InvoiceDraft(UsdCode, sixes), SingleRate8875).Ok();
        Assert.Equal(Usd(100), priced.Tax);
        Assert.Equal(Usd(700), priced.Total);
        Assert.Equal(priced.Tax, Money(priced.Lines.Sum(l => l.Tax.Amount)));
    }

    [Fact]
    public void A_fully_discounted_line_has_no_tax_inclusive_or_exclusive()
    {
        var lines = new[]
        {
            Line(InvoiceLineKind.RetailProduct, 4999, discount: Discount.OfPercent(100m)),
            Line(InvoiceLineKind.RetailProduct, 4999, inclusive: true, discount: Discount.OfPercent(100m)),
        };
        var priced = InvoicePricer.Price(new InvoiceDraft(UsdCode, lines), NycRates).Ok();
        Assert.All(priced.Lines, l => Assert.Equal(Usd(0), l.Tax));
        Assert.Equal(Usd(0), priced.Total);
        Assert.Equal(Usd(9998), priced.Discounts);
    }

    [Fact]
    public void Zero_rated_exempt_and_gift_card_lines()
    {
        var rates = new[]
        {
            new TaxRate("zero", "Zero rate", 0m, [TaxCategories.ZeroRated]),
            new TaxRate("std", "Standard", 8.875m, [TaxCategories.Standard]),
        };
        var zero = Line(InvoiceLineKind.RetailProduct, 10000, taxCategory: TaxCategories.ZeroRated);
        var exempt = Line(InvoiceLineKind.Service, 10000, taxCategory: TaxCategories.Exempt);
        var gift = Line(InvoiceLineKind.GiftCardSale, 10000, taxCategory: TaxCategories.Standard);
        var priced = InvoicePricer.Price(new InvoiceDraft(UsdCode, [zero, exempt, gift]), rates).Ok();

        Assert.Equal(["zero"], priced.Lines[0].Taxes.Select(t => t.RateId)); // taxable at 0 %: reported, zero
        Assert.Equal(Usd(0), priced.Lines[0].Tax);
        Assert.Empty(priced.Lines[1].Taxes); // no rate lists the category: untaxed
        Assert.Empty(priced.Lines[2].Taxes); // gift cards are never taxed, whatever their category
        Assert.Equal(Usd(30000), priced.Total);
    }

    [Fact]
    public void Hsa_fsa_eligibility_does_not_change_tax_but_the_eligible_amount_includes_it()
    {
        var eligible = Line(InvoiceLineKind.RetailProduct, 10000, hsa: true);     // e.g. medical-grade sunscreen
        var notEligible = Line(InvoiceLineKind.RetailProduct, 10000, hsa: false);
        var priced = InvoicePricer.Price(new InvoiceDraft(UsdCode, [eligible, notEligible]), SingleRate8875).Ok();
        Assert.Equal(priced.Lines[0].Tax, priced.Lines[1].Tax);
        Assert.Equal(Usd(10888), priced.HsaFsaEligible);
    }

    [Fact]
    public void Inclusive_line_with_a_discount_extracts_tax_from_the_discounted_price()
    {
        var line = Line(InvoiceLineKind.RetailProduct, 1100, inclusive: true, discount: Discount.OfAmount(Usd(100)));
        var priced = InvoicePricer.Price(new InvoiceDraft(UsdCode, [line]), SingleRate8875).Ok();
        Assert.Equal(Usd(1000), priced.Lines[0].Net);
        Assert.Equal(Usd(918), priced.Lines[0].NetExcludingTax);
        Assert.Equal(Usd(82), priced.TaxIncluded);
        Assert.Equal(Usd(0), priced.TaxAdded);
        Assert.Equal(Usd(1000), priced.Total);
    }

    [Fact]
    public void Negative_rates_are_refused()
    {
        TaxCalculator.Calculate(Usd(100), false, [new TaxRate("bad", "Bad", -1m, [TaxCategories.Standard])]).Refused();
    }

    private static MedSpa.GrainInterfaces.Money Money(long cents) => Usd(cents);
}
