using System.Buffers.Binary;
using MedSpa.Tests.TestHost;
using SkiaSharp;

namespace MedSpa.Tests.Photos;

/// <summary>
/// A phone held upright stores a landscape frame and an EXIF orientation saying how to turn it. The thumbnail and the
/// sizes the API reports are the photo as it was taken, so the chart does not show a patient lying on their side.
/// </summary>
public sealed class PhotoOrientationTests(PhotoApiFactory factory) : IClassFixture<PhotoApiFactory>
{
    [Theory]
    [InlineData(1, 400, 200, "red", "blue", "left", "right")]
    [InlineData(6, 200, 400, "red", "blue", "top", "bottom")]
    [InlineData(8, 200, 400, "blue", "red", "top", "bottom")]
    [InlineData(3, 400, 200, "blue", "red", "left", "right")]
    public async Task The_thumbnail_is_turned_as_the_photos_exif_orientation_says(
        int orientation, int width, int height, string firstColour, string secondColour, string first, string second)
    {
        var world = await PhotoWorld.CreateAsync(factory);
        var visit = await world.BookVisitAsync();
        await world.ConsentAsync();
        var provider = world.ProviderClient();

        // Stored as a 400 × 200 frame: red on its left half, blue on its right.
        var jpeg = WithOrientation(HalfRedHalfBlue(400, 200), orientation);
        var photo = await PhotoWorld.UploadOkAsync(provider, visit, jpeg, "glabella", "before");
        Assert.Equal((width, height), (photo.GetProperty("width").GetInt32(), photo.GetProperty("height").GetInt32()));

        using var thumbnail = SKBitmap.Decode(await PhotoWorld.DownloadAsync(factory, provider, photo.GetProperty("id").GetGuid(), "thumbnail"));
        Assert.Equal(width > height, thumbnail.Width > thumbnail.Height);
        Assert.Equal(320, Math.Max(thumbnail.Width, thumbnail.Height));
        var (a, b) = first == "left"
            ? (thumbnail.GetPixel(thumbnail.Width / 8, thumbnail.Height / 2), thumbnail.GetPixel(thumbnail.Width * 7 / 8, thumbnail.Height / 2))
            : (thumbnail.GetPixel(thumbnail.Width / 2, thumbnail.Height / 8), thumbnail.GetPixel(thumbnail.Width / 2, thumbnail.Height * 7 / 8));
        Assert.True(Colour(a) == firstColour, $"{first}: {a} is not {firstColour}");
        Assert.True(Colour(b) == secondColour, $"{second}: {b} is not {secondColour}");
    }

    private static string Colour(SKColor c) => c.Red > 180 && c.Blue < 80 ? "red" : c.Blue > 180 && c.Red < 80 ? "blue" : $"neither ({c})";

    private static byte[] HalfRedHalfBlue(int width, int height)
    {
        using var bitmap = new SKBitmap(width, height);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.Blue);
            using var red = new SKPaint { Color = SKColors.Red };
            canvas.DrawRect(0, 0, width / 2f, height, red);
        }

        using var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, 90);
        return data.ToArray();
    }

    /// <summary>The JPEG with an EXIF segment (APP1) right after its start marker holding only the orientation tag.</summary>
    private static byte[] WithOrientation(byte[] jpeg, int orientation)
    {
        // TIFF header (little endian), IFD0 with one entry: 0x0112 Orientation, SHORT, count 1, the value; no next IFD.
        var tiff = new byte[8 + 2 + 12 + 4];
        "II"u8.CopyTo(tiff);
        BinaryPrimitives.WriteUInt16LittleEndian(tiff.AsSpan(2), 42);
        BinaryPrimitives.WriteUInt32LittleEndian(tiff.AsSpan(4), 8);
        BinaryPrimitives.WriteUInt16LittleEndian(tiff.AsSpan(8), 1);
        BinaryPrimitives.WriteUInt16LittleEndian(tiff.AsSpan(10), 0x0112);
        BinaryPrimitives.WriteUInt16LittleEndian(tiff.AsSpan(12), 3);
        BinaryPrimitives.WriteUInt32LittleEndian(tiff.AsSpan(14), 1);
        BinaryPrimitives.WriteUInt16LittleEndian(tiff.AsSpan(18), (ushort)orientation);
        byte[] payload = [.. "Exif\0\0"u8, .. tiff];
        var segment = new byte[4 + payload.Length];
        segment[0] = 0xFF;
        segment[1] = 0xE1;
        BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(2), (ushort)(payload.Length + 2));
        payload.CopyTo(segment, 4);
        return [.. jpeg.AsSpan(0, 2), .. segment, .. jpeg.AsSpan(2)];
    }
}
