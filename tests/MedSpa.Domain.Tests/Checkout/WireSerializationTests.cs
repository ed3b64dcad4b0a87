using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Domain.Checkout;
using MedSpa.Grains.Domain.Ledger;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using static MedSpa.Domain.Tests.Checkout.CheckoutFixtures;

namespace MedSpa.Domain.Tests.Checkout;

/// <summary>The contracts grains send and keep in state survive Orleans' serializer unchanged.</summary>
public sealed class WireSerializationTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddSerializer().BuildServiceProvider();

    private T RoundTrip<T>(T value)
    {
        var serializer = _services.GetRequiredService<Serializer>();
        return serializer.Deserialize<T>(serializer.SerializeToArray(value))!;
    }

    [Fact]
    public void Money_round_trips()
    {
        Assert.Equal(Usd(-1250), RoundTrip(Usd(-1250)));
        Assert.Equal(new Money(long.MaxValue, "JPY"), RoundTrip(new Money(long.MaxValue, "JPY")));
    }

    [Fact]
    public void Money_has_the_api_json_shape()
    {
        var options = new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web);
        Assert.Equal("{\"amount\":1250,\"currency\":\"USD\"}", System.Text.Json.JsonSerializer.Serialize(Usd(1250), options));
        Assert.Equal(Usd(1250), System.Text.Json.JsonSerializer.Deserialize<Money>("{\"amount\":1250,\"currency\":\"USD\"}", options));
    }

    [Fact]
    public void A_priced_invoice_and_its_ledger_entry_round_trip()
    {
        var line = Line(InvoiceLineKind.Filler, 65000, 1.5m, provider: ProviderA, inclusive: true, discount: Discount.OfPercent(12.5m),
            filler: new FillerDetails(1.2m, 1.0m, -0.5m)) with { Lot = new ProductLot("LOT-42", new DateOnly(2027, 3, 31)) };
        var priced = InvoicePricer.Price(new InvoiceDraft(UsdCode, [line], Tip: TipRequest.OfPercent(18m)), NycRates).Ok();
        var quote = new InvoiceQuote(priced.Lines, priced.TipAllocations,
            InvoiceTotalsCalculator.Compute(priced, InvoiceLifecycle.Opened, [], []));

        var copy = RoundTrip(quote);
        Assert.Equal(line, copy.Lines[0].Line);
        Assert.Equal(quote.Totals, copy.Totals);
        Assert.Equal(quote.Lines[0].Taxes, copy.Lines[0].Taxes);
        Assert.Equal(quote.Tips, copy.Tips);
        Assert.Equal(TipSplit.Custom(new TipShare(ProviderA, 40m), new TipShare(ProviderB, 60m)).Shares,
            RoundTrip(TipSplit.Custom(new TipShare(ProviderA, 40m), new TipShare(ProviderB, 60m))).Shares);

        var tender = new Tender(Guid.NewGuid(), TenderKind.Cash, quote.Totals.Total, Usd(200_000), "drawer-1");
        Assert.Equal(tender, RoundTrip(tender));

        var sale = CheckoutLedger.Sale("op-1", "INV-2026-0001", priced)!;
        var entry = RoundTrip(sale);
        Assert.Equal((sale.OperationId, sale.Kind, sale.Reference), (entry.OperationId, entry.Kind, entry.Reference));
        Assert.Equal(sale.Postings, entry.Postings);
    }

    public void Dispose() => _services.Dispose();
}
