using SkiaSharp;

namespace MedSpa.Silo.Receipts;

/// <summary>
/// The receipt typeface: DejaVu Sans (Bitstream Vera licence, see Fonts/DejaVuSans-LICENSE.txt), shipped inside the
/// assembly. The NoDependencies native build of Skia has no fontconfig, so <c>SKTypeface.Default</c> there has no
/// glyphs and the PDF would carry no text; a font of our own also makes receipts look the same on every host.
/// Skia embeds a subset with a ToUnicode map, so the text stays extractable (and searchable) in the PDF.
/// </summary>
public static class ReceiptFonts
{
    private const string ResourceName = "MedSpa.Silo.Receipts.DejaVuSans.ttf";

    private static readonly Lazy<SKTypeface> Regular = new(Load);

    public static SKTypeface Typeface => Regular.Value;

    private static SKTypeface Load()
    {
        using var stream = typeof(ReceiptFonts).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"Embedded font {ResourceName} is missing from the assembly.");
        using var data = SKData.Create(stream);
        return SKTypeface.FromData(data)
            ?? throw new InvalidOperationException("The embedded receipt font could not be loaded by Skia.");
    }
}
