using System.Globalization;
using MedSpa.GrainInterfaces.Charts;
using MedSpa.Silo.Receipts;
using SkiaSharp;

namespace MedSpa.Silo.Charts;

/// <summary>A photo of the record: what it shows and its (decrypted) JPEG thumbnail, when it has one.</summary>
public sealed record ChartRecordPhoto(Guid Id, string? Zone, string? Pairing, DateTimeOffset UploadedAt, string Sha256, byte[]? Thumbnail);

/// <summary>
/// Everything the legal record of a signed chart prints (issue 17 §6): the chart as signed, with the people and the
/// clinic named, each lot's expiry, the photos' thumbnails and the drawn signatures' images.
/// </summary>
public sealed record ChartRecordDocument(
    TreatmentChart Chart,
    string ClinicName,
    string? ClinicAddress,
    TimeZoneInfo ClinicTimeZone,
    string PatientName,
    DateOnly? PatientBirthDate,
    string ProviderName,
    IReadOnlyDictionary<(Guid ProductId, string Lot), DateOnly> LotExpiry,
    IReadOnlyList<ChartRecordPhoto> Photos,
    IReadOnlyDictionary<Guid, byte[]> SignatureImages,
    DateTimeOffset GeneratedAt);

/// <summary>
/// Lays the record out on US Letter pages with Skia's PDF backend (as the receipts are): a header (clinic, patient,
/// provider, date), the face chart drawn with every point numbered and labelled with its units or volume, the points'
/// table, products with lots and expiry, SOAP notes, photo thumbnails, signatures (with their images, times, IP),
/// addenda, and the record's hash on every page. Text is drawn as text, so it can be extracted and searched.
/// </summary>
public static class ChartRecordPdf
{
    private const float PageWidth = PdfTextLayout.LetterWidth;
    private const float PageHeight = PdfTextLayout.LetterHeight;
    private const float Margin = 48f;
    private const float ContentWidth = PageWidth - 2 * Margin;
    private const float BottomLimit = PageHeight - Margin - 24f;

    public static byte[] Render(ChartRecordDocument record)
    {
        ArgumentNullException.ThrowIfNull(record);
        using var output = new MemoryStream();
        var metadata = new SKDocumentPdfMetadata
        {
            Title = $"Treatment record {record.Chart.VisitId}",
            Author = record.ClinicName,
            Creator = "MedSpa.Orleans",
            Producer = "MedSpa.Orleans (Skia PDF)",
            Creation = record.GeneratedAt.UtcDateTime,
            Modified = record.GeneratedAt.UtcDateTime,
            RasterDpi = 300,
            EncodingQuality = 101,
        };
        using (var document = SKDocument.CreatePdf(output, metadata))
        {
            using var layout = new Layout(record, document);
            layout.Run();
            document.Close();
        }

        return output.ToArray();
    }

    private sealed class Layout(ChartRecordDocument r, SKDocument document) : IDisposable
    {
        private readonly SKFont _body = new(ReceiptFonts.Typeface, 9.5f);
        private readonly SKFont _small = new(ReceiptFonts.Typeface, 7.5f);
        private readonly SKFont _bold = new(ReceiptFonts.Typeface, 9.5f) { Embolden = true };
        private readonly SKFont _heading = new(ReceiptFonts.Typeface, 11.5f) { Embolden = true };
        private readonly SKFont _title = new(ReceiptFonts.Typeface, 17f) { Embolden = true };
        private readonly SKPaint _ink = new() { Color = new SKColor(0x1F, 0x23, 0x28), IsAntialias = true };
        private readonly SKPaint _muted = new() { Color = new SKColor(0x5F, 0x66, 0x6D), IsAntialias = true };
        private readonly SKPaint _rule = new() { Color = new SKColor(0xC8, 0xCD, 0xD2), StrokeWidth = 0.75f, IsAntialias = true };
        private readonly SKPaint _outline = new() { Color = new SKColor(0x80, 0x86, 0x8C), StrokeWidth = 1.2f, IsAntialias = true, Style = SKPaintStyle.Stroke };
        private readonly SKPaint _toxin = new() { Color = new SKColor(0x2B, 0x6C, 0xB0), IsAntialias = true };
        private readonly SKPaint _filler = new() { Color = new SKColor(0xC0, 0x39, 0x2B), IsAntialias = true };
        private readonly SKPaint _white = new() { Color = SKColors.White, IsAntialias = true };
        private readonly SKPaint _frame = new() { Color = new SKColor(0xC8, 0xCD, 0xD2), StrokeWidth = 0.75f, IsAntialias = true, Style = SKPaintStyle.Stroke };
        private SKCanvas? _canvas;
        private int _page;
        private float _y;

        private TreatmentChart Chart => r.Chart;

        public void Run()
        {
            NewPage();
            Header();
            FaceChart();
            PointsTable();
            Products();
            Notes();
            Photos();
            Signatures();
            Addenda();
            EndPage();
        }

        private void Header()
        {
            Text("Treatment record", Margin, _y + 16, _ink, _title);
            Text(r.ClinicName, PageWidth - Margin, _y + 10, _ink, _bold, SKTextAlign.Right);
            if (r.ClinicAddress is { Length: > 0 } address)
            {
                Text(address, PageWidth - Margin, _y + 22, _muted, _small, SKTextAlign.Right);
            }

            _y += 34;
            Rule();
            _y += 4;
            Field("Patient", r.PatientName + (r.PatientBirthDate is { } dob ? $" (born {dob:yyyy-MM-dd})" : ""));
            Field("Provider", r.ProviderName);
            Field("Clinic", r.ClinicName);
            Field("Visit date", Local(Chart.VisitDate).ToString("yyyy-MM-dd HH:mm zzz", CultureInfo.InvariantCulture));
            Field("Status", Chart.Status);
            Field("Visit", Chart.VisitId.ToString());
            Field("Record hash", "SHA-256 " + (Chart.RecordHash ?? "-"));
            _y += 6;
        }

        /// <summary>The face outline with each point at its x/y percentage, numbered as in the table below.</summary>
        private void FaceChart()
        {
            Heading("Face chart");
            const float box = 300f;
            Ensure(box + 10);
            var left = Margin + (ContentWidth - box) / 2;
            var top = _y;
            var c = _canvas!;
            c.DrawRect(left, top, box, box, _frame);
            var cx = left + box / 2;
            c.DrawOval(new SKRect(left + box * 0.22f, top + box * 0.06f, left + box * 0.78f, top + box * 0.94f), _outline);
            c.DrawOval(new SKRect(left + box * 0.33f, top + box * 0.38f, left + box * 0.45f, top + box * 0.44f), _outline);
            c.DrawOval(new SKRect(left + box * 0.55f, top + box * 0.38f, left + box * 0.67f, top + box * 0.44f), _outline);
            c.DrawLine(cx, top + box * 0.45f, cx - box * 0.03f, top + box * 0.6f, _outline);
            c.DrawLine(cx - box * 0.03f, top + box * 0.6f, cx + box * 0.03f, top + box * 0.6f, _outline);
            c.DrawLine(cx - box * 0.1f, top + box * 0.72f, cx + box * 0.1f, top + box * 0.72f, _outline);

            var n = 0;
            foreach (var p in Chart.Points)
            {
                n++;
                var x = left + box * (float)p.X / 100f;
                var y = top + box * (float)p.Y / 100f;
                var paint = p.ProductKind == "filler" ? _filler : _toxin;
                c.DrawCircle(x, y, 6.5f, paint);
                Text(n.ToString(CultureInfo.InvariantCulture), x, y + 2.6f, _white, _small, SKTextAlign.Center);
                Text(Amount(p), x + 9, y + 3, _ink, _small);
            }

            _y = top + box + 8;
        }

        private void PointsTable()
        {
            Heading("Injection points");
            if (Chart.Points.IsEmpty)
            {
                Line("No points were charted.", _muted);
                return;
            }

            float[] cols = [0, 18, 100, 215, 285, 335, 420];
            Columns(_bold, cols, "#", "Zone", "Product", "Lot", "Amount", "Depth", "Technique / gauge");
            var n = 0;
            foreach (var p in Chart.Points)
            {
                n++;
                Columns(_small, cols, n.ToString(CultureInfo.InvariantCulture), p.Zone, p.ProductName, p.LotNumber, Amount(p), p.Depth ?? "-",
                    $"{p.Technique ?? "-"} / {p.NeedleGauge ?? "-"}");
                if (p.Notes is { Length: > 0 } notes)
                {
                    Wrapped("   " + notes, _small, _muted, 22);
                }
            }

            _y += 4;
        }

        private void Products()
        {
            Heading("Products, lots and expiry");
            if (Chart.ProductsUsed.IsEmpty)
            {
                Line("No products were used.", _muted);
                return;
            }

            float[] cols = [0, 170, 270, 360, 440];
            Columns(_bold, cols, "Product", "Lot", "Expires", "Total", "Points");
            foreach (var u in Chart.ProductsUsed)
            {
                var expires = r.LotExpiry.TryGetValue((u.ProductId, u.LotNumber), out var e) ? e.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) : "unknown";
                var total = u.ProductKind == "filler" ? $"{Num(u.VolumeMl)} ml" : $"{Num(u.Units)} units";
                Columns(_body, cols, u.ProductName, u.LotNumber, expires, total, u.Points.ToString(CultureInfo.InvariantCulture));
            }

            _y += 4;
        }

        private void Notes()
        {
            Heading("SOAP notes");
            foreach (var (label, text) in new[]
                     {
                         ("Subjective", Chart.Notes.Subjective), ("Objective", Chart.Notes.Objective), ("Assessment", Chart.Notes.Assessment),
                         ("Plan", Chart.Notes.Plan), ("Treatment notes", Chart.Notes.TreatmentNotes),
                     })
            {
                Ensure(26);
                Line(label, _ink, _bold);
                Wrapped(string.IsNullOrWhiteSpace(text) ? "-" : text, _body, _ink, 10);
            }

            _y += 4;
        }

        private void Photos()
        {
            Heading("Photos");
            if (r.Photos.Count == 0)
            {
                Line("No photos.", _muted);
                return;
            }

            const float thumb = 120f;
            var x = Margin;
            foreach (var photo in r.Photos)
            {
                if (x + thumb > PageWidth - Margin)
                {
                    x = Margin;
                    _y += thumb + 34;
                }

                Ensure(thumb + 34);
                using var image = photo.Thumbnail is { Length: > 0 } t ? SKImage.FromEncodedData(t) : null;
                if (image is not null)
                {
                    var scale = Math.Min(thumb / image.Width, thumb / image.Height);
                    _canvas!.DrawImage(image, SKRect.Create(x, _y, image.Width * scale, image.Height * scale), new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear));
                }
                else
                {
                    _canvas!.DrawRect(x, _y, thumb, thumb * 0.75f, _frame);
                    Text("no thumbnail", x + 6, _y + 14, _muted, _small);
                }

                Text($"{photo.Zone ?? "visit"}{(photo.Pairing is { } pairing ? " " + pairing : "")}", x, _y + thumb + 10, _ink, _small);
                Text(Local(photo.UploadedAt).ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture), x, _y + thumb + 19, _muted, _small);
                Text("sha256 " + photo.Sha256[..16] + "…", x, _y + thumb + 28, _muted, _small);
                x += thumb + 12;
            }

            _y += thumb + 36;
        }

        private void Signatures()
        {
            Heading("Signatures");
            foreach (var s in Chart.Signatures)
            {
                var hasImage = r.SignatureImages.TryGetValue(s.Id, out var png);
                Ensure(hasImage ? 90 : 48);
                Line(s.SignerKind == ChartSignerKinds.Guardian
                    ? $"{Purpose(s.Purpose)}: {s.SignerName} (guardian, {s.GuardianRelationship ?? "-"}, for the patient)"
                    : $"{Purpose(s.Purpose)}: {s.SignerName} ({s.SignerKind})", _ink, _bold);
                Line($"Signed {Local(s.SignedAt).ToString("yyyy-MM-dd HH:mm:ss zzz", CultureInfo.InvariantCulture)} " +
                     $"({s.SignedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)} UTC), {s.Method}" +
                     (s.TypedName is { } typed ? $": \"{typed}\"" : ""), _ink);
                Wrapped($"IP {s.Ip ?? "-"}; user agent {s.UserAgent ?? "-"}", _small, _muted, 0);
                Wrapped($"Signs {s.Signs}", _small, _muted, 0);
                if (hasImage && png is not null)
                {
                    using var image = SKImage.FromEncodedData(png);
                    if (image is not null)
                    {
                        var scale = Math.Min(180f / image.Width, 50f / image.Height);
                        _canvas!.DrawImage(image, SKRect.Create(Margin + 10, _y + 2, image.Width * scale, image.Height * scale), new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear));
                        _y += image.Height * scale + 6;
                    }
                }

                _y += 6;
            }
        }

        private void Addenda()
        {
            Heading("Addenda");
            if (Chart.Addenda.IsEmpty)
            {
                Line("None.", _muted);
                return;
            }

            var n = 0;
            foreach (var a in Chart.Addenda)
            {
                n++;
                var by = Chart.Signatures.FirstOrDefault(s => s.Id == a.SignatureId);
                Ensure(30);
                Line($"Addendum {n}, {Local(a.CreatedAt).ToString("yyyy-MM-dd HH:mm:ss zzz", CultureInfo.InvariantCulture)}, signed by {by?.SignerName ?? "-"}",
                    _ink, _bold);
                Wrapped(a.Text, _body, _ink, 10);
                Wrapped($"Addendum hash {a.Sha256}", _small, _muted, 10);
                _y += 4;
            }
        }

        // ---- primitives ----------------------------------------------------------------------------------------

        private DateTimeOffset Local(DateTimeOffset t) => TimeZoneInfo.ConvertTime(t, r.ClinicTimeZone);

        private static string Purpose(string purpose) => purpose switch
        {
            ChartSignaturePurposes.Provider => "Provider signature",
            ChartSignaturePurposes.Cosign => "Supervising physician co-signature",
            ChartSignaturePurposes.TreatmentConsent => "Treatment consent",
            ChartSignaturePurposes.PhotoConsent => "Photo consent",
            ChartSignaturePurposes.Addendum => "Addendum signature",
            _ => purpose,
        };

        private static string Amount(ChartPoint p) => p.Units is { } u ? $"{Num(u)} U" : $"{Num(p.VolumeMl ?? 0)} ml";

        private static string Num(decimal d) => d.ToString("0.###", CultureInfo.InvariantCulture);

        private void NewPage()
        {
            _canvas = document.BeginPage(PageWidth, PageHeight);
            _page++;
            _y = Margin;
        }

        private void EndPage()
        {
            Text($"Visit {Chart.VisitId} · record SHA-256 {Chart.RecordHash ?? "-"} · page {_page}", Margin, PageHeight - Margin + 6, _muted, _small);
            document.EndPage();
        }

        private void Ensure(float height)
        {
            if (_y + height > BottomLimit)
            {
                EndPage();
                NewPage();
            }
        }

        private void Heading(string text)
        {
            Ensure(40);
            _y += 8;
            Text(text, Margin, _y + 12, _ink, _heading);
            _y += 17;
            Rule();
            _y += 3;
        }

        private void Field(string label, string value)
        {
            Ensure(13);
            Text(label, Margin, _y + 10, _muted, _body);
            Text(value, Margin + 90, _y + 10, _ink, label == "Record hash" ? _small : _body);
            _y += 13;
        }

        private void Line(string text, SKPaint paint, SKFont? font = null)
        {
            Wrapped(text, font ?? _body, paint, 0);
        }

        private void Wrapped(string text, SKFont font, SKPaint paint, float indent)
        {
            var height = font.Size + 3.5f;
            foreach (var line in Wrap(text, font, ContentWidth - indent))
            {
                Ensure(height);
                Text(line, Margin + indent, _y + font.Size, paint, font);
                _y += height;
            }
        }

        private void Columns(SKFont font, float[] cols, params string[] cells)
        {
            Ensure(13);
            for (var i = 0; i < cells.Length; i++)
            {
                var width = (i + 1 < cols.Length ? cols[i + 1] : ContentWidth) - cols[i] - 4;
                var cell = PdfTextLayout.Ellipsize(cells[i], font, width);

                Text(cell, Margin + cols[i], _y + 10, _ink, font);
            }

            _y += 13;
        }

        private void Rule()
        {
            _canvas!.DrawLine(Margin, _y, PageWidth - Margin, _y, _rule);
            _y += 1;
        }

        private void Text(string text, float x, float y, SKPaint paint, SKFont font, SKTextAlign align = SKTextAlign.Left) =>
            PdfTextLayout.Draw(_canvas!, text, x, y, paint, font, align);

        private static List<string> Wrap(string text, SKFont font, float width) => PdfTextLayout.Wrap(text, font, width);

        public void Dispose()
        {
            foreach (var d in new IDisposable[] { _body, _small, _bold, _heading, _title, _ink, _muted, _rule, _outline, _toxin, _filler, _white, _frame })
            {
                d.Dispose();
            }
        }
    }
}
