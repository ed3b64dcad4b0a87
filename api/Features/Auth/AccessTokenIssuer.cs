using System.Security.Claims;
using MedSpa.Api.Infrastructure;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace MedSpa.Api.Features.Auth;

/// <summary>Who an access token speaks for. ClinicIds are the user's assigned clinics.</summary>
public sealed record TokenSubject(
    Guid UserId, Guid TenantId, string Role, string Email, string DisplayName, IReadOnlyCollection<Guid> ClinicIds, Guid SessionId,
    int TokenEpoch = 0);

/// <summary>
/// Issues the short-lived (15 min by default) HMAC-signed JWT access tokens that every API call and the SignalR hub
/// accept. Each carries its session id and the user's token epoch, which is what a revocation names: every host refuses
/// a revoked token at once from an in-memory deny list (<see cref="RevokedAccessList"/>).
/// </summary>
public sealed class AccessTokenIssuer(IOptions<AuthOptions> options, TimeProvider time)
{
    private readonly JsonWebTokenHandler _handler = new();

    public (string Token, DateTimeOffset ExpiresAt) Issue(TokenSubject subject)
    {
        var o = options.Value;
        var now = time.GetUtcNow();
        var expires = now.Add(o.AccessTokenLifetime);
        var claims = new List<Claim>
        {
            new(MedSpaClaims.UserId, subject.UserId.ToString()),
            new(MedSpaClaims.TenantId, subject.TenantId.ToString()),
            new(MedSpaClaims.Role, subject.Role),
            new(MedSpaClaims.Email, subject.Email),
            new(MedSpaClaims.Name, subject.DisplayName),
            new(MedSpaClaims.SessionId, subject.SessionId.ToString()),
            new(MedSpaClaims.TokenEpoch, subject.TokenEpoch.ToString(System.Globalization.CultureInfo.InvariantCulture), ClaimValueTypes.Integer32),
        };
        claims.AddRange(subject.ClinicIds.Select(c => new Claim(MedSpaClaims.Clinic, c.ToString())));

        var token = _handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = o.Issuer,
            Audience = o.Audience,
            Subject = new ClaimsIdentity(claims),
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = expires.UtcDateTime,
            SigningCredentials = new SigningCredentials(o.GetSigningKey(), SecurityAlgorithms.HmacSha256),
        });
        return (token, expires);
    }
}
