using SkiaSharp;

namespace MedSpa.Silo.Receipts;

/// <summary>
/// Text layout shared by the PDFs made with SkiaSharp (receipts, the chart's legal record): US Letter geometry, greedy
/// word wrap, link wrap that never splits a link's token, cutting a cell to its column, and drawing that skips empty
/// text. One copy, so a fix to wrapping reaches every document.
/// </summary>
public static class PdfTextLayout
{
    /// <summary>US Letter in points (8.5 × 11 in at 72 pt).</summary>
    public const float LetterWidth = 612f;
    public const float LetterHeight = 792f;

    /// <summary>Draws <paramref name="text"/> with its baseline at <paramref name="y"/>; empty text draws nothing (Skia
    /// would still emit an empty text run).</summary>
    public static void Draw(SKCanvas canvas, string text, float x, float y, SKPaint paint, SKFont font, SKTextAlign align = SKTextAlign.Left)
    {
        if (text.Length > 0)
        {
            canvas.DrawText(text, x, y, align, font, paint);
        }
    }

    /// <summary>Greedy word wrap to <paramref name="width"/> points; keeps the text's own line breaks and
    /// breaks a word longer than a line (a URL) wherever it must.</summary>
    public static List<string> Wrap(string text, SKFont font, float width)
    {
        var result = new List<string>();
        foreach (var paragraph in text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n'))
        {
            var line = "";
            foreach (var word in paragraph.Split(' '))
            {
                var candidate = line.Length == 0 ? word : line + " " + word;
                if (font.MeasureText(candidate) <= width)
                {
                    line = candidate;
                    continue;
                }

                if (line.Length > 0)
                {
                    result.Add(line);
                }

                line = word;
                while (line.Length > 1 && font.MeasureText(line) > width)
                {
                    var cut = line.Length - 1;
                    while (cut > 1 && font.MeasureText(line[..cut]) > width)
                    {
                        cut--;
                    }

                    result.Add(line[..cut]);
                    line = line[cut..];
                }
            }

            result.Add(line);
        }

        return result;
    }

    /// <summary>
    /// A link broken only after a <c>/</c> of its path, never inside its last segment: that is the signed token,
    /// and a token split over two lines breaks when it is copied (the reader joins the lines with a space or
    /// loses the second). Lines hold as many path segments as fit; the token keeps a line of its own if needed.
    /// </summary>
    public static List<string> WrapLink(string url, SKFont font, float width)
    {
        if (font.MeasureText(url) <= width)
        {
            return [url];
        }

        var tokenStart = url.LastIndexOf('/') + 1;
        var token = url[tokenStart..];
        var lines = new List<string>();
        var line = "";
        var start = 0;
        while (start < tokenStart)
        {
            var slash = url.IndexOf('/', start);
            var segment = url[start..(slash + 1)];
            start = slash + 1;
            if (line.Length > 0 && font.MeasureText(line + segment) > width)
            {
                lines.Add(line);
                line = "";
            }

            line += segment;
        }

        if (line.Length > 0 && font.MeasureText(line + token) > width)
        {
            lines.Add(line);
            line = "";
        }

        lines.Add(line + token);
        return lines;
    }

    /// <summary>The text cut to <paramref name="width"/> points, ending in "…" when it was cut (a table cell).</summary>
    public static string Ellipsize(string text, SKFont font, float width)
    {
        var cell = text;
        while (cell.Length > 1 && font.MeasureText(cell) > width)
        {
            cell = cell[..^2] + "…";
        }

        return cell;
    }
}
