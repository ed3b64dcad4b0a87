using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace MedSpa.Api.Features.Auth;

/// <summary>
/// Encrypts TOTP secrets at rest with AES-256-GCM. The key comes from <c>Auth:MfaEncryptionKey</c>, or is derived
/// from the signing key with HKDF under its own label when that is not set. The ciphertext is bound to its user
/// (associated data = tenant and user id), so a secret copied onto another user's row does not decrypt.
/// Format: <c>v1:</c> + base64(nonce ‖ ciphertext ‖ tag); the version prefix leaves room for key rotation.
/// </summary>
public sealed class MfaSecretProtector
{
    private const string Version = "v1:";
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private readonly byte[] _key;

    public MfaSecretProtector(IOptions<AuthOptions> options)
    {
        var o = options.Value;
        var material = string.IsNullOrWhiteSpace(o.MfaEncryptionKey)
            ? o.GetSigningKey().Key
            : AuthOptions.DecodeKey(o.MfaEncryptionKey);
        if (material.Length < 32)
        {
            throw new InvalidOperationException("Auth:MfaEncryptionKey must be at least 32 bytes.");
        }

        _key = HKDF.DeriveKey(HashAlgorithmName.SHA256, material, 32, salt: [], info: Encoding.UTF8.GetBytes("medspa/mfa-secret/v1"));
    }

    public string Protect(byte[] secret, Guid tenantId, Guid userId)
    {
        var output = new byte[NonceSize + secret.Length + TagSize];
        var nonce = output.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_key, TagSize);
        aes.Encrypt(
            nonce, secret, output.AsSpan(NonceSize, secret.Length), output.AsSpan(NonceSize + secret.Length), AssociatedData(tenantId, userId));
        return Version + Convert.ToBase64String(output);
    }

    public byte[] Unprotect(string protectedSecret, Guid tenantId, Guid userId)
    {
        if (!protectedSecret.StartsWith(Version, StringComparison.Ordinal))
        {
            throw new CryptographicException("Unknown MFA secret format.");
        }

        var input = Convert.FromBase64String(protectedSecret[Version.Length..]);
        var length = input.Length - NonceSize - TagSize;
        if (length <= 0)
        {
            throw new CryptographicException("Truncated MFA secret.");
        }

        var secret = new byte[length];
        using var aes = new AesGcm(_key, TagSize);
        aes.Decrypt(
            input.AsSpan(0, NonceSize), input.AsSpan(NonceSize, length), input.AsSpan(NonceSize + length), secret, AssociatedData(tenantId, userId));
        return secret;
    }

    private static byte[] AssociatedData(Guid tenantId, Guid userId) => [.. tenantId.ToByteArray(), .. userId.ToByteArray()];
}
