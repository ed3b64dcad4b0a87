using SkiaSharp;

namespace MedSpa.Silo.Receipts;

public enum LogoCheck
{
    Ok,
    Empty,
    TooLarge,

    /// <summary>Neither PNG nor JPEG by its first bytes.</summary>
    UnsupportedType,

    /// <summary>Says PNG/JPEG but does not decode, or is too many pixels.</summary>
    Undecodable,
}

/// <summary>
/// Checks an uploaded receipt logo: at most <see cref="MaxBytes"/>, PNG or JPEG by its magic bytes (never by the
/// declared content type alone), and actually decodable by Skia — the renderer must be able to draw it later, and a
/// file that only starts like a PNG is refused now rather than breaking every receipt.
/// </summary>
public static class ReceiptLogoImage
{
    public const int MaxBytes = 512 * 1024;

    /// <summary>A small file can still declare huge dimensions (a decompression bomb): refuse beyond this per side.</summary>
    public const int MaxSide = 4096;

    private static readonly byte[] PngMagic = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];
    private static readonly byte[] JpegMagic = [0xFF, 0xD8, 0xFF];

    /// <summary><c>image/png</c> or <c>image/jpeg</c> from the first bytes, else null.</summary>
    public static string? Sniff(ReadOnlySpan<byte> bytes) =>
        bytes.StartsWith(PngMagic) ? "image/png" : bytes.StartsWith(JpegMagic) ? "image/jpeg" : null;

    public static LogoCheck Check(byte[] bytes, out string? contentType)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        contentType = null;
        if (bytes.Length == 0)
        {
            return LogoCheck.Empty;
        }

        if (bytes.Length > MaxBytes)
        {
            return LogoCheck.TooLarge;
        }

        contentType = Sniff(bytes);
        if (contentType is null)
        {
            return LogoCheck.UnsupportedType;
        }

        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data);
        if (codec is null || codec.Info.Width is <= 0 or > MaxSide || codec.Info.Height is <= 0 or > MaxSide)
        {
            return LogoCheck.Undecodable;
        }

        // Decode every pixel: a truncated or corrupt file passes the header check but fails here.
        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Premul);
        using var bitmap = new SKBitmap(info);
        var result = codec.GetPixels(info, bitmap.GetPixels());
        return result == SKCodecResult.Success ? LogoCheck.Ok : LogoCheck.Undecodable;
    }
}
