using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Domain.Checkout;
using static MedSpa.Domain.Tests.Checkout.CheckoutFixtures;

namespace MedSpa.Domain.Tests.Checkout;

public class LinePricingTests
{
    [Theory]
    [InlineData("20", 1400, 28000)]      // Botox 20 U × $14
    [InlineData("12.5", 445, 5563)]      // 5562.5¢ → half away from zero
    [InlineData("12.5", 450, 5625)]      // Dysport 12.5 U × $4.50
    [InlineData("0.001", 1400, 1)]       // 1.4¢ → 1¢
    [InlineData("33.333", 300, 10000)]   // 9999.9¢ → 10000¢
    public void Injectable_is_units_times_price_per_unit(string units, long pricePerUnit, long expected)
    {
        var line = Line(InvoiceLineKind.Injectable, pricePerUnit, decimal.Parse(units, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(Usd(expected), LinePricing.Gross(line).Ok());
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("12.3456")]
    public void Injectable_units_must_be_positive_with_at_most_three_decimals(string units)
    {
        var line = Line(InvoiceLineKind.Injectable, 1400, decimal.Parse(units, System.Globalization.CultureInfo.InvariantCulture));
        var ex = LinePricing.Gross(line, "lines[0]").Refused();
        Assert.Equal("lines[0].quantity", ex.Field);
    }

    [Theory]
    [InlineData("1.2", "1.0", "0", "2")]
    [InlineData("1.2", "1.0", "-0.5", "1.5")]
    [InlineData("1.0", "1.0", "0", "1")]      // exactly one syringe, no extra
    [InlineData("0.3", "0.1", "0", "3")]      // 0.3/0.1 in binary floating point is 3.0000000000000004 → would bill 4
    [InlineData("3.0", "1.5", "0", "2")]      // Radiesse
    [InlineData("3.01", "1.5", "0", "3")]
    [InlineData("0.8", "0.5", "0.5", "2.5")]  // Eyelight + half a syringe more
    [InlineData("0", "1.0", "0", "0")]
    public void Filler_syringes_are_the_ceiling_of_volume_over_size_plus_half_steps(string volume, string size, string adjustment, string expected)
    {
        static decimal D(string s) => decimal.Parse(s, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(D(expected), LinePricing.BilledSyringes(new FillerDetails(D(volume), D(size), D(adjustment))).Ok());
    }

    [Fact]
    public void Filler_adjustments_are_half_steps_and_never_below_zero()
    {
        Assert.Equal("filler.adjustmentSyringes",
            LinePricing.BilledSyringes(new FillerDetails(1m, 1m, 0.25m)).Refused().Field);
        LinePricing.BilledSyringes(new FillerDetails(1m, 1m, -1.5m)).Refused();
        LinePricing.BilledSyringes(new FillerDetails(1m, 0m)).Refused();
        LinePricing.BilledSyringes(new FillerDetails(-1m, 1m)).Refused();
    }

    [Fact]
    public void Filler_line_bills_syringes_and_must_agree_with_its_volume()
    {
        var filler = new FillerDetails(1.2m, 1.0m, -0.5m);
        Assert.Equal(Usd(97500), LinePricing.Gross(Line(InvoiceLineKind.Filler, 65000, 1.5m, filler: filler)).Ok()); // 1.5 × $650
        var ex = LinePricing.Gross(Line(InvoiceLineKind.Filler, 65000, 2m, filler: filler), "lines[1]").Refused();
        Assert.Equal("lines[1].quantity", ex.Field);
        LinePricing.Gross(Line(InvoiceLineKind.Filler, 65000, 1.25m)).Refused();
    }

    [Theory]
    [InlineData(InvoiceLineKind.Service, "1.5")]
    [InlineData(InvoiceLineKind.RetailProduct, "0")]
    [InlineData(InvoiceLineKind.Membership, "-1")]
    [InlineData(InvoiceLineKind.GiftCardSale, "0.5")]
    public void Other_kinds_take_whole_quantities(InvoiceLineKind kind, string quantity)
    {
        LinePricing.Gross(Line(kind, 1000, decimal.Parse(quantity, System.Globalization.CultureInfo.InvariantCulture))).Refused();
    }

    [Fact]
    public void Negative_prices_are_refused_credits_are_discounts()
    {
        var ex = LinePricing.Gross(Line(InvoiceLineKind.Adjustment, -500), "lines[3]").Refused();
        Assert.Equal("lines[3].unitPrice", ex.Field);
    }

    [Theory]
    [InlineData(9999, "15", 1500)]   // 1499.85 → 1500
    [InlineData(10, "5", 1)]         // 0.5 → 1 (half away from zero)
    [InlineData(10, "4.9", 0)]       // 0.49 → 0
    [InlineData(12345, "100", 12345)]
    [InlineData(12345, "0", 0)]
    public void Percent_discounts_round_half_away_from_zero(long gross, string percent, long expected)
    {
        var d = Discount.OfPercent(decimal.Parse(percent, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(Usd(expected), LinePricing.DiscountAmount(d, Usd(gross), "discount").Ok());
    }

    [Fact]
    public void Fixed_discounts_never_take_a_line_below_zero()
    {
        Assert.Equal(Usd(15000), LinePricing.DiscountAmount(Discount.OfAmount(Usd(20000)), Usd(15000), "discount").Ok());
        LinePricing.DiscountAmount(Discount.OfAmount(Usd(-1)), Usd(100), "discount").Refused();
        LinePricing.DiscountAmount(Discount.OfAmount(new Money(1, "EUR")), Usd(100), "discount").Refused();
        LinePricing.DiscountAmount(Discount.OfPercent(100.01m), Usd(100), "discount").Refused();
        LinePricing.DiscountAmount(Discount.OfPercent(-1m), Usd(100), "discount").Refused();
    }

    [Fact]
    public void Invoice_discount_is_spread_over_lines_by_largest_remainder_and_skips_gift_cards()
    {
        var lines = new[]
        {
            Line(InvoiceLineKind.Service, 3000),
            Line(InvoiceLineKind.RetailProduct, 2000),
            Line(InvoiceLineKind.GiftCardSale, 5000),
            Line(InvoiceLineKind.Injectable, 1000),
        };
        var priced = InvoicePricer.Price(new InvoiceDraft(UsdCode, lines, Discount.OfAmount(Usd(1000))), []).Ok();
        Assert.Equal([500L, 333L, 0L, 167L], priced.Lines.Select(l => l.InvoiceDiscount.Amount));
        Assert.Equal(Usd(1000), priced.InvoiceDiscount);
        Assert.Equal(Usd(11000), priced.Subtotal);
        Assert.Equal(Usd(10000), priced.Total);
        Assert.Equal(Usd(5000), priced.Lines[2].Net); // the gift card keeps its face value
    }

    [Fact]
    public void Invoice_discount_larger_than_the_lines_is_capped_and_no_line_goes_negative()
    {
        var lines = new[] { Line(InvoiceLineKind.Service, 999, discount: Discount.OfPercent(50m)), Line(InvoiceLineKind.RetailProduct, 1) };
        var priced = InvoicePricer.Price(new InvoiceDraft(UsdCode, lines, Discount.OfAmount(Usd(100_000))), SingleRate8875).Ok();
        Assert.All(priced.Lines, l => Assert.True(l.Net.IsZero));
        Assert.Equal(Usd(500), priced.Lines[0].LineDiscount); // 499.5 → 500
        Assert.Equal(Usd(499), priced.Lines[0].InvoiceDiscount);
        Assert.Equal(Usd(1000), priced.Discounts);
        Assert.Equal(Usd(0), priced.Total);
        Assert.Equal(Usd(0), priced.Tax);
    }

    [Fact]
    public void Percent_invoice_discount_is_computed_once_on_the_sum()
    {
        var lines = Enumerable.Range(0, 3).Select(_ => Line(InvoiceLineKind.RetailProduct, 1001)).ToArray();
        var priced = InvoicePricer.Price(new InvoiceDraft(UsdCode, lines, Discount.OfPercent(10m)), []).Ok();
        Assert.Equal(Usd(300), priced.InvoiceDiscount); // 300.3 → 300, not 3 × round(100.1)
        Assert.Equal([100L, 100L, 100L], priced.Lines.Select(l => l.InvoiceDiscount.Amount));
    }

    [Fact]
    public void Gift_cards_cannot_carry_a_line_discount()
    {
        var lines = new[] { Line(InvoiceLineKind.GiftCardSale, 10000, discount: Discount.OfPercent(10m)) };
        Assert.Equal(
            "lines[0].discount", InvoicePricer.Price(new InvoiceDraft(UsdCode, lines), []).Refused().Field);
    }

    [Fact]
    public void Lines_in_another_currency_are_refused()
    {
        var eur = new InvoiceLine(Guid.NewGuid(), InvoiceLineKind.Service, "x", 1m, new Money(100, "EUR"));
        Assert.Equal(
            "lines[0].unitPrice", InvoicePricer.Price(new InvoiceDraft(UsdCode, [eur]), []).Refused().Field);
    }

    private sealed class InjectablesPromo(decimal percent) : IPromoCodeRule
    {
        public List<PromoLineView> Seen { get; } = [];

        public PromoApplication? Apply(string code, IReadOnlyList<PromoLineView> lines)
        {
            Seen.AddRange(lines);
            if (code != "TOX20")
            {
                return null;
            }

            return new PromoApplication(code, Discount.OfPercent(percent),
                lines.Where(l => l.Kind == InvoiceLineKind.Injectable).Select(l => l.LineId).ToHashSet());
        }
    }

    [Fact]
    public void Promo_hook_discounts_only_the_lines_it_names_before_the_invoice_discount()
    {
        var tox = Line(InvoiceLineKind.Injectable, 1400, 20m, discount: Discount.OfAmount(Usd(1000))); // 28000 − 1000
        var retail = Line(InvoiceLineKind.RetailProduct, 5000);
        var gift = Line(InvoiceLineKind.GiftCardSale, 5000);
        var rule = new InjectablesPromo(20m);
        var priced = InvoicePricer.Price(new InvoiceDraft(UsdCode, [tox, retail, gift], Discount.OfAmount(Usd(100)), "TOX20"), [], rule).Ok();

        Assert.Equal(Usd(5400), priced.Lines[0].PromoDiscount); // 20 % of 27000
        Assert.Equal(Usd(0), priced.Lines[1].PromoDiscount);
        Assert.Equal("TOX20", priced.Promo!.Code);
        Assert.DoesNotContain(rule.Seen, v => v.Kind == InvoiceLineKind.GiftCardSale);
        Assert.Equal(Usd(27000), rule.Seen.Single(v => v.LineId == tox.Id).AmountAfterLineDiscount);
        // Invoice discount 100 over the remaining 21600 and 5000: 81.2 → 81, 18.8 → 19.
        Assert.Equal([81L, 19L, 0L], priced.Lines.Select(l => l.InvoiceDiscount.Amount));
    }

    [Fact]
    public void Promo_rule_that_does_not_apply_changes_nothing()
    {
        var lines = new[] { Line(InvoiceLineKind.Injectable, 1400, 20m) };
        var priced = InvoicePricer.Price(new InvoiceDraft(UsdCode, lines, PromoCode: "NOPE"), [], new InjectablesPromo(20m)).Ok();
        Assert.Null(priced.Promo);
        Assert.Equal(Usd(28000), priced.Total);
    }
}
