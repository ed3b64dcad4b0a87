using System.Security.Cryptography;
using MedSpa.Silo.Receipts;

namespace MedSpa.Tests.Receipts;

public sealed class ReceiptLinkSignerTests
{
    [Fact]
    public void A_token_names_its_tenant_and_invoice_and_only_its_key_reads_it()
    {
        var signer = new ReceiptLinkSigner(RandomNumberGenerator.GetBytes(32));
        var (tenant, invoice) = (Guid.NewGuid(), Guid.NewGuid());
        var token = signer.CreateToken(tenant, invoice);

        Assert.Equal(64, token.Length);
        Assert.Matches("^[A-Za-z0-9_-]+$", token);
        Assert.True(signer.TryReadToken(token, out var t, out var i));
        Assert.Equal((tenant, invoice), (t, i));
        Assert.False(new ReceiptLinkSigner(RandomNumberGenerator.GetBytes(32)).TryReadToken(token, out _, out _));
    }

    [Fact]
    public void Every_single_character_change_is_rejected()
    {
        var signer = new ReceiptLinkSigner(RandomNumberGenerator.GetBytes(32));
        var token = signer.CreateToken(Guid.NewGuid(), Guid.NewGuid());
        for (var p = 0; p < token.Length; p++)
        {
            var tampered = token[..p] + (token[p] == 'Q' ? 'R' : 'Q') + token[(p + 1)..];
            Assert.False(signer.TryReadToken(tampered, out _, out _), $"changed at {p}");
        }

        Assert.False(signer.TryReadToken(token[..^1], out _, out _));
        Assert.False(signer.TryReadToken(token + "A", out _, out _));
        Assert.False(signer.TryReadToken("", out _, out _));
        Assert.False(signer.TryReadToken("%%%", out _, out _));
    }

    [Fact]
    public void Key_comes_from_the_link_setting_else_derived_from_the_jwt_key_else_ephemeral()
    {
        var jwtKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(48));
        var (tenant, invoice) = (Guid.NewGuid(), Guid.NewGuid());

        // Derived: two processes with the same JWT key accept each other's links (links survive restarts) ...
        var a = ReceiptLinkSigner.FromSettings(null, jwtKey, out var ephemeralA);
        var b = ReceiptLinkSigner.FromSettings("", jwtKey, out _);
        Assert.False(ephemeralA);
        Assert.True(b.TryReadToken(a.CreateToken(tenant, invoice), out _, out _));

        // ... and the derived key is not the JWT key itself.
        var raw = new ReceiptLinkSigner(Convert.FromBase64String(jwtKey));
        Assert.False(raw.TryReadToken(a.CreateToken(tenant, invoice), out _, out _));

        var linkKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var explicitKey = ReceiptLinkSigner.FromSettings(linkKey, jwtKey, out _);
        Assert.False(explicitKey.TryReadToken(a.CreateToken(tenant, invoice), out _, out _));
        Assert.True(new ReceiptLinkSigner(Convert.FromBase64String(linkKey)).TryReadToken(explicitKey.CreateToken(tenant, invoice), out _, out _));

        var random = ReceiptLinkSigner.FromSettings(null, null, out var ephemeral);
        Assert.True(ephemeral);
        Assert.True(random.TryReadToken(random.CreateToken(tenant, invoice), out _, out _));
    }
}
