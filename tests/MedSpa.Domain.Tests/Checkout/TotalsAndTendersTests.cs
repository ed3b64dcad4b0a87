using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Domain.Checkout;
using static MedSpa.Domain.Tests.Checkout.CheckoutFixtures;

namespace MedSpa.Domain.Tests.Checkout;

public class TotalsAndTendersTests
{
    private static Money M(long cents) => Usd(cents);

    [Theory]
    [InlineData(InvoiceLifecycle.Draft, 1000, 0, 0, InvoiceStatus.Draft)]
    [InlineData(InvoiceLifecycle.Opened, 1000, 0, 0, InvoiceStatus.Open)]
    [InlineData(InvoiceLifecycle.Opened, 1000, 1, 0, InvoiceStatus.PartiallyPaid)]
    [InlineData(InvoiceLifecycle.Opened, 1000, 999, 0, InvoiceStatus.PartiallyPaid)]
    [InlineData(InvoiceLifecycle.Opened, 1000, 1000, 0, InvoiceStatus.Paid)]
    [InlineData(InvoiceLifecycle.Opened, 0, 0, 0, InvoiceStatus.Paid)]          // a $0 invoice is settled when finalised
    [InlineData(InvoiceLifecycle.Opened, 1000, 1000, 400, InvoiceStatus.Paid)]  // partially refunded, still paid
    [InlineData(InvoiceLifecycle.Opened, 1000, 1000, 1000, InvoiceStatus.Refunded)]
    [InlineData(InvoiceLifecycle.Opened, 1000, 300, 300, InvoiceStatus.Open)]   // nothing held, 700 still due: payable, voidable
    [InlineData(InvoiceLifecycle.Opened, 1000, 500, 300, InvoiceStatus.PartiallyPaid)]
    [InlineData(InvoiceLifecycle.Voided, 1000, 0, 0, InvoiceStatus.Void)]
    public void Status_is_derived_from_the_figures(InvoiceLifecycle lifecycle, long total, long paid, long refunded, InvoiceStatus expected)
    {
        var due = lifecycle == InvoiceLifecycle.Opened ? Math.Max(0, total - paid) : 0;
        Assert.Equal(expected, InvoiceLifecycleRules.DeriveStatus(lifecycle, M(due), M(paid - refunded), M(refunded), M(0)));
    }

    private static PricedInvoice Sample() => InvoicePricer.Price(new InvoiceDraft(UsdCode,
        [
            Service(20000, ProviderA, hsa: true),                                                      // medical, untaxed, eligible
            Line(InvoiceLineKind.RetailProduct, 4000, hsa: true),                                      // eligible, taxed
            Line(InvoiceLineKind.RetailProduct, 3000, inclusive: true, discount: Discount.OfPercent(10m)), // not eligible
        ],
        Discount.OfAmount(M(1000)), Tip: TipRequest.OfPercent(20m)), SingleRate8875).Ok();

    [Fact]
    public void Totals_satisfy_their_identities()
    {
        var invoice = Sample();
        var t = InvoiceTotalsCalculator.Compute(invoice, InvoiceLifecycle.Opened, [], []);
        Assert.Equal(M(27000), t.Subtotal);
        Assert.Equal(M(300), t.LineDiscounts);
        Assert.Equal(M(1000), t.InvoiceDiscount);
        Assert.Equal(t.LineDiscounts + t.PromoDiscount + t.InvoiceDiscount, t.Discounts);
        Assert.Equal(t.Subtotal - t.Discounts, t.NetSales + t.TaxIncluded);
        Assert.Equal(t.TaxIncluded + t.TaxAdded, t.Tax);
        Assert.Equal(t.NetSales + t.Tax + t.Tips, t.Total);
        Assert.Equal(t.Total, t.BalanceDue);
        Assert.Equal(InvoiceStatus.Open, t.Status);
        Assert.True(t.TaxIncluded.IsPositive && t.TaxAdded.IsPositive);
        Assert.Equal(Money.Sum(invoice.Lines.Select(l => l.Charged), UsdCode) + t.Tips, t.Total);
    }

    [Fact]
    public void Hsa_fsa_can_pay_only_the_eligible_items_with_their_tax()
    {
        var invoice = Sample();
        var open = InvoiceTotalsCalculator.Compute(invoice, InvoiceLifecycle.Opened, [], []);
        var eligible = invoice.Lines[0].Charged + invoice.Lines[1].Charged;
        Assert.Equal(eligible, open.HsaFsaEligible);
        Assert.Equal(eligible, open.HsaFsaAvailable);

        var tooMuch = new Tender(Guid.NewGuid(), TenderKind.Hsa, eligible + M(1));
        Assert.Equal("hsa_fsa_limit", TenderRules.ValidatePayment(open, [tooMuch])?.Code);
        // Split across HSA and FSA, together over the limit: refused too.
        Assert.NotNull(TenderRules.ValidatePayment(open,
            [new Tender(Guid.NewGuid(), TenderKind.Hsa, M(100)), new Tender(Guid.NewGuid(), TenderKind.Fsa, eligible)]));

        var hsa = new Tender(Guid.NewGuid(), TenderKind.Hsa, eligible - M(500));
        var card = new Tender(Guid.NewGuid(), TenderKind.Credit, open.BalanceDue - hsa.Amount);
        Assert.Null(TenderRules.ValidatePayment(open, [hsa]));
        var partly = InvoiceTotalsCalculator.Compute(invoice, InvoiceLifecycle.Opened, [hsa], []);
        Assert.Equal(M(500), partly.HsaFsaAvailable);
        Assert.Equal(InvoiceStatus.PartiallyPaid, partly.Status);
        Assert.Null(TenderRules.ValidatePayment(partly, [card with { Amount = partly.BalanceDue }]));

        // An HSA refund makes room again, but never more than the balance due.
        var refunded = InvoiceTotalsCalculator.Compute(invoice, InvoiceLifecycle.Opened, [hsa],
            [new TenderRefund(Guid.NewGuid(), hsa.Id, M(1000))]);
        Assert.Equal(M(1500), refunded.HsaFsaAvailable);
    }

    [Fact]
    public void Cash_quick_amounts_offer_the_exact_balance_then_the_larger_notes()
    {
        Assert.Equal([8340L, 10000L, 20000L, 50000L, 100000L], TenderRules.CashQuickAmounts(M(8340)).Select(m => m.Amount));
        Assert.Equal([2000L, 5000L, 10000L, 20000L, 50000L, 100000L], TenderRules.CashQuickAmounts(M(2000)).Select(m => m.Amount));
        Assert.Equal([150000L], TenderRules.CashQuickAmounts(M(150000)).Select(m => m.Amount));
        Assert.Empty(TenderRules.CashQuickAmounts(M(0)));
    }

    [Fact]
    public void Cash_over_the_balance_is_change_not_payment()
    {
        var invoice = InvoicePricer.Price(new InvoiceDraft(UsdCode, [Line(InvoiceLineKind.RetailProduct, 8340)]), []).Ok();
        var open = InvoiceTotalsCalculator.Compute(invoice, InvoiceLifecycle.Opened, [], []);
        var cash = TenderRules.Cash(Guid.NewGuid(), M(10000), open.BalanceDue).Tender!;
        Assert.Equal(M(8340), cash.Amount);
        Assert.Equal(M(1660), cash.ChangeDue);
        Assert.Equal(M(1660), TenderRules.ChangeDue(M(10000), open.BalanceDue));
        Assert.Null(TenderRules.ValidatePayment(open, [cash]));
        var paid = InvoiceTotalsCalculator.Compute(invoice, InvoiceLifecycle.Opened, [cash], []);
        Assert.Equal((InvoiceStatus.Paid, M(0), M(1660)), (paid.Status, paid.BalanceDue, paid.ChangeDue));

        var exact = TenderRules.Cash(Guid.NewGuid(), M(5000), open.BalanceDue).Tender!;
        Assert.Equal((M(5000), M(0)), (exact.Amount, exact.ChangeDue));
    }

    [Fact]
    public void Payments_are_refused_when_they_overpay_are_empty_or_the_invoice_is_not_payable()
    {
        var invoice = InvoicePricer.Price(new InvoiceDraft(UsdCode, [Line(InvoiceLineKind.RetailProduct, 1000)]), []).Ok();
        var open = InvoiceTotalsCalculator.Compute(invoice, InvoiceLifecycle.Opened, [], []);
        Assert.NotNull(TenderRules.ValidatePayment(open, [new Tender(Guid.NewGuid(), TenderKind.Credit, M(1001))]));
        Assert.NotNull(TenderRules.ValidatePayment(open,
            [new Tender(Guid.NewGuid(), TenderKind.Credit, M(600)), new Tender(Guid.NewGuid(), TenderKind.Cash, M(401))]));
        Assert.NotNull(TenderRules.ValidatePayment(open, []));
        Assert.Equal("tenders[0].amount", TenderRules.ValidatePayment(open, [new Tender(Guid.NewGuid(), TenderKind.Credit, M(0))])?.Field);
        Assert.NotNull(TenderRules.ValidatePayment(open, [new Tender(Guid.NewGuid(), TenderKind.Credit, new Money(10, "EUR"))]));
        Assert.NotNull(TenderRules.ValidatePayment(open, [new Tender(Guid.NewGuid(), TenderKind.Credit, M(10), Tendered: M(20))]));

        var draft = InvoiceTotalsCalculator.Compute(invoice, InvoiceLifecycle.Draft, [], []);
        Assert.Equal("conflict", TenderRules.ValidatePayment(draft, [new Tender(Guid.NewGuid(), TenderKind.Credit, M(10))])?.Code);
        var full = new Tender(Guid.NewGuid(), TenderKind.Credit, M(1000));
        var paid = InvoiceTotalsCalculator.Compute(invoice, InvoiceLifecycle.Opened, [full], []);
        Assert.NotNull(TenderRules.ValidatePayment(paid, [new Tender(Guid.NewGuid(), TenderKind.Cash, M(1))]));
    }

    [Fact]
    public void Refunds_go_back_to_their_tender_and_never_exceed_it()
    {
        var card = new Tender(Guid.NewGuid(), TenderKind.Credit, M(1000));
        var first = new TenderRefund(Guid.NewGuid(), card.Id, M(600));
        Assert.Null(TenderRules.ValidateRefund(card, [], first));
        Assert.NotNull(TenderRules.ValidateRefund(card, [first], new TenderRefund(Guid.NewGuid(), card.Id, M(401))));
        Assert.Null(TenderRules.ValidateRefund(card, [first], new TenderRefund(Guid.NewGuid(), card.Id, M(400))));
        Assert.NotNull(TenderRules.ValidateRefund(card, [], new TenderRefund(Guid.NewGuid(), Guid.NewGuid(), M(1))));
        Assert.NotNull(TenderRules.ValidateRefund(card, [], new TenderRefund(Guid.NewGuid(), card.Id, M(0))));
    }

    [Fact]
    public void Partial_refund_of_a_paid_invoice_keeps_it_paid_with_no_balance_to_collect()
    {
        var invoice = InvoicePricer.Price(new InvoiceDraft(UsdCode, [Line(InvoiceLineKind.RetailProduct, 1000)]), []).Ok();
        var card = new Tender(Guid.NewGuid(), TenderKind.Credit, M(1000));
        var t = InvoiceTotalsCalculator.Compute(invoice, InvoiceLifecycle.Opened, [card], [new TenderRefund(Guid.NewGuid(), card.Id, M(250))]);
        Assert.Equal((InvoiceStatus.Paid, true, M(0), M(250)), (t.Status, t.IsPartiallyRefunded, t.BalanceDue, t.Refunded));
        var all = InvoiceTotalsCalculator.Compute(invoice, InvoiceLifecycle.Opened, [card], [new TenderRefund(Guid.NewGuid(), card.Id, M(1000))]);
        Assert.Equal((InvoiceStatus.Refunded, false), (all.Status, all.IsPartiallyRefunded));
    }

    [Fact]
    public void An_invoice_is_voided_only_while_it_holds_no_money()
    {
        var invoice = InvoicePricer.Price(new InvoiceDraft(UsdCode, [Line(InvoiceLineKind.RetailProduct, 1000)]), []).Ok();
        Assert.Null(InvoiceTotalsCalculator.CheckVoid(InvoiceTotalsCalculator.Compute(invoice, InvoiceLifecycle.Opened, [], [])));
        var card = new Tender(Guid.NewGuid(), TenderKind.Credit, M(10));
        var holding = InvoiceTotalsCalculator.Compute(invoice, InvoiceLifecycle.Opened, [card], []);
        Assert.Equal("conflict", InvoiceTotalsCalculator.CheckVoid(holding)?.Code);
        // Every payment refunded: nothing held, $9.90 still due → the void cancels the rest.
        var refundedInFull = InvoiceTotalsCalculator.Compute(
            invoice, InvoiceLifecycle.Opened, [card], [new TenderRefund(Guid.NewGuid(), card.Id, M(10))]);
        Assert.Equal((InvoiceStatus.Open, M(990)), (refundedInFull.Status, refundedInFull.BalanceDue));
        Assert.Null(InvoiceTotalsCalculator.CheckVoid(refundedInFull));
        Assert.NotNull(InvoiceTotalsCalculator.CheckVoid(
            InvoiceTotalsCalculator.Compute(invoice, InvoiceLifecycle.Voided, [], [])));
    }
}
