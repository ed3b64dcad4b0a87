using System.Security.Claims;

namespace MedSpa.Api.Features.Auth;

/// <summary>
/// The user of a hub connection as the connection keeps it for its whole life: the validated token's claims (type,
/// value, value type, issuer) in a plain identity, without the token object they were read from.
/// </summary>
/// <remarks>
/// Why: SignalR keeps the handshake's <see cref="ClaimsPrincipal"/> for as long as the connection lives (hours, for a
/// wall screen), and the one the JWT handler builds holds the parsed <c>JsonWebToken</c> (its encoded string, header and
/// payload) besides the claims. A wall of a thousand screens joining at once makes a collection copy all of it (tests/
/// MedSpa.Benchmarks/RESULTS.md, runs 20–22). Nothing reads the token object after validation: policies, the revocation
/// filter (<see cref="TokenIdentity"/>) and the hub read claims. HTTP requests keep the handler's principal: it lives
/// only as long as the request.
/// </remarks>
public static class ConnectionPrincipal
{
    public static ClaimsPrincipal Compact(ClaimsIdentity validated)
    {
        ArgumentNullException.ThrowIfNull(validated);
        var claims = new List<Claim>();
        foreach (var claim in validated.Claims)
        {
            claims.Add(new Claim(claim.Type, claim.Value, claim.ValueType, claim.Issuer, claim.OriginalIssuer));
        }

        return new ClaimsPrincipal(new ClaimsIdentity(claims, validated.AuthenticationType, validated.NameClaimType, validated.RoleClaimType));
    }
}
