using MedSpa.Silo.Receipts;
using SkiaSharp;

namespace MedSpa.Tests.Receipts;

/// <summary>The one text-layout helper of the SkiaSharp PDFs (receipts and the chart's legal record).</summary>
public sealed class PdfTextLayoutTests
{
    private static SKFont Font() => new(ReceiptFonts.Typeface, 10f);

    [Fact]
    public void Wrap_keeps_every_line_within_the_width_keeps_the_texts_own_breaks_and_cuts_a_word_longer_than_a_line()
    {
        using var font = Font();
        var text = "Slight asymmetry of the left brow noted before treatment\nReview in two weeks " + new string('x', 120);
        var lines = PdfTextLayout.Wrap(text, font, 150f);
        Assert.All(lines, l => Assert.True(font.MeasureText(l) <= 150f, l));
        Assert.Contains(lines, l => l.StartsWith("Review", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains("treatment Review", StringComparison.Ordinal));
        // Nothing is lost: the words and the long run come back whole, in order.
        Assert.Equal(text.Replace("\n", " ", StringComparison.Ordinal).Replace(" ", "", StringComparison.Ordinal),
            string.Concat(lines).Replace(" ", "", StringComparison.Ordinal));
    }

    [Fact]
    public void A_link_breaks_only_after_a_slash_and_its_token_stays_on_one_line()
    {
        using var font = Font();
        var token = "eyJhbGciOiJIUzI1NiJ9.c2lnbmVkLXRva2Vu.abcdef0123456789";
        var url = $"https://clinic.example/api/receipts/links/content/{token}";
        var lines = PdfTextLayout.WrapLink(url, font, 140f);
        Assert.True(lines.Count > 1);
        Assert.Equal(url, string.Concat(lines));
        Assert.EndsWith(token, lines[^1], StringComparison.Ordinal);
        Assert.All(lines.Take(lines.Count - 1), l => Assert.EndsWith("/", l, StringComparison.Ordinal));
    }

    [Fact]
    public void A_cell_too_wide_for_its_column_is_cut_with_an_ellipsis_and_a_cell_that_fits_is_left_alone()
    {
        using var font = Font();
        Assert.Equal("Botox", PdfTextLayout.Ellipsize("Botox", font, 100f));
        var cut = PdfTextLayout.Ellipsize("Juvederm Voluma XC with lidocaine, lot VOL-GOOD", font, 60f);
        Assert.EndsWith("…", cut, StringComparison.Ordinal);
        Assert.True(font.MeasureText(cut) <= 60f, cut);
    }
}
