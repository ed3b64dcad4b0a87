namespace MedSpa.Silo.Receipts;

/// <summary>Settings under <c>Receipts:</c>.</summary>
public sealed class ReceiptOptions
{
    public const string Section = "Receipts";

    /// <summary>
    /// HMAC-SHA256 key (≥ 32 bytes, base64 or text) that signs public receipt links. When empty, a key is derived
    /// from <c>Auth:SigningKey</c> with HKDF under a label of its own, so links survive restarts without another
    /// secret; set it to rotate the JWT key without breaking printed QR codes. Changing it invalidates every link.
    /// </summary>
    public string LinkSigningKey { get; set; } = "";

    /// <summary>Absolute base URL of the public links, e.g. <c>https://clinic.example.com</c>. When empty, the
    /// base of the request that produced the receipt is used (fine behind a single host; set it behind a proxy).</summary>
    public string PublicBaseUrl { get; set; } = "";
}
