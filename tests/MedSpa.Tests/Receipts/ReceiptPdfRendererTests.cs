using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Silo.Receipts;
using static MedSpa.Tests.Receipts.SampleReceipts;

namespace MedSpa.Tests.Receipts;

public sealed class ReceiptPdfRendererTests
{
    [Fact]
    public void Receipt_text_is_extractable()
    {
        var provider = Guid.NewGuid();
        var lines = new[]
        {
            new InvoiceLine(Guid.NewGuid(), InvoiceLineKind.Injectable, "Botox Cosmetic", 24m, Usd(1400), provider, HsaFsaEligible: false),
            new InvoiceLine(Guid.NewGuid(), InvoiceLineKind.RetailProduct, "SkinCeuticals CE Ferulic", 1m, Usd(18200), TaxCategory: "retail"),
        };
        var view = Invoice(lines, [new Tender(Guid.NewGuid(), TenderKind.Cash, Usd(53800), Usd(60000))]);
        var doc = ReceiptDocumentBuilder.Build(view, Clinic(), "Jane Doe", new Dictionary<Guid, string> { [provider] = "Dr. Rivera" },
            "https://medspa.example/r/abc");
        var pdf = new ReceiptPdfRenderer().Render(doc);
        var text = Text(pdf);
        Assert.Contains("Glow Aesthetics SoHo", text);
        Assert.Contains("INV-2026-0042", text);
    }
}
