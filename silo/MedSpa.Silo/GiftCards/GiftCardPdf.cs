using System.Globalization;
using MedSpa.Grains.Domain.Notifications;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Silo.Receipts;
using SkiaSharp;

namespace MedSpa.Silo.GiftCards;

/// <summary>What a gift card PDF shows. <see cref="RedeemUrl"/> is encoded in the QR code; <see cref="CustomImage"/>
/// is the clinic's uploaded PNG/JPEG for the <c>custom</c> design.</summary>
public sealed record GiftCardPdfContent(
    string ClinicName,
    Money Amount,
    string Code,
    string RecipientName,
    string? PurchaserName,
    string? Message,
    GiftCardDesign Design,
    string RedeemUrl,
    byte[]? CustomImage = null,
    DateTimeOffset? ExpiresAt = null,
    CultureInfo? Culture = null)
{
    /// <summary>The clinic's culture: the card's labels, amount and date are in it (en-US when not given).</summary>
    public CultureInfo Language => Culture ?? CultureInfo.GetCultureInfo(MessageLocales.Default);

    public GiftCardWording Wording => GiftCardWording.For(Language);
}

/// <summary>
/// Renders a gift card as a one-page PDF with Skia's PDF backend and the receipt font (the same stack as receipts:
/// one PDF library in the project). The four built-in designs are drawn here from shapes and colours, so nothing is
/// fetched at render time; <c>custom</c> draws the clinic's image behind a darkened band that keeps the text readable.
/// The card itself (design, clinic, amount, recipient) is the top of a US Letter page, so it prints and folds; the
/// message, the code in large type and the QR code follow.
/// </summary>
public static class GiftCardPdf
{
    private const float PageWidth = 612f;
    private const float PageHeight = 792f;
    private const float Margin = 48f;
    private const float CardHeight = 300f;
    private static readonly SKRect Card = SKRect.Create(Margin, Margin, PageWidth - 2 * Margin, CardHeight);

    public static byte[] Render(GiftCardPdfContent content, DateTimeOffset createdAt)
    {
        ArgumentNullException.ThrowIfNull(content);
        using var qr = SKImage.FromEncodedData(ReceiptQrCode.Png(content.RedeemUrl));
        using var custom = content.Design == GiftCardDesign.Custom && content.CustomImage is { Length: > 0 } bytes
            ? SKImage.FromEncodedData(bytes)
            : null;
        using var output = new MemoryStream();
        var metadata = new SKDocumentPdfMetadata
        {
            Title = content.Wording.Title(content.ClinicName),
            Author = content.ClinicName,
            Creator = "MedSpa.Orleans",
            Producer = "MedSpa.Orleans (Skia PDF)",
            Creation = createdAt.UtcDateTime,
            Modified = createdAt.UtcDateTime,
            RasterDpi = 300,
            EncodingQuality = 101, // lossless images: JPEG at the struct's default quality 0 would smear the QR modules
        };
        using (var document = SKDocument.CreatePdf(output, metadata))
        {
            var canvas = document.BeginPage(PageWidth, PageHeight);
            DrawDesign(canvas, content.Design, custom);
            DrawCardText(canvas, content);
            DrawBelowCard(canvas, content, qr);
            document.EndPage();
            document.Close();
        }

        return output.ToArray();
    }

    private static void DrawDesign(SKCanvas canvas, GiftCardDesign design, SKImage? custom)
    {
        using var clip = new SKRoundRect(Card, 18f);
        canvas.Save();
        canvas.ClipRoundRect(clip, SKClipOperation.Intersect, antialias: true);
        switch (design)
        {
            case GiftCardDesign.Custom when custom is not null:
                DrawCover(canvas, custom);
                using (var shade = new SKPaint { Color = new SKColor(0, 0, 0, 110) })
                {
                    canvas.DrawRect(Card, shade);
                }

                break;
            case GiftCardDesign.Birthday:
                Gradient(canvas, new SKColor(0xF7, 0x6B, 0x9C), new SKColor(0x7B, 0x4B, 0xC9));
                Confetti(canvas);
                Balloon(canvas, Card.Right - 120, Card.Top + 70, new SKColor(0xFF, 0xD1, 0x66));
                Balloon(canvas, Card.Right - 70, Card.Top + 95, new SKColor(0x6E, 0xE7, 0xD2));
                break;
            case GiftCardDesign.Holiday:
                Gradient(canvas, new SKColor(0x0B, 0x4D, 0x3A), new SKColor(0x06, 0x2A, 0x22));
                Snowflakes(canvas);
                Ribbon(canvas, new SKColor(0xC6, 0x28, 0x28));
                break;
            case GiftCardDesign.Spa:
                Gradient(canvas, new SKColor(0xA8, 0xC6, 0xB5), new SKColor(0x5E, 0x8C, 0x7B));
                Stones(canvas);
                Leaf(canvas);
                break;
            default:
                Gradient(canvas, new SKColor(0x12, 0x4E, 0x5C), new SKColor(0x0A, 0x2E, 0x38));
                using (var band = new SKPaint { Color = new SKColor(0xD4, 0xAF, 0x37), IsAntialias = true })
                {
                    canvas.DrawRect(SKRect.Create(Card.Left, Card.Bottom - 56, Card.Width, 6), band);
                }

                break;
        }

        canvas.Restore();
    }

    private static void Gradient(SKCanvas canvas, SKColor from, SKColor to)
    {
        using var shader = SKShader.CreateLinearGradient(new SKPoint(Card.Left, Card.Top), new SKPoint(Card.Right, Card.Bottom),
            [from, to], SKShaderTileMode.Clamp);
        using var paint = new SKPaint { Shader = shader, IsAntialias = true };
        canvas.DrawRect(Card, paint);
    }

    /// <summary>Scales the image to cover the card (cropping what overflows), like CSS <c>object-fit: cover</c>.</summary>
    private static void DrawCover(SKCanvas canvas, SKImage image)
    {
        var scale = Math.Max(Card.Width / image.Width, Card.Height / image.Height);
        var w = image.Width * scale;
        var h = image.Height * scale;
        var dest = SKRect.Create(Card.MidX - w / 2, Card.MidY - h / 2, w, h);
        canvas.DrawImage(image, dest, new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear));
    }

    private static void Confetti(SKCanvas canvas)
    {
        SKColor[] colours = [new(0xFF, 0xF1, 0x76), new(0x80, 0xDE, 0xEA), new(0xFF, 0xFF, 0xFF, 0xC0), new(0xFF, 0x8A, 0x65)];
        using var paint = new SKPaint { IsAntialias = true };
        // A fixed pattern: the same card always renders the same way.
        for (var i = 0; i < 36; i++)
        {
            paint.Color = colours[i % colours.Length];
            var x = Card.Left + (i * 97 % 100) / 100f * Card.Width;
            var y = Card.Top + (i * 53 % 100) / 100f * Card.Height;
            canvas.DrawCircle(x, y, 2.5f + i % 3, paint);
        }
    }

    private static void Balloon(SKCanvas canvas, float x, float y, SKColor colour)
    {
        using var fill = new SKPaint { Color = colour, IsAntialias = true };
        using var line = new SKPaint { Color = SKColors.White, StrokeWidth = 1f, IsStroke = true, IsAntialias = true };
        canvas.DrawOval(new SKRect(x - 22, y - 28, x + 22, y + 28), fill);
        using var builder = new SKPathBuilder();
        builder.MoveTo(x, y + 28);
        builder.CubicTo(x - 10, y + 50, x + 10, y + 70, x, y + 95);
        using var path = builder.Detach();
        canvas.DrawPath(path, line);
    }

    private static void Snowflakes(SKCanvas canvas)
    {
        using var paint = new SKPaint { Color = new SKColor(0xFF, 0xFF, 0xFF, 0xB0), StrokeWidth = 1.4f, IsStroke = true, IsAntialias = true };
        for (var i = 0; i < 14; i++)
        {
            var cx = Card.Left + 30 + (i * 61 % 100) / 100f * (Card.Width - 60);
            var cy = Card.Top + 20 + (i * 37 % 100) / 100f * (Card.Height - 40);
            var r = 5f + i % 4 * 2;
            for (var k = 0; k < 3; k++)
            {
                var a = k * MathF.PI / 3;
                canvas.DrawLine(cx - r * MathF.Cos(a), cy - r * MathF.Sin(a), cx + r * MathF.Cos(a), cy + r * MathF.Sin(a), paint);
            }
        }
    }

    private static void Ribbon(SKCanvas canvas, SKColor colour)
    {
        using var paint = new SKPaint { Color = colour, IsAntialias = true };
        canvas.DrawRect(SKRect.Create(Card.Right - 110, Card.Top, 22, Card.Height), paint);
        canvas.DrawRect(SKRect.Create(Card.Left, Card.Top + 62, Card.Width, 18), paint);
        using var gold = new SKPaint { Color = new SKColor(0xE8, 0xC5, 0x47), IsAntialias = true };
        canvas.DrawCircle(Card.Right - 99, Card.Top + 71, 16, gold);
    }

    private static void Stones(SKCanvas canvas)
    {
        using var paint = new SKPaint { IsAntialias = true };
        (float W, float H, byte Shade)[] stones = [(120, 34, 0x4A), (96, 30, 0x5B), (74, 26, 0x6C), (52, 22, 0x7D)];
        var y = Card.Bottom - 30;
        var x = Card.Right - 110;
        foreach (var (w, h, shade) in stones)
        {
            paint.Color = new SKColor(shade, shade, (byte)(shade + 6));
            canvas.DrawOval(new SKRect(x - w / 2, y - h, x + w / 2, y), paint);
            y -= h - 4;
        }
    }

    private static void Leaf(SKCanvas canvas)
    {
        using var paint = new SKPaint { Color = new SKColor(0xE8, 0xF3, 0xEC, 0x90), IsAntialias = true };
        using var builder = new SKPathBuilder();
        var x = Card.Right - 200;
        var y = Card.Top + 40;
        builder.MoveTo(x, y + 80);
        builder.CubicTo(x + 10, y + 10, x + 70, y, x + 90, y);
        builder.CubicTo(x + 80, y + 40, x + 50, y + 80, x, y + 80);
        using var path = builder.Detach();
        canvas.DrawPath(path, paint);
    }

    private static void DrawCardText(SKCanvas canvas, GiftCardPdfContent c)
    {
        using var white = new SKPaint { Color = SKColors.White, IsAntialias = true };
        using var clinic = new SKFont(ReceiptFonts.Typeface, 16f) { Embolden = true };
        using var label = new SKFont(ReceiptFonts.Typeface, 11f);
        using var amount = new SKFont(ReceiptFonts.Typeface, 44f) { Embolden = true };
        using var name = new SKFont(ReceiptFonts.Typeface, 13f);
        var left = Card.Left + 28;
        canvas.DrawText(Fit(c.ClinicName, clinic, Card.Width - 56), left, Card.Top + 40, SKTextAlign.Left, clinic, white);
        canvas.DrawText(c.Wording.Heading, left, Card.Top + 60, SKTextAlign.Left, label, white);
        canvas.DrawText(MessageLocales.Money(c.Amount, c.Language), left, Card.Top + 150, SKTextAlign.Left, amount, white);
        canvas.DrawText(Fit(c.Wording.ForLine(c.RecipientName), name, Card.Width - 56), left, Card.Bottom - 70, SKTextAlign.Left, name, white);
        if (!string.IsNullOrWhiteSpace(c.PurchaserName))
        {
            canvas.DrawText(Fit(c.Wording.FromLine(c.PurchaserName!), name, Card.Width - 56), left, Card.Bottom - 50, SKTextAlign.Left, name, white);
        }

        if (c.ExpiresAt is { } expires)
        {
            canvas.DrawText(c.Wording.ValidUntil(DateOnly.FromDateTime(expires.DateTime), c.Language), left, Card.Bottom - 22, SKTextAlign.Left, label, white);
        }
    }

    private static void DrawBelowCard(SKCanvas canvas, GiftCardPdfContent c, SKImage qr)
    {
        using var ink = new SKPaint { Color = new SKColor(0x1F, 0x23, 0x28), IsAntialias = true };
        using var muted = new SKPaint { Color = new SKColor(0x5F, 0x66, 0x6D), IsAntialias = true };
        using var body = new SKFont(ReceiptFonts.Typeface, 12f);
        using var small = new SKFont(ReceiptFonts.Typeface, 9.5f);
        using var heading = new SKFont(ReceiptFonts.Typeface, 11f) { Embolden = true };
        using var code = new SKFont(ReceiptFonts.Typeface, 24f) { Embolden = true };
        var y = Card.Bottom + 40;
        const float qrSize = 132f;
        var textWidth = PageWidth - 2 * Margin - qrSize - 24;
        if (!string.IsNullOrWhiteSpace(c.Message))
        {
            foreach (var line in Wrap(c.Message.Trim(), body, textWidth).Take(8))
            {
                canvas.DrawText(line, Margin, y, SKTextAlign.Left, body, ink);
                y += 17;
            }

            y += 14;
        }

        canvas.DrawText(c.Wording.CodeHeading, Margin, y, SKTextAlign.Left, heading, muted);
        y += 30;
        canvas.DrawText(c.Code, Margin, y, SKTextAlign.Left, code, ink);
        y += 26;
        foreach (var line in Wrap(c.Wording.Instructions, small, textWidth))
        {
            canvas.DrawText(line, Margin, y, SKTextAlign.Left, small, muted);
            y += 13;
        }

        var qrTop = Card.Bottom + 28;
        canvas.DrawImage(qr, SKRect.Create(PageWidth - Margin - qrSize, qrTop, qrSize, qrSize), new SKSamplingOptions(SKFilterMode.Nearest));
        canvas.DrawText(c.Wording.ScanToRedeem, PageWidth - Margin - qrSize / 2, qrTop + qrSize + 12, SKTextAlign.Center, small, muted);
    }

    private static string Fit(string text, SKFont font, float width)
    {
        if (font.MeasureText(text) <= width)
        {
            return text;
        }

        var cut = text.Length;
        while (cut > 1 && font.MeasureText(text[..cut] + "…") > width)
        {
            cut--;
        }

        return text[..cut] + "…";
    }

    /// <summary>Greedy word wrap; a word longer than the line is cut (a message is free text).</summary>
    private static IEnumerable<string> Wrap(string text, SKFont font, float width)
    {
        foreach (var paragraph in text.Replace("\r", "", StringComparison.Ordinal).Split('\n'))
        {
            var line = "";
            foreach (var word in paragraph.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                var candidate = line.Length == 0 ? word : line + " " + word;
                if (font.MeasureText(candidate) <= width)
                {
                    line = candidate;
                    continue;
                }

                if (line.Length > 0)
                {
                    yield return line;
                }

                line = Fit(word, font, width);
            }

            yield return line;
        }
    }
}
