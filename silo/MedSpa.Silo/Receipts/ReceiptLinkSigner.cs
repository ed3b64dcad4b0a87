using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace MedSpa.Silo.Receipts;

/// <summary>
/// Tokens for the public receipt link <c>/r/{token}</c>: the tenant and invoice ids with an HMAC-SHA256 tag, so a
/// link names exactly one receipt and cannot be edited into another one. The link carries no expiry: a printed QR
/// code should keep working; rotating the key revokes every link at once.
/// Layout (base64url, 64 chars): version (1 byte) · tenant id (16) · invoice id (16) · tag (first 15 bytes of the HMAC).
/// 48 bytes is a multiple of 3, so the base64url text has no spare bits: every other string of 64 characters decodes
/// to different bytes, and no two spellings of one token exist.
/// </summary>
public sealed class ReceiptLinkSigner
{
    private const byte Version = 1;
    private const int TagLength = 15; // 120-bit tag: forging one is 2^120 work, and the link stays short enough for a QR code
    private const int PayloadLength = 1 + 16 + 16;
    private const int TokenLength = (PayloadLength + TagLength) / 3 * 4;
    private static readonly byte[] DerivationLabel = Encoding.ASCII.GetBytes("medspa-receipt-links-v1");

    private readonly byte[] _key;

    public ReceiptLinkSigner(byte[] key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length < 32)
        {
            throw new ArgumentException("A receipt link key must be at least 32 bytes.", nameof(key));
        }

        _key = key;
    }

    /// <summary>The key from <see cref="ReceiptOptions.LinkSigningKey"/>, else derived from the JWT signing key, else
    /// random for this process only (links then stop working at the next restart; <paramref name="isEphemeral"/> says so).</summary>
    public static ReceiptLinkSigner FromSettings(string? linkSigningKey, string? authSigningKey, out bool isEphemeral)
    {
        isEphemeral = false;
        if (!string.IsNullOrWhiteSpace(linkSigningKey))
        {
            return new ReceiptLinkSigner(DecodeKey(linkSigningKey));
        }

        if (!string.IsNullOrWhiteSpace(authSigningKey))
        {
            // A separate label: a receipt tag can never be replayed as a token signature, or the reverse.
            return new ReceiptLinkSigner(HKDF.DeriveKey(HashAlgorithmName.SHA256, DecodeKey(authSigningKey), 32, info: DerivationLabel));
        }

        isEphemeral = true;
        return new ReceiptLinkSigner(RandomNumberGenerator.GetBytes(32));
    }

    public string CreateToken(Guid tenantId, Guid invoiceId)
    {
        Span<byte> buffer = stackalloc byte[PayloadLength + TagLength];
        buffer[0] = Version;
        tenantId.TryWriteBytes(buffer[1..17]);
        invoiceId.TryWriteBytes(buffer[17..33]);
        Tag(buffer[..PayloadLength], buffer[PayloadLength..]);
        return Base64Url.EncodeToString(buffer);
    }

    /// <summary>False for anything that is not a token this key made (wrong length, version or tag).</summary>
    public bool TryReadToken(string? token, out Guid tenantId, out Guid invoiceId)
    {
        tenantId = invoiceId = Guid.Empty;
        // Exact length and alphabet first: Base64Url throws (rather than answering false) on some malformed input.
        if (token is not { Length: TokenLength } || !token.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
        {
            return false;
        }

        Span<byte> buffer = stackalloc byte[PayloadLength + TagLength];
        if (!Base64Url.TryDecodeFromChars(token, buffer, out var written) || written != buffer.Length || buffer[0] != Version)
        {
            return false;
        }

        Span<byte> expected = stackalloc byte[TagLength];
        Tag(buffer[..PayloadLength], expected);
        if (!CryptographicOperations.FixedTimeEquals(expected, buffer.Slice(PayloadLength, TagLength)))
        {
            return false;
        }

        tenantId = new Guid(buffer[1..17]);
        invoiceId = new Guid(buffer[17..33]);
        return true;
    }

    private void Tag(ReadOnlySpan<byte> payload, Span<byte> tag)
    {
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(_key, payload, mac);
        mac[..TagLength].CopyTo(tag);
    }

    /// <summary>Same convention as Auth:SigningKey: base64 when it decodes as such, otherwise UTF-8 text.</summary>
    private static byte[] DecodeKey(string value)
    {
        try
        {
            return Convert.FromBase64String(value);
        }
        catch (FormatException)
        {
            return Encoding.UTF8.GetBytes(value);
        }
    }
}
