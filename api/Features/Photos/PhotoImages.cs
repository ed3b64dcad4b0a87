using SkiaSharp;

namespace MedSpa.Api.Features.Photos;

/// <summary>
/// What an uploaded file is, from its first bytes (the declared content type is the client's claim, not evidence), and
/// its thumbnail. HEIC is recognised and stored but has no thumbnail: the SkiaSharp build served here has no HEIF
/// decoder. Thumbnails are turned as the photo's EXIF orientation says.
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

        // A camera stores the sensor's pixels and says in EXIF how to turn them (a phone held upright writes a landscape
        // frame with "rotate 90°"). The thumbnail is shown as the photo was taken, and its sizes are those seen.
        var origin = codec.EncodedOrigin;
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

        using var upright = Orient(resized, origin);
        using var encoded = upright.Encode(SKEncodedImageFormat.Jpeg, 80);
        return encoded is null
            ? null
            : SwapsSides(origin)
                ? new Thumbnail(encoded.ToArray(), th, tw, sh, sw)
                : new Thumbnail(encoded.ToArray(), tw, th, sw, sh);
    }

    /// <summary>The EXIF orientations that turn the picture a quarter (its width becomes its height).</summary>
    private static bool SwapsSides(SKEncodedOrigin origin) =>
        origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;

    /// <summary>
    /// <paramref name="stored"/> drawn as EXIF <paramref name="origin"/> says it is to be seen (orientations 1–8: mirror,
    /// half turn, flip, transpose, quarter turn right, transverse, quarter turn left).
    /// </summary>
    private static SKBitmap Orient(SKBitmap stored, SKEncodedOrigin origin)
    {
        if (origin == SKEncodedOrigin.TopLeft) return stored.Copy();
        var (w, h) = SwapsSides(origin) ? (stored.Height, stored.Width) : (stored.Width, stored.Height);
        var upright = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Premul));
        using var canvas = new SKCanvas(upright);
        // Each maps the stored picture's (x, y) to where it is seen in the w × h result.
        var matrix = origin switch
        {
            SKEncodedOrigin.TopRight => new SKMatrix(-1, 0, w, 0, 1, 0, 0, 0, 1),
            SKEncodedOrigin.BottomRight => new SKMatrix(-1, 0, w, 0, -1, h, 0, 0, 1),
            SKEncodedOrigin.BottomLeft => new SKMatrix(1, 0, 0, 0, -1, h, 0, 0, 1),
            SKEncodedOrigin.LeftTop => new SKMatrix(0, 1, 0, 1, 0, 0, 0, 0, 1),
            SKEncodedOrigin.RightTop => new SKMatrix(0, -1, w, 1, 0, 0, 0, 0, 1),
            SKEncodedOrigin.RightBottom => new SKMatrix(0, -1, w, -1, 0, h, 0, 0, 1),
            SKEncodedOrigin.LeftBottom => new SKMatrix(0, 1, 0, -1, 0, h, 0, 0, 1),
            _ => SKMatrix.Identity,
        };
        canvas.SetMatrix(matrix);
        using var image = SKImage.FromBitmap(stored);
        canvas.DrawImage(image, 0, 0, new SKSamplingOptions(SKFilterMode.Nearest), null);
        canvas.Flush();
        return upright;
    }
}
