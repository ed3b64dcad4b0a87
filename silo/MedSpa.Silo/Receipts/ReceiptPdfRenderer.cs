using System.Globalization;
using MedSpa.GrainInterfaces;
using SkiaSharp;
using static MedSpa.Silo.Receipts.ReceiptDocumentBuilder;

namespace MedSpa.Silo.Receipts;

/// <summary>
/// Lays a <see cref="ReceiptDocument"/> out on US Letter pages with Skia's PDF backend. Rendering runs twice: once
/// on a no-draw canvas to count the pages (so each page can say "Page 2 of 3"), then into the PDF. Rows that do
/// not fit start a new page, which repeats the invoice number and, inside the item table, the column headings.
/// </summary>
public sealed class ReceiptPdfRenderer
{
    private const float PageWidth = PdfTextLayout.LetterWidth;
    private const float PageHeight = PdfTextLayout.LetterHeight;
    private const float Margin = 48f;
    private const float ContentWidth = PageWidth - 2 * Margin;
    private const float BottomLimit = PageHeight - Margin - 18f; // room for the page number

    public byte[] Render(ReceiptDocument receipt)
    {
        ArgumentNullException.ThrowIfNull(receipt);
        using var logo = receipt.Clinic.Logo is { Length: > 0 } bytes ? SKImage.FromEncodedData(bytes) : null;
        using var qr = receipt.PublicUrl is { Length: > 0 } url ? SKImage.FromEncodedData(ReceiptQrCode.Png(url)) : null;

        var pages = new Layout(receipt, logo, qr, totalPages: 0, document: null).Run();

        using var output = new MemoryStream();
        var metadata = new SKDocumentPdfMetadata
        {
            Title = $"Receipt {receipt.InvoiceNumber}",
            Author = receipt.Clinic.Name,
            Creator = "MedSpa.Orleans",
            Producer = "MedSpa.Orleans (Skia PDF)",
            Creation = receipt.IssuedAt.UtcDateTime,
            Modified = receipt.IssuedAt.UtcDateTime,
            RasterDpi = 300,
            // Lossless (Flate) images: the default of a fresh metadata struct is 0, i.e. JPEG at quality 0, which
            // smears the QR code's modules. JPEG logos are passed through as they are either way.
            EncodingQuality = 101,
        };
        using (var document = SKDocument.CreatePdf(output, metadata))
        {
            new Layout(receipt, logo, qr, pages, document).Run();
            document.Close();
        }

        return output.ToArray();
    }

    /// <summary>One pass over the receipt: draws into <c>document</c>, or only measures when it is null.</summary>
    private sealed class Layout : IDisposable
    {
        private readonly ReceiptDocument _r;
        private readonly SKImage? _logo;
        private readonly SKImage? _qr;
        private readonly int _totalPages;
        private readonly SKDocument? _document;
        private readonly SKFont _body = new(ReceiptFonts.Typeface, 9.5f);
        private readonly SKFont _small = new(ReceiptFonts.Typeface, 8f);
        private readonly SKFont _bold = new(ReceiptFonts.Typeface, 9.5f) { Embolden = true };
        private readonly SKFont _heading = new(ReceiptFonts.Typeface, 11f) { Embolden = true };
        private readonly SKFont _title = new(ReceiptFonts.Typeface, 18f) { Embolden = true };
        private readonly SKPaint _ink = new() { Color = new SKColor(0x1F, 0x23, 0x28), IsAntialias = true };
        private readonly SKPaint _muted = new() { Color = new SKColor(0x5F, 0x66, 0x6D), IsAntialias = true };
        private readonly SKPaint _rule = new() { Color = new SKColor(0xC8, 0xCD, 0xD2), StrokeWidth = 0.75f, IsAntialias = true };
        private SKCanvas? _canvas;
        private int _page;
        private float _y;

        // Item table columns: description, qty, unit price, discount, tax, amount (right edges for numbers).
        private static readonly float ColQty = Margin + ContentWidth * 0.56f;
        private static readonly float ColPrice = Margin + ContentWidth * 0.67f;
        private static readonly float ColDiscount = Margin + ContentWidth * 0.78f;
        private static readonly float ColTax = Margin + ContentWidth * 0.88f;
        private static readonly float ColAmount = Margin + ContentWidth;

        public Layout(ReceiptDocument receipt, SKImage? logo, SKImage? qr, int totalPages, SKDocument? document)
        {
            _r = receipt;
            _logo = logo;
            _qr = qr;
            _totalPages = totalPages;
            _document = document;
        }

        public int Run()
        {
            try
            {
                NewPage(continuation: false);
                Header();
                Items();
                Totals();
                Payments();
                HsaFsa();
                Packages();
                QrAndFooter();
                EndPage();
                return _page;
            }
            finally
            {
                Dispose();
            }
        }

        public void Dispose()
        {
            EndPageCanvasOnly();
            _body.Dispose();
            _small.Dispose();
            _bold.Dispose();
            _heading.Dispose();
            _title.Dispose();
            _ink.Dispose();
            _muted.Dispose();
            _rule.Dispose();
        }

        // ---- pages -------------------------------------------------------------------------------------------

        private void NewPage(bool continuation)
        {
            EndPage();
            _page++;
            _canvas = _document is null ? new SKNoDrawCanvas((int)PageWidth, (int)PageHeight) : _document.BeginPage(PageWidth, PageHeight);
            _y = Margin;
            if (continuation)
            {
                Text($"{_r.Clinic.Name} — receipt {_r.InvoiceNumber} (continued)", Margin, _y + 10, _muted, _small);
                _y += 22;
            }
        }

        private void EndPage()
        {
            if (_canvas is null)
            {
                return;
            }

            var label = _totalPages > 0
                ? $"Page {_page.ToString(CultureInfo.InvariantCulture)} of {_totalPages.ToString(CultureInfo.InvariantCulture)}"
                : $"Page {_page.ToString(CultureInfo.InvariantCulture)}";
            Text(label, PageWidth - Margin, PageHeight - Margin + 6, _muted, _small, SKTextAlign.Right);
            EndPageCanvasOnly();
        }

        private void EndPageCanvasOnly()
        {
            if (_canvas is null)
            {
                return;
            }

            if (_document is null)
            {
                _canvas.Dispose();
            }
            else
            {
                _document.EndPage();
            }

            _canvas = null;
        }

        /// <summary>Starts a new page unless <paramref name="height"/> more points fit on this one.</summary>
        private bool Ensure(float height)
        {
            if (_y + height <= BottomLimit)
            {
                return false;
            }

            NewPage(continuation: true);
            return true;
        }

        // ---- sections ----------------------------------------------------------------------------------------

        private void Header()
        {
            var left = Margin;
            if (_logo is not null)
            {
                // Fit the logo in 150 × 60 pt, keeping its aspect ratio.
                var scale = Math.Min(150f / _logo.Width, 60f / _logo.Height);
                var w = _logo.Width * scale;
                var h = _logo.Height * scale;
                _canvas!.DrawImage(_logo, SKRect.Create(Margin, _y, w, h), new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear));
                left = Margin + w + 14;
            }

            var top = _y;
            var y = top + 16;
            Text(_r.Clinic.Name, left, y, _ink, _title);
            y += 14;
            foreach (var line in _r.Clinic.AddressLines.Concat(new[] { _r.Clinic.Phone, _r.Clinic.Email, _r.Clinic.Website }.OfType<string>()))
            {
                Text(line, left, y, _muted, _small);
                y += 10.5f;
            }

            var ry = top + 16;
            var right = PageWidth - Margin;
            Text("RECEIPT", right, ry, _ink, _heading, SKTextAlign.Right);
            ry += 14;
            Text($"Invoice {_r.InvoiceNumber}", right, ry, _ink, _bold, SKTextAlign.Right);
            ry += 12;
            Text(_r.IssuedAt.ToString("MMMM d, yyyy h:mm tt", CultureInfo.InvariantCulture), right, ry, _muted, _body, SKTextAlign.Right);
            ry += 12;
            if (_r.PatientName is { Length: > 0 } patient)
            {
                Text($"Patient: {patient}", right, ry, _ink, _body, SKTextAlign.Right);
                ry += 12;
            }

            Text($"Status: {_r.Status}", right, ry, _muted, _body, SKTextAlign.Right);
            ry += 12;

            var logoBottom = _logo is null ? top : top + Math.Min(60f, _logo.Height * Math.Min(150f / _logo.Width, 60f / _logo.Height));
            _y = Math.Max(Math.Max(y, ry), logoBottom) + 10;
            Rule();
        }

        private void ItemHeadings()
        {
            var y = _y + 11;
            Text("Item", Margin, y, _muted, _bold);
            Text("Qty", ColQty, y, _muted, _bold, SKTextAlign.Right);
            Text("Price", ColPrice, y, _muted, _bold, SKTextAlign.Right);
            Text("Discount", ColDiscount, y, _muted, _bold, SKTextAlign.Right);
            Text("Tax", ColTax, y, _muted, _bold, SKTextAlign.Right);
            Text("Amount", ColAmount, y, _muted, _bold, SKTextAlign.Right);
            _y += 16;
            Rule();
        }

        private void Items()
        {
            _y += 6;
            ItemHeadings();
            var descriptionWidth = ColQty - Margin - 40;
            foreach (var line in _r.Lines)
            {
                var description = Wrap(line.Description + (line.HsaFsaEligible ? " †" : ""), _body, descriptionWidth);
                var height = 13f * description.Count + (line.Detail is null ? 0 : 10f) + 3;
                if (Ensure(height))
                {
                    ItemHeadings();
                }

                var y = _y + 11;
                Text(description[0], Margin, y, _ink, _body);
                Text(line.Quantity, ColQty, y, _ink, _body, SKTextAlign.Right);
                Text(Format(line.UnitPrice), ColPrice, y, _ink, _body, SKTextAlign.Right);
                Text(line.Discount.IsZero ? "" : "-" + Format(line.Discount), ColDiscount, y, _ink, _body, SKTextAlign.Right);
                Text(line.Tax.IsZero ? "" : Format(line.Tax) + (line.TaxIncluded ? " incl." : ""), ColTax, y, _ink, _body, SKTextAlign.Right);
                Text(Format(line.Charged), ColAmount, y, _ink, _body, SKTextAlign.Right);
                foreach (var more in description.Skip(1))
                {
                    y += 13;
                    Text(more, Margin, y, _ink, _body);
                }

                if (line.Detail is { } detail)
                {
                    y += 10;
                    Text(detail, Margin + 8, y, _muted, _small);
                }

                _y = y + 5;
            }

            if (_r.Lines.Any(l => l.HsaFsaEligible))
            {
                Ensure(12);
                Text("† HSA/FSA eligible", Margin, _y + 9, _muted, _small);
                _y += 12;
            }

            Rule();
        }

        private void Totals()
        {
            _y += 4;
            Figure("Subtotal", _r.Subtotal);
            if (!_r.LineDiscounts.IsZero)
            {
                Figure("Line discounts", -_r.LineDiscounts);
            }

            if (!_r.InvoiceDiscount.IsZero)
            {
                Figure(_r.InvoiceDiscountReason is { Length: > 0 } reason ? $"Invoice discount ({reason})" : "Invoice discount", -_r.InvoiceDiscount);
            }

            Figure(_r.TaxIncluded.IsZero ? "Tax" : $"Tax (incl. {Format(_r.TaxIncluded)} in prices)", _r.Tax);
            foreach (var tip in _r.Tips)
            {
                Figure($"Tip — {tip.Provider}", tip.Amount);
            }

            if (_r.Tips.Count > 1)
            {
                Figure("Tips total", _r.TipsTotal);
            }

            Figure("Total", _r.Total, bold: true);
        }

        private void Payments()
        {
            Section("Payments");
            if (_r.Tenders.Count == 0)
            {
                Row("No payments yet", null);
            }

            foreach (var t in _r.Tenders)
            {
                var label = t.Detail is { Length: > 0 } d ? $"{t.Kind} ({d})" : t.Kind;
                if (t.Tendered is { } tendered)
                {
                    label += $" — tendered {Format(tendered)}";
                }

                Row(label, Format(t.Amount));
                if (!t.Change.IsZero)
                {
                    Row("Change given", Format(t.Change), indent: 14);
                }
            }

            foreach (var refund in _r.Refunds)
            {
                Row($"Refund to {refund.Tender}" + (refund.Reason is { Length: > 0 } why ? $" ({why})" : ""), "-" + Format(refund.Amount));
            }

            Figure("Paid", _r.Paid);
            if (!_r.ChangeDue.IsZero)
            {
                Figure("Change due", _r.ChangeDue);
            }

            if (!_r.Refunded.IsZero)
            {
                Figure("Refunded", -_r.Refunded);
            }

            Figure("Balance due", _r.BalanceDue, bold: true);
        }

        /// <summary>Only when something on the invoice is HSA/FSA eligible or an HSA/FSA card paid: otherwise the
        /// section would repeat every line only to say none of them counts.</summary>
        private void HsaFsa()
        {
            if (_r.HsaFsa.EligibleLines.Count == 0 && _r.HsaFsa.PaidWithHsaFsa.IsZero)
            {
                return;
            }

            Section("HSA/FSA summary");
            Row("Eligible items (medical services and products):", null, _bold);
            foreach (var line in _r.HsaFsa.EligibleLines)
            {
                Row(line.Description, Format(line.Charged), indent: 14);
            }

            if (_r.HsaFsa.EligibleLines.Count == 0)
            {
                Row("None", null, indent: 14);
            }

            Row("Not eligible:", null, _bold);
            foreach (var line in _r.HsaFsa.IneligibleLines)
            {
                Row(line.Description, Format(line.Charged), indent: 14);
            }

            if (!_r.TipsTotal.IsZero)
            {
                Row("Tips", Format(_r.TipsTotal), indent: 14);
            }

            Figure("HSA/FSA eligible total", _r.HsaFsa.Eligible, bold: true);
            Figure("Not eligible total", _r.HsaFsa.Ineligible);
            Figure("Paid with HSA/FSA cards", _r.HsaFsa.PaidWithHsaFsa);
        }

        private void Packages()
        {
            if (_r.Packages.Count == 0)
            {
                return;
            }

            Section("Package balances");
            foreach (var p in _r.Packages)
            {
                var remaining = p.ExpiresOn is { } exp
                    ? $"{p.Remaining} (expires {exp.ToString("MMM d, yyyy", CultureInfo.InvariantCulture)})"
                    : p.Remaining;
                Row(p.Package, remaining);
            }
        }

        private void QrAndFooter()
        {
            var footer = _r.Clinic.FooterText is { Length: > 0 } f ? Wrap(f, _body, ContentWidth - (_qr is null ? 0 : 100)) : [];
            const float qrSize = 84f;
            var height = Math.Max(_qr is null ? 0 : qrSize + 14, footer.Count * 12f) + 16;
            Ensure(height);
            _y += 10;
            Rule();
            var top = _y + 6;
            var textLeft = Margin;
            if (_qr is not null)
            {
                // Nearest-neighbour keeps the modules square when the viewer scales the bitmap.
                _canvas!.DrawImage(_qr, SKRect.Create(Margin, top, qrSize, qrSize), new SKSamplingOptions(SKFilterMode.Nearest));
                Text("Scan to view this receipt online", Margin, top + qrSize + 10, _muted, _small);
                textLeft = Margin + qrSize + 16;
            }

            var y = top + 12;
            foreach (var line in footer)
            {
                Text(line, textLeft, y, _ink, _body);
                y += 12;
            }

            if (_r.PublicUrl is { } url)
            {
                var width = ContentWidth - (textLeft - Margin);
                foreach (var part in WrapLink(url, _small, width))
                {
                    // The token never breaks: when it alone is wider than the line it is drawn smaller instead.
                    var measured = _small.MeasureText(part);
                    using var fitted = measured > width ? new SKFont(_small.Typeface, _small.Size * width / measured) : null;
                    Text(part, textLeft, Math.Max(y, top + qrSize - 10) + 2, _muted, fitted ?? _small);
                    y = Math.Max(y, top + qrSize - 10) + 10;
                }
            }

            _y = Math.Max(y, top + (_qr is null ? 0 : qrSize + 14));
        }

        // ---- primitives --------------------------------------------------------------------------------------

        private void Section(string title)
        {
            Ensure(40);
            _y += 14;
            Text(title, Margin, _y + 11, _ink, _heading);
            _y += 16;
            Rule();
            _y += 2;
        }

        /// <summary>A label and an amount on the right half of the page (the totals column).</summary>
        private void Figure(string label, Money amount, bool bold = false)
        {
            Ensure(14);
            var font = bold ? _bold : _body;
            Text(label, ColPrice - 60, _y + 11, _ink, font);
            Text(Format(amount), ColAmount, _y + 11, _ink, font, SKTextAlign.Right);
            _y += 14;
        }

        /// <summary>A full-width row: label on the left (wrapped), optional value on the right.</summary>
        private void Row(string label, string? value, SKFont? font = null, float indent = 0)
        {
            font ??= _body;
            var lines = Wrap(label, font, ContentWidth - 120 - indent);
            Ensure(13 * lines.Count);
            var y = _y + 11;
            if (value is not null)
            {
                Text(value, ColAmount, y, _ink, font, SKTextAlign.Right);
            }

            foreach (var line in lines)
            {
                Text(line, Margin + indent, y, _ink, font);
                y += 13;
            }

            _y = y - 11 + 1;
        }

        private void Rule()
        {
            _canvas!.DrawLine(Margin, _y, PageWidth - Margin, _y, _rule);
            _y += 1;
        }

        private void Text(string text, float x, float y, SKPaint paint, SKFont font, SKTextAlign align = SKTextAlign.Left) =>
            PdfTextLayout.Draw(_canvas!, text, x, y, paint, font, align);

        private static List<string> WrapLink(string url, SKFont font, float width) => PdfTextLayout.WrapLink(url, font, width);

        private static List<string> Wrap(string text, SKFont font, float width) => PdfTextLayout.Wrap(text, font, width);
    }
}
