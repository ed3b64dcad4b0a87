using System.Security.Claims;
using MedSpa.Api.Features.Auth;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace MedSpa.Tests.Auth;

/// <summary>A hub connection keeps the token's claims, not the parsed token they came from (<see cref="ConnectionPrincipal"/>).</summary>
public sealed class ConnectionPrincipalTests
{
    [Fact]
    public async Task The_compact_principal_has_the_same_claims_and_identity_types_and_holds_no_token()
    {
        var key = new SymmetricSecurityKey(new byte[32]);
        var handler = new JsonWebTokenHandler();
        var jwt = handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = "medspa",
            Audience = "medspa-api",
            Claims = new Dictionary<string, object> { ["sub"] = "user-1", ["tid"] = "tenant-1", ["role"] = "display", ["name"] = "Wall 1" },
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.HmacSha256),
        });
        var validated = await handler.ValidateTokenAsync(jwt, new TokenValidationParameters
        {
            ValidIssuer = "medspa", ValidAudience = "medspa-api", IssuerSigningKey = key, NameClaimType = "name", RoleClaimType = "role",
        });
        Assert.True(validated.IsValid, validated.Exception?.Message);
        Assert.NotNull(((CaseSensitiveClaimsIdentity)validated.ClaimsIdentity).SecurityToken);

        var compact = ConnectionPrincipal.Compact(validated.ClaimsIdentity);

        var identity = Assert.IsType<ClaimsIdentity>(compact.Identity, exactMatch: true);
        Assert.True(identity.IsAuthenticated);
        Assert.Equal(validated.ClaimsIdentity.AuthenticationType, identity.AuthenticationType);
        Assert.Equal("name", identity.NameClaimType);
        Assert.Equal("role", identity.RoleClaimType);
        Assert.Equal("Wall 1", identity.Name);
        Assert.True(compact.IsInRole("display"));
        Assert.Equal(
            validated.ClaimsIdentity.Claims.Select(c => (c.Type, c.Value, c.ValueType, c.Issuer)),
            identity.Claims.Select(c => (c.Type, c.Value, c.ValueType, c.Issuer)));
        Assert.All(identity.Claims, c => Assert.Same(identity, c.Subject));
        Assert.Null(identity.BootstrapContext);
        Assert.Null(identity.Actor);
    }
}
