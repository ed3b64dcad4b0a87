using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Domain.Checkout;
using MedSpa.Silo.Receipts;
using UglyToad.PdfPig;

namespace MedSpa.Tests.Receipts;

/// <summary>Invoices priced by the real checkout rules (no grain, no database) for the renderer tests, and PDF text helpers.</summary>
public static class SampleReceipts
{
    public static Money Usd(long cents) => new(cents, "USD");

    public static readonly TaxRate StateTax = new("state", "State tax", 8.875m, ["retail"]);

    /// <summary>Prices <paramref name="lines"/> with the clinic's tax rate, applies the tenders and returns the view the
    /// invoice grain would answer for a finalised invoice.</summary>
    public static InvoiceView Invoice(IReadOnlyList<InvoiceLine> lines, IReadOnlyList<Tender> tenders, TipRequest? tip = null,
        TipSplit? split = null, Discount? invoiceDiscount = null, IReadOnlyList<TenderRefund>? refunds = null)
    {
        var priced = InvoicePricer.Price(new InvoiceDraft("USD", lines, invoiceDiscount, null, tip, split), [StateTax]).Value("The sample invoice");
        var totals = InvoiceTotalsCalculator.Compute(priced, InvoiceLifecycle.Opened, tenders, refunds ?? []);
        var at = new DateTimeOffset(2026, 11, 24, 15, 30, 0, TimeSpan.Zero);
        return new InvoiceView(Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), "INV-2026-0042", totals.Status, "USD", priced.Lines,
            invoiceDiscount, tip, split, priced.TipAllocations, tenders, refunds ?? [], totals, at, at, at, 7);
    }

    public static ReceiptClinic Clinic(byte[]? logo = null, string? footer = "Thank you for visiting! Returns within 30 days.") =>
        new("Glow Aesthetics SoHo", ["123 Spring Street", "New York, NY 10012"], "(212) 555-0100", "hello@glow.example", null,
            "America/New_York", logo, footer);

    /// <summary>All text of the PDF, page by page, words joined by single spaces.</summary>
    public static IReadOnlyList<string> PageTexts(byte[] pdf)
    {
        using var doc = PdfDocument.Open(pdf);
        return doc.GetPages().Select(p => string.Join(" ", p.GetWords().Select(w => w.Text))).ToArray();
    }

    public static string Text(byte[] pdf) => string.Join("\n", PageTexts(pdf));
}
