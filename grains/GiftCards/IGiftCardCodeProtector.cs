using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace MedSpa.Grains.GiftCards;

/// <summary>
/// Keeps raw gift card codes out of the database. <see cref="Hash"/> is the lookup key stored in
/// <c>gift_card_codes</c> (a keyed hash: without the key a dump of the table cannot be matched against guesses);
/// <see cref="Protect"/>/<see cref="Unprotect"/> encrypt the code for the few places that must show it again later
/// (the delivery email, a resend, the corporate order's one export). The key comes from configuration
/// (<c>GiftCards:CodeKey</c>), never from the database, and is never logged.
/// </summary>
public interface IGiftCardCodeProtector
{
    /// <summary>HMAC-SHA256 of tenant + canonical code, lower-case hex (64 characters).</summary>
    string Hash(Guid tenantId, string canonicalCode);

    /// <summary>The code encrypted with AES-GCM (random nonce, authenticated): a base64url token.</summary>
    string Protect(string canonicalCode);

    /// <summary>The code back from <see cref="Protect"/>'s token, or null when the token is not one this key made.</summary>
    string? Unprotect(string? protectedCode);
}

/// <summary>Settings under <c>GiftCards:</c>.</summary>
public sealed class GiftCardCodeOptions
{
    public const string Section = "GiftCards";

    /// <summary>Base64, at least 32 bytes. Required in Production; elsewhere derived from Auth:SigningKey when unset.
    /// Rotating it makes every stored code unfindable: it is the card data's key, not a session key.</summary>
    public string? CodeKey { get; set; }
}

/// <summary>
/// The one <see cref="IGiftCardCodeProtector"/>: two sub-keys derived from the configured key with HKDF under separate
/// labels, so a lookup hash can never be replayed as ciphertext or the reverse.
/// </summary>
public sealed class GiftCardCodeProtector : IGiftCardCodeProtector
{
    private const byte Version = 1;
    private const int NonceLength = 12;
    private const int TagLength = 16;
    private static readonly byte[] HashLabel = Encoding.ASCII.GetBytes("medspa-gift-card-lookup-v1");
    private static readonly byte[] CipherLabel = Encoding.ASCII.GetBytes("medspa-gift-card-protect-v1");
    private static readonly byte[] FromAuthLabel = Encoding.ASCII.GetBytes("medspa-gift-card-codes-from-auth-v1");

    private readonly byte[] _hashKey;
    private readonly byte[] _cipherKey;

    public GiftCardCodeProtector(byte[] key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length < 32)
        {
            throw new ArgumentException("The gift card code key must be at least 32 bytes.", nameof(key));
        }

        _hashKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, key, 32, info: HashLabel);
        _cipherKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, key, 32, info: CipherLabel);
    }

    /// <summary>
    /// The protector from configuration: <c>GiftCards:CodeKey</c>; without it, outside Production, a key derived from
    /// the JWT signing key (so a development server's cards survive restarts), else a random one for this process
    /// (<paramref name="isEphemeral"/>). In Production a missing key refuses to start: cards whose hashes no
    /// restart could match again would be money lost.
    /// </summary>
    public static GiftCardCodeProtector FromSettings(string? codeKey, string? authSigningKey, bool isProduction, out bool isEphemeral)
    {
        isEphemeral = false;
        if (!string.IsNullOrWhiteSpace(codeKey))
        {
            return new GiftCardCodeProtector(DecodeKey(codeKey));
        }

        if (isProduction)
        {
            throw new InvalidOperationException("GiftCards:CodeKey is not set: set GiftCards__CodeKey (base64, at least 32 bytes) in Production.");
        }

        if (!string.IsNullOrWhiteSpace(authSigningKey))
        {
            // Auth:SigningKey is base64 when it decodes as such, otherwise its UTF-8 text (AuthOptions' rule).
            var auth = TryBase64(authSigningKey) ?? Encoding.UTF8.GetBytes(authSigningKey);
            return new GiftCardCodeProtector(HKDF.DeriveKey(HashAlgorithmName.SHA256, auth, 32, info: FromAuthLabel));
        }

        isEphemeral = true;
        return new GiftCardCodeProtector(RandomNumberGenerator.GetBytes(32));
    }

    public string Hash(Guid tenantId, string canonicalCode)
    {
        ArgumentNullException.ThrowIfNull(canonicalCode);
        var code = Encoding.UTF8.GetBytes(canonicalCode);
        var input = new byte[16 + code.Length];
        tenantId.TryWriteBytes(input.AsSpan(0, 16));
        code.CopyTo(input, 16);
        return Convert.ToHexStringLower(HMACSHA256.HashData(_hashKey, input));
    }

    public string Protect(string canonicalCode)
    {
        ArgumentNullException.ThrowIfNull(canonicalCode);
        var plain = Encoding.UTF8.GetBytes(canonicalCode);
        var buffer = new byte[1 + NonceLength + TagLength + plain.Length];
        buffer[0] = Version;
        var nonce = buffer.AsSpan(1, NonceLength);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_cipherKey, TagLength);
        aes.Encrypt(nonce, plain, buffer.AsSpan(1 + NonceLength + TagLength), buffer.AsSpan(1 + NonceLength, TagLength), buffer.AsSpan(0, 1));
        return Base64Url.EncodeToString(buffer);
    }

    public string? Unprotect(string? protectedCode)
    {
        if (string.IsNullOrEmpty(protectedCode) || protectedCode.Length > 256
            || !protectedCode.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
        {
            return null;
        }

        byte[] buffer;
        try
        {
            buffer = Base64Url.DecodeFromChars(protectedCode);
        }
        catch (FormatException)
        {
            return null;
        }

        if (buffer.Length <= 1 + NonceLength + TagLength || buffer[0] != Version)
        {
            return null;
        }

        var plain = new byte[buffer.Length - 1 - NonceLength - TagLength];
        try
        {
            using var aes = new AesGcm(_cipherKey, TagLength);
            aes.Decrypt(buffer.AsSpan(1, NonceLength), buffer.AsSpan(1 + NonceLength + TagLength), buffer.AsSpan(1 + NonceLength, TagLength), plain,
                buffer.AsSpan(0, 1));
        }
        catch (AuthenticationTagMismatchException)
        {
            return null;
        }

        return Encoding.UTF8.GetString(plain);
    }

    private static byte[] DecodeKey(string key) =>
        TryBase64(key) ?? throw new InvalidOperationException("GiftCards:CodeKey must be base64 (at least 32 bytes).");

    private static byte[]? TryBase64(string key)
    {
        var trimmed = key.Trim();
        var buffer = new byte[trimmed.Length];
        return Convert.TryFromBase64String(trimmed, buffer, out var written) ? buffer[..written] : null;
    }
}
