using QRCoder;

namespace MedSpa.Silo.Receipts;

/// <summary>The QR code printed on a receipt: the receipt's public URL, as PNG bytes.</summary>
public static class ReceiptQrCode
{
    /// <summary>Pixels per QR module in the PNG. The PDF scales the image; a few pixels per module keep the
    /// edges sharp in viewers that smooth images regardless of the interpolation flag.</summary>
    public const int PixelsPerModule = 4;

    /// <summary>Medium error correction (≈15 %): survives a crease or a smudge on a printed receipt.</summary>
    public const QRCodeGenerator.ECCLevel ErrorCorrection = QRCodeGenerator.ECCLevel.M;

    public static byte[] Png(string url)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(url);
        using var data = QRCodeGenerator.GenerateQrCode(url, ErrorCorrection);
        return new PngByteQRCode(data).GetGraphic(PixelsPerModule);
    }

    /// <summary>The module matrix (true = dark) including the 4-module quiet zone, as <see cref="Png"/> draws it.</summary>
    public static bool[][] Modules(string url)
    {
        using var data = QRCodeGenerator.GenerateQrCode(url, ErrorCorrection);
        return data.ModuleMatrix.Select(row => Enumerable.Range(0, row.Length).Select(i => row[i]).ToArray()).ToArray();
    }
}
