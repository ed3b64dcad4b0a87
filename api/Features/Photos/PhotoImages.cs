using SkiaSharp;

namespace MedSpa.Api.Features.Photos;

/// <summary>
/// What an uploaded file is, from its first bytes (the declared content type is the client's claim, not evidence), and
/// its thumbnail. HEIC is recognised and stored but has no thumbnail: the SkiaSharp build served here has no HEIF
/// decoder.
/// </summary>
public static class PhotoImages
{
    public const long MaxBytes = 20L * 1024 * 1024;
    public const int ThumbnailEdge = 320;

    /// <summary>image/jpeg, image/png, image/webp or image/heic when the magic bytes say so; otherwise null.</summary>
    public static string? Sniff(ReadOnlySpan<byte> head)
    {
        if (head.Length >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF)
        {
            return "image/jpeg";
        }

        if (head.Length >= 8 && head[..8].SequenceEqual((ReadOnlySpan<byte>)[0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        {
            return "image/png";
        }

        if (head.Length >= 12 && head[..4].SequenceEqual("RIFF"u8) && head[8..12].SequenceEqual("WEBP"u8))
        {
            return "image/webp";
        }

        // ISO base media: a box "ftyp" at offset 4 whose major brand is one of HEIF's.
        if (head.Length >= 12 && head[4..8].SequenceEqual("ftyp"u8))
        {
            var brand = System.Text.Encoding.ASCII.GetString(head[8..12]);
            if (brand is "heic" or "heix" or "hevc" or "hevx" or "heim" or "heis" or "mif1" or "msf1")
            {
                return "image/heic";
            }
        }

        return null;
    }

    public sealed record Thumbnail(byte[] Jpeg, int Width, int Height, int SourceWidth, int SourceHeight);

    /// <summary>
    /// A JPEG at most <see cref="ThumbnailEdge"/> pixels on its longer side, decoded at a reduced scale where the codec
    /// can (JPEG: a 5 MB photo is not expanded to its full 48 MB of pixels first). Null when the bytes do not decode.
    /// </summary>
    public static Thumbnail? MakeThumbnail(ReadOnlySpan<byte> image)
    {
        using var data = SKData.CreateCopy(image);
        using var codec = SKCodec.Create(data);
        if (codec is null)
        {
            return null;
        }

        var (sw, sh) = (codec.Info.Width, codec.Info.Height);
        var scale = Math.Min(1f, (float)ThumbnailEdge / Math.Max(sw, sh));
        var decodeSize = codec.GetScaledDimensions(scale);
        using var decoded = new SKBitmap(new SKImageInfo(decodeSize.Width, decodeSize.Height, SKColorType.Rgba8888, SKAlphaType.Premul));
        var result = codec.GetPixels(decoded.Info, decoded.GetPixels());
        if (result is not (SKCodecResult.Success or SKCodecResult.IncompleteInput))
        {
            return null;
        }

        var (tw, th) = sw >= sh
            ? (Math.Min(ThumbnailEdge, sw), Math.Max(1, (int)Math.Round((double)sh * Math.Min(ThumbnailEdge, sw) / sw)))
            : (Math.Max(1, (int)Math.Round((double)sw * Math.Min(ThumbnailEdge, sh) / sh)), Math.Min(ThumbnailEdge, sh));
        using var resized = decoded.Width == tw && decoded.Height == th
            ? decoded.Copy()
            : decoded.Resize(new SKImageInfo(tw, th, SKColorType.Rgba8888, SKAlphaType.Premul), new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.None));
        if (resized is null)
        {
            return null;
        }

        using var encoded = resized.Encode(SKEncodedImageFormat.Jpeg, 80);
        return encoded is null ? null : new Thumbnail(encoded.ToArray(), tw, th, sw, sh);
    }
}
