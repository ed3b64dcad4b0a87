using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Domain.Checkout;
using static MedSpa.Domain.Tests.Checkout.CheckoutFixtures;

namespace MedSpa.Domain.Tests.Checkout;

/// <summary>The pricing core returns its refusal (issue 13 §3): the first rule broken, handed up unchanged from the
/// step that refused it, with the code, field and message the API answers with.</summary>
public class PricingRefusalTests
{
    [Fact]
    public void The_first_broken_line_rule_is_returned_from_deep_inside_the_line()
    {
        var lines = new[]
        {
            Service(10000),
            Line(InvoiceLineKind.Filler, 65000, 1m, filler: new FillerDetails(1m, 0m)),
            Line(InvoiceLineKind.RetailProduct, 1000, 0m),
        };
        var (priced, refusal) = InvoicePricer.Price(new InvoiceDraft(UsdCode, lines), []);
        Assert.Null(priced);
        Assert.Equal(new Refusal(Refusal.ValidationFailed, "The syringe size must be positive.", "lines[1].filler.syringeSizeMl"), refusal);
    }

    [Fact]
    public void Tax_tip_and_invoice_discount_refusals_come_back_through_the_pricer()
    {
        var retail = Line(InvoiceLineKind.RetailProduct, 1000);
        Assert.Equal(
            new Refusal(Refusal.ValidationFailed, "Tax rate 'bad' is negative.", "taxRates"),
            InvoicePricer.Price(new InvoiceDraft(UsdCode, [retail]), [new TaxRate("bad", "Bad", -1m, [TaxCategories.Standard])]).Refused());
        Assert.Equal(
            new Refusal(Refusal.ValidationFailed, "A tip percentage is between 0 and 100.", "tip.percent"),
            InvoicePricer.Price(new InvoiceDraft(UsdCode, [Service(10000)], Tip: TipRequest.OfPercent(101m)), []).Refused());
        Assert.Equal(
            new Refusal(Refusal.ValidationFailed, "A discount percentage is between 0 and 100.", "invoiceDiscount.percent"),
            InvoicePricer.Price(new InvoiceDraft(UsdCode, [retail], Discount.OfPercent(-1m)), []).Refused());
    }

    [Fact]
    public void Accepted_values_pass_and_a_refusal_where_none_may_come_is_a_bug()
    {
        var ok = InvoicePricer.Price(new InvoiceDraft(UsdCode, [Service(10000)]), []);
        Assert.Equal(Usd(10000), ok.Value("The invoice").Total);
        var bad = InvoicePricer.Price(new InvoiceDraft(UsdCode, [Line(InvoiceLineKind.RetailProduct, -1)]), []);
        var e = Assert.Throws<InvalidOperationException>(() => bad.Value("The invoice"));
        Assert.Contains("lines[0].unitPrice", e.Message, StringComparison.Ordinal);
    }
}
