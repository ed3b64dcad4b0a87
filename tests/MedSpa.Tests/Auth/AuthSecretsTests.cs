using System.Security.Cryptography;
using MedSpa.Api.Features.Auth;
using Microsoft.Extensions.Options;

namespace MedSpa.Tests.Auth;

/// <summary>The at-rest protection of TOTP secrets and passwords, without a server.</summary>
public sealed class AuthSecretsTests
{
    private static MfaSecretProtector Protector(string signingKey, string mfaKey = "") =>
        new(Options.Create(new AuthOptions { SigningKey = signingKey, MfaEncryptionKey = mfaKey }));

    private static readonly string SigningKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(48));

    [Fact]
    public void A_protected_secret_round_trips_for_its_user_only()
    {
        var protector = Protector(SigningKey);
        var secret = RandomNumberGenerator.GetBytes(20);
        var tenant = Guid.NewGuid();
        var user = Guid.NewGuid();

        var stored = protector.Protect(secret, tenant, user);

        Assert.StartsWith("v1:", stored, StringComparison.Ordinal);
        Assert.Equal(secret, protector.Unprotect(stored, tenant, user));
        Assert.NotEqual(stored, protector.Protect(secret, tenant, user)); // fresh nonce each time
        // Copied onto another user's row, it does not decrypt.
        Assert.ThrowsAny<CryptographicException>(() => protector.Unprotect(stored, tenant, Guid.NewGuid()));
        // Tampered with, it does not decrypt.
        var bytes = Convert.FromBase64String(stored[3..]);
        bytes[^1] ^= 1;
        Assert.ThrowsAny<CryptographicException>(() => protector.Unprotect("v1:" + Convert.ToBase64String(bytes), tenant, user));
    }

    [Fact]
    public void The_key_depends_on_the_configured_material()
    {
        var secret = RandomNumberGenerator.GetBytes(20);
        var tenant = Guid.NewGuid();
        var user = Guid.NewGuid();
        var stored = Protector(SigningKey).Protect(secret, tenant, user);

        Assert.Equal(secret, Protector(SigningKey).Unprotect(stored, tenant, user));
        Assert.ThrowsAny<CryptographicException>(
            () => Protector(Convert.ToBase64String(RandomNumberGenerator.GetBytes(48))).Unprotect(stored, tenant, user));
        var explicitKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        Assert.ThrowsAny<CryptographicException>(() => Protector(SigningKey, explicitKey).Unprotect(stored, tenant, user));
        // With an explicit MFA key, the signing key can rotate without losing enrolled authenticators.
        var withExplicit = Protector(SigningKey, explicitKey).Protect(secret, tenant, user);
        Assert.Equal(
            secret, Protector(Convert.ToBase64String(RandomNumberGenerator.GetBytes(48)), explicitKey).Unprotect(withExplicit, tenant, user));
        Assert.Throws<InvalidOperationException>(() => Protector(SigningKey, "too-short"));
    }

    [Fact]
    public void Passwords_are_hashed_with_identity_pbkdf2_and_verified()
    {
        var hashing = new PasswordHashing();
        var hash = hashing.Hash("correct horse battery");

        // Identity's v3 format: a 0x01 marker, then PRF, iteration count, salt and subkey.
        var raw = Convert.FromBase64String(hash);
        Assert.Equal(0x01, raw[0]);
        Assert.True(System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(raw.AsSpan(5)) >= 100_000);
        Assert.NotEqual(hash, hashing.Hash("correct horse battery")); // salted
        Assert.Equal(PasswordCheck.Succeeded, hashing.Verify(hash, "correct horse battery"));
        Assert.Equal(PasswordCheck.Failed, hashing.Verify(hash, "correct horse battery!"));
        Assert.Equal(PasswordCheck.Failed, hashing.Verify("!", "anything"));
    }
}
