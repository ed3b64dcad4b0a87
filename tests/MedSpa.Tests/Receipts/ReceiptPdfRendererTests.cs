using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Silo.Receipts;
using SkiaSharp;
using UglyToad.PdfPig;
using static MedSpa.Silo.Receipts.ReceiptDocumentBuilder;
using static MedSpa.Tests.Receipts.SampleReceipts;

namespace MedSpa.Tests.Receipts;

/// <summary>The PDF itself, checked by extracting its text (PdfPig) and images; invoices priced by the real checkout rules.</summary>
public sealed class ReceiptPdfRendererTests
{
    private const string Url = "https://clinic.example/r/AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8";
    private static readonly Guid Rivera = Guid.NewGuid();
    private static readonly Guid Chen = Guid.NewGuid();
    private static readonly Dictionary<Guid, string> Providers = new() { [Rivera] = "Dr. Ana Rivera", [Chen] = "Mia Chen, RN" };

    private static InvoiceView PaidVisit()
    {
        var lines = new[]
        {
            new InvoiceLine(Guid.NewGuid(), InvoiceLineKind.Injectable, "Botox Cosmetic", 24m, Usd(1400), Rivera,
                HsaFsaEligible: false, Lot: new ProductLot("C3709C3", new DateOnly(2027, 3, 31))),
            new InvoiceLine(Guid.NewGuid(), InvoiceLineKind.Service, "Acne laser treatment", 1m, Usd(25000), Chen, HsaFsaEligible: true,
                Discount: Discount.OfPercent(10m)),
            new InvoiceLine(Guid.NewGuid(), InvoiceLineKind.RetailProduct, "SkinCeuticals CE Ferulic", 1m, Usd(18200), TaxCategory: "retail"),
        };
        // Cash: $100 handed over for the last $78.15 → change.
        var priced = Invoice(lines, [], TipRequest.OfPercent(20m), TipSplit.ByServiceRevenue());
        var total = priced.Totals.Total;
        var check = new Tender(Guid.NewGuid(), TenderKind.Check, total - Usd(7815), null, "chk 1001");
        var cash = new Tender(Guid.NewGuid(), TenderKind.Cash, Usd(7815), Usd(10000));
        return Invoice(lines, [check, cash], TipRequest.OfPercent(20m), TipSplit.ByServiceRevenue());
    }

    private static byte[] Render(InvoiceView view, ReceiptClinic? clinic = null, string? patient = "Jane Doe",
        IReadOnlyList<ReceiptPackageBalance>? packages = null) =>
        new ReceiptPdfRenderer().Render(Build(view, clinic ?? Clinic(), patient, Providers, Url, packages));

    [Fact]
    public void Receipt_text_has_clinic_invoice_lines_tax_tips_tenders_change_and_footer()
    {
        var view = PaidVisit();
        var pdf = Render(view);
        var text = Text(pdf);
        var t = view.Totals;

        // The font is subset before it ships (Skia embeds the whole file): a receipt stays small enough to email.
        Assert.True(pdf.Length < 200_000, $"a one-page receipt is {pdf.Length} bytes");

        Assert.Contains("Glow Aesthetics SoHo", text);
        Assert.Contains("123 Spring Street", text);
        Assert.Contains("Invoice INV-2026-0042", text);
        Assert.Contains("November 24, 2026 10:30 AM", text); // 15:30 UTC in New York
        Assert.Contains("Patient: Jane Doe", text);
        Assert.Contains("Botox Cosmetic 24 units $14.00", text);
        Assert.Contains("$336.00", text);
        Assert.Contains("Lot C3709C3, exp. 2027-03-31", text);
        Assert.Contains("Acne laser treatment † 1 $250.00 -$25.00", text);
        Assert.Contains("SkinCeuticals CE Ferulic 1 $182.00", text);
        Assert.Contains($"Tax {Format(t.Tax)}", text);
        Assert.Equal(1615, t.Tax.Amount); // 8.875 % of $182.00, retail only
        Assert.Contains($"Subtotal {Format(t.Subtotal)}", text);
        Assert.Contains($"Line discounts -$25.00", text);
        foreach (var tip in view.TipAllocations)
        {
            Assert.Contains($"Tip — {Providers[tip.ProviderId]} {Format(tip.Amount)}", text);
        }

        Assert.Equal(2, view.TipAllocations.Count);
        Assert.Contains($"Tips total {Format(t.Tips)}", text);
        Assert.Contains($"Total {Format(t.Total)}", text);
        Assert.Contains($"Check (chk 1001) {Format(view.Tenders[0].Amount)}", text);
        Assert.Contains("Cash — tendered $100.00 $78.15", text);
        Assert.Contains("Change given $21.85", text);
        Assert.Contains("Change due $21.85", text);
        Assert.Contains("Balance due $0.00", text);
        Assert.Contains("Thank you for visiting! Returns within 30 days.", text);
        Assert.Contains(Url[..40], text.Replace(" ", "", StringComparison.Ordinal));
        Assert.Contains("Page 1 of 1", text);
    }

    /// <summary>
    /// The printed link breaks only between path segments, never inside the signed token (a token split over two lines
    /// breaks when copied): with the usual link, a long public base URL, and a base so long the token needs a line of
    /// its own, some printed line holds the whole token and the lines joined give back the exact link.
    /// </summary>
    [Theory]
    [InlineData("https://clinic.example/r/")]
    [InlineData("https://receipts.glow-aesthetics-soho-new-york.example.com/r/")]
    [InlineData("https://receipts.glow-aesthetics-soho-new-york.example.com/tenants/glow-aesthetics/clinics/soho/public/receipts/r/")]
    public void Receipt_link_is_never_broken_inside_its_token(string baseUrl)
    {
        const string token = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4_QEFCQ0RFRkdISUpLTE1OT1BR";
        var url = baseUrl + token;
        var pdf = new ReceiptPdfRenderer().Render(Build(PaidVisit(), Clinic(), "Jane Doe", Providers, url, null));
        using var doc = PdfDocument.Open(pdf);
        // Printed lines: letters grouped by baseline, left to right (no word splitting, so a break shows as two lines).
        var lines = doc.GetPages().SelectMany(p => p.Letters
                .GroupBy(l => Math.Round(l.StartBaseLine.Y, 1))
                .OrderByDescending(g => g.Key)
                .Select(g => string.Concat(g.OrderBy(l => l.StartBaseLine.X).Select(l => l.Value))))
            .ToList();
        Assert.Contains(lines, l => l.Contains(token, StringComparison.Ordinal));
        // The link's lines, in print order (the QR code's caption sits on a baseline between them, to the left).
        var linkLines = lines.SkipWhile(l => !url.StartsWith(l.Trim(), StringComparison.Ordinal) || l.Trim().Length < 8)
            .Where(l => url.Contains(l.Trim(), StringComparison.Ordinal)).ToList();
        var joined = "";
        foreach (var line in linkLines)
        {
            joined += line.Trim();
            if (joined.Length >= url.Length)
            {
                break;
            }
        }

        Assert.Equal(url, joined);
    }

    [Fact]
    public void Hsa_fsa_section_itemises_eligible_and_ineligible_amounts()
    {
        var view = PaidVisit();
        var text = Text(Render(view));
        var eligible = view.Lines.Single(l => l.Line.HsaFsaEligible);

        Assert.Contains("HSA/FSA summary", text);
        Assert.Contains($"Eligible items (medical services and products): Acne laser treatment {Format(eligible.Charged)}", text);
        Assert.Contains("Not eligible: Botox Cosmetic $336.00 SkinCeuticals CE Ferulic", text);
        Assert.Contains($"HSA/FSA eligible total {Format(view.Totals.HsaFsaEligible)}", text);
        Assert.Equal(22500, view.Totals.HsaFsaEligible.Amount); // $250 less 10 %, untaxed
        Assert.Contains($"Not eligible total {Format(view.Totals.Total - view.Totals.HsaFsaEligible)}", text);
        Assert.Contains("Paid with HSA/FSA cards $0.00", text);
    }

    [Fact]
    public void Hsa_card_payment_is_reported_in_the_hsa_fsa_section()
    {
        var lines = new[] { new InvoiceLine(Guid.NewGuid(), InvoiceLineKind.Service, "Medical consult", 1m, Usd(15000), HsaFsaEligible: true) };
        var view = Invoice(lines, [new Tender(Guid.NewGuid(), TenderKind.Hsa, Usd(15000), null, "visa 4242")]);
        var text = Text(Render(view));
        Assert.Contains("HSA card (visa 4242) $150.00", text);
        Assert.Contains("Paid with HSA/FSA cards $150.00", text);
        Assert.Contains("Not eligible total $0.00", text);
    }

    [Fact]
    public void Package_balances_section_appears_only_when_given()
    {
        var view = PaidVisit();
        Assert.DoesNotContain("Package balances", Text(Render(view)));

        var text = Text(Render(view, packages:
        [
            new ReceiptPackageBalance("Laser hair removal x6", "3 of 6 sessions left", new DateOnly(2027, 6, 30)),
            new ReceiptPackageBalance("Botox bank", "40 units left"),
        ]));
        Assert.Contains("Package balances", text);
        Assert.Contains("Laser hair removal x6 3 of 6 sessions left (expires Jun 30, 2027)", text);
        Assert.Contains("Botox bank 40 units left", text);
    }

    [Fact]
    public void Patient_name_is_left_out_when_not_given()
    {
        var text = Text(Render(PaidVisit(), patient: null));
        Assert.DoesNotContain("Patient:", text);
        Assert.DoesNotContain("Jane Doe", text);
    }

    [Fact]
    public void Many_lines_flow_onto_more_pages_with_every_line_printed_once()
    {
        var lines = Enumerable.Range(1, 120)
            .Select(i => new InvoiceLine(Guid.NewGuid(), InvoiceLineKind.RetailProduct, $"Product number {i:D3}", 1m, Usd(100 + i)))
            .ToArray();
        var view = Invoice(lines, [new Tender(Guid.NewGuid(), TenderKind.Cash, Usd(lines.Sum(l => l.UnitPrice.Amount)))]);
        var pages = PageTexts(Render(view));

        Assert.True(pages.Count >= 3, $"expected at least 3 pages, got {pages.Count}");
        var all = string.Join("\n", pages);
        for (var i = 1; i <= 120; i++)
        {
            Assert.Single(System.Text.RegularExpressions.Regex.Matches(all, $"Product number {i:D3} "));
        }

        for (var p = 1; p <= pages.Count; p++)
        {
            Assert.Contains($"Page {p} of {pages.Count}", pages[p - 1]);
        }

        Assert.Contains("receipt INV-2026-0042 (continued)", pages[1]);
        Assert.Contains("Item Qty Price Discount Tax Amount", pages[1]); // the table headings repeat
        Assert.Contains("Thank you for visiting!", pages[^1]);
    }

    [Fact]
    public void Long_footer_text_wraps_and_stays_whole()
    {
        var footer = string.Join(" ", Enumerable.Range(1, 60).Select(i => $"word{i}"));
        var text = Text(Render(PaidVisit(), Clinic(footer: footer)));
        Assert.Contains(footer, text);
    }

    [Fact]
    public void Qr_code_image_encodes_the_receipt_url()
    {
        var pdf = Render(PaidVisit());
        using var doc = PdfDocument.Open(pdf);
        var images = doc.GetPages().SelectMany(p => p.GetImages()).ToArray();
        var image = Assert.Single(images); // no logo: the QR code is the only image

        Assert.True(image.TryGetPng(out var png), "the QR image could be read back from the PDF");
        using var bitmap = SKBitmap.Decode(png);
        var expected = ReceiptQrCode.Modules(Url);
        var size = expected.Length;
        Assert.Equal(size * ReceiptQrCode.PixelsPerModule, bitmap.Width);
        Assert.Equal(bitmap.Width, bitmap.Height);
        for (var y = 0; y < size; y++)
        {
            for (var x = 0; x < size; x++)
            {
                var c = bitmap.GetPixel(x * ReceiptQrCode.PixelsPerModule + 2, y * ReceiptQrCode.PixelsPerModule + 2);
                var dark = (c.Red + c.Green + c.Blue) / 3 < 128;
                Assert.True(expected[y][x] == dark, $"module ({x},{y}) differs from the QR code of the URL");
            }
        }
    }

    [Fact]
    public void Clinic_logo_is_drawn_on_the_receipt()
    {
        var logo = TestImages.Png(240, 80, SKColors.MediumVioletRed);
        var pdf = Render(PaidVisit(), Clinic(logo));
        using var doc = PdfDocument.Open(pdf);
        var images = doc.GetPage(1).GetImages().ToArray();
        Assert.Equal(2, images.Length);
        Assert.Contains(images, i => i.WidthInSamples == 240 && i.HeightInSamples == 80);
    }
}
