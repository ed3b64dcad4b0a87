using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Domain.Checkout;
using static MedSpa.Domain.Tests.Checkout.CheckoutFixtures;

namespace MedSpa.Domain.Tests.Checkout;

/// <summary>The one place a payment's tenders are checked (the API only parses them): each tender, then the tenders
/// together, answered as a refusal naming the tender's field.</summary>
public sealed class TenderIntakeTests
{
    private static readonly CardsOnFile Cards = new("cus_1", "pm_default", new HashSet<string> { "pm_default", "pm_saved" });

    private static InvoiceTotals Open(long cents) =>
        InvoiceTotalsCalculator.Compute(InvoicePricer.Price(new InvoiceDraft(UsdCode, [Service(cents)]), []).Ok(), InvoiceLifecycle.Opened, [], []);

    private static (IReadOnlyList<IntakeTender> Tenders, Refusal? Refusal) Take(InvoiceTotals totals, params TenderInput[] inputs) =>
        TenderIntake.Take(inputs, totals, Guid.NewGuid(), Cards, (_, _) => null);

    [Fact]
    public void Cash_handed_over_pays_what_is_left_and_the_rest_is_change()
    {
        var (tenders, refusal) = Take(Open(8340), new TenderInput(TenderKind.Credit, Usd(3000), PaymentMethodId: "tok_visa"),
            new TenderInput(TenderKind.Cash, null, Tendered: Usd(10000)));
        Assert.Null(refusal);
        Assert.Equal([Usd(3000), Usd(5340)], tenders.Select(t => t.Tender.Amount));
        Assert.Equal(Usd(4660), tenders[1].Tender.ChangeDue);
    }

    [Fact]
    public void A_card_resolves_to_the_default_card_or_a_saved_card_on_the_patients_customer()
    {
        var (tenders, _) = Take(Open(5000), new TenderInput(TenderKind.Credit, Usd(2000), UseDefaultCard: true),
            new TenderInput(TenderKind.Debit, Usd(2000), PaymentMethodId: "pm_saved"),
            new TenderInput(TenderKind.Credit, Usd(1000), PaymentMethodId: "tok_new"));
        Assert.Equal([("pm_default", "cus_1"), ("pm_saved", "cus_1"), ("tok_new", null)], tenders.Select(t => (t.PaymentMethod!, t.CustomerId)));
    }

    [Fact]
    public void Each_refusal_names_the_tender_and_its_code()
    {
        var totals = Open(5000);
        Assert.Equal(("validation_failed", "tenders"), Codes(TenderIntake.Take([], totals, null, Cards, (_, _) => null)));
        Assert.Equal(
            ("validation_failed", "tenders[1].amount"),
            Codes(Take(totals, new TenderInput(TenderKind.Cash, Usd(100)), new TenderInput(TenderKind.Cash, null))));
        Assert.Equal(
            ("validation_failed", "tenders[0].paymentMethodId"),
            Codes(Take(totals, new TenderInput(TenderKind.Cash, Usd(100), PaymentMethodId: "pm_saved"))));
        Assert.Equal(
            ("validation_failed", "tenders[0].tendered"),
            Codes(Take(totals, new TenderInput(TenderKind.Credit, Usd(100), Usd(200), PaymentMethodId: "pm_saved"))));
        Assert.Equal(
            ("card_not_on_file", "tenders[0].paymentMethodId"),
            Codes(Take(totals, new TenderInput(TenderKind.Credit, Usd(100), PaymentMethodId: "tok_x", OffSession: true))));
        Assert.Equal(("no_default_card", "tenders[0].useDefaultCard"),
            Codes(TenderIntake.Take(
                [new TenderInput(TenderKind.Credit, Usd(100), UseDefaultCard: true)], totals, null, CardsOnFile.None, (_, _) => null)));
        // The tenders together: more than the balance due.
        Assert.Equal(
            ("validation_failed", "tenders"),
            Codes(Take(totals, new TenderInput(TenderKind.Cash, Usd(3000)), new TenderInput(TenderKind.Check, Usd(2001)))));
        // A kind that is not available names the tender's kind and index.
        var unwired = TenderIntake.Take([new TenderInput(TenderKind.GiftCard, Usd(100))], totals, null, Cards,
            (i, _) => new Refusal("tender_not_supported", "Not yet.").With("tenderIndex", i));
        Assert.Equal(("tender_not_supported", "tenders[0].kind"), Codes(unwired));
        Assert.Equal(0, unwired.Refusal!.Details!["tenderIndex"]);
    }

    private static (string, string?) Codes((IReadOnlyList<IntakeTender> Tenders, Refusal? Refusal) taken)
    {
        Assert.Empty(taken.Tenders);
        return (taken.Refusal!.Code, taken.Refusal.Field);
    }
}
