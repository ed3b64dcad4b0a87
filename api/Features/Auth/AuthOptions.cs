using System.Text;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.IdentityModel.Tokens;
using MedSpa.Api.Infrastructure;

namespace MedSpa.Api.Features.Auth;

/// <summary>Settings under <c>Auth:</c>. The signing key comes from configuration or the environment, never the repo.</summary>
public sealed class AuthOptions
{
    public const string Section = "Auth";

    /// <summary>HMAC-SHA256 key for access tokens, at least 32 bytes (base64 or plain text).</summary>
    public string SigningKey { get; set; } = "";
    public string Issuer { get; set; } = "medspa-orleans";
    public string Audience { get; set; } = "medspa-orleans";
    public TimeSpan AccessTokenLifetime { get; set; } = TimeSpan.FromMinutes(15);
    public TimeSpan RefreshTokenLifetime { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Growing delays after failed sign-ins (<see cref="SignInThrottle"/>), under <c>Auth:Throttle:</c>.</summary>
    public SignInThrottleOptions Throttle { get; set; } = new();

    /// <summary>
    /// How often a host re-reads recent revocations even when no notification came: the backstop for one that was
    /// lost (see <see cref="AccessRevocationListener"/>).
    /// </summary>
    public TimeSpan RevocationResync { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Whether <c>POST /api/tenants</c> lets anyone sign up a new organisation.</summary>
    public bool AllowSignup { get; set; } = true;

    /// <summary>
    /// Key material (≥ 32 bytes, base64 or text) for encrypting TOTP secrets at rest. When empty, a key is derived
    /// from <see cref="SigningKey"/> with HKDF under a separate label, so one secret suffices for a small deployment;
    /// set it explicitly to rotate the signing key without losing enrolled authenticators.
    /// </summary>
    public string MfaEncryptionKey { get; set; } = "";

    /// <summary>The issuer name authenticator apps show next to the account.</summary>
    public string MfaIssuer { get; set; } = "MedSpa";

    public SymmetricSecurityKey GetSigningKey()
    {
        if (string.IsNullOrWhiteSpace(SigningKey))
        {
            throw new InvalidOperationException("Auth:SigningKey is not set: set Auth__SigningKey (./medspa run generates one for you).");
        }

        var bytes = DecodeKey(SigningKey);
        if (bytes.Length < 32)
        {
            throw new InvalidOperationException("Auth:SigningKey must be at least 32 bytes.");
        }

        return new SymmetricSecurityKey(bytes);
    }

    /// <summary>A key setting is base64 when it decodes as such, otherwise its UTF-8 text.</summary>
    internal static byte[] DecodeKey(string value)
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

public static class AuthSetup
{
    /// <summary>
    /// Judges a token's lifetime by the same clock that issues tokens (a fake one in tests), with the parameters' skew.
    /// Shared by tenant and operator tokens.
    /// </summary>
    public static LifetimeValidator LifetimeOn(TimeProvider time) => (notBefore, expires, _, parameters) =>
    {
        var now = time.GetUtcNow().UtcDateTime;
        return expires is { } exp
               && exp > now - parameters.ClockSkew
               && (notBefore is not { } nbf || nbf <= now + parameters.ClockSkew);
    };

    public static IHostApplicationBuilder AddMedSpaAuth(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<AuthOptions>().BindConfiguration(AuthOptions.Section)
            .Validate(o => o.GetSigningKey() is not null, "Auth:SigningKey is invalid.")
            .ValidateOnStart();

        builder.Services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme).AddJwtBearer();
        builder.Services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme)
            .Configure<Microsoft.Extensions.Options.IOptions<AuthOptions>, TimeProvider>((jwt, auth, time) =>
            {
                var o = auth.Value;
                jwt.MapInboundClaims = false;
                jwt.TokenValidationParameters = new TokenValidationParameters
                {
                    ValidIssuer = o.Issuer,
                    ValidAudience = o.Audience,
                    IssuerSigningKey = o.GetSigningKey(),
                    ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
                    NameClaimType = MedSpaClaims.Name,
                    RoleClaimType = MedSpaClaims.Role,
                    ClockSkew = TimeSpan.FromSeconds(30),
                    LifetimeValidator = LifetimeOn(time),
                };
                // Browsers cannot set headers on WebSocket requests: SignalR sends the token in the query string.
                jwt.Events = new JwtBearerEvents
                {
                    OnMessageReceived = ctx =>
                    {
                        if (ctx.Request.Path.StartsWithSegments("/hubs", StringComparison.Ordinal)
                            && ctx.Request.Query.TryGetValue("access_token", out var token))
                        {
                            ctx.Token = token;
                        }

                        return Task.CompletedTask;
                    },
                    // A valid signature is not enough: the session, display link or user may have been revoked since
                    // the token was issued. An in-memory look-up (RevokedAccessList), not a database round trip.
                    OnTokenValidated = ctx =>
                    {
                        // A token without user and tenant names nothing a revocation could name; policies judge it.
                        var revoked = ctx.HttpContext.RequestServices.GetRequiredService<RevokedAccessList>();
                        if (TokenIdentity.From(ctx.Principal) is { } token)
                        {
                            if (!revoked.IsCaughtUp)
                            {
                                ctx.Fail("Revocations are not known yet on this host (database unreachable).");
                            }
                            else if (revoked.IsRevoked(token.TenantId, token.UserId, token.SessionId, token.TokenEpoch))
                            {
                                ctx.Fail("The access token was revoked.");
                                return Task.CompletedTask;
                            }
                        }

                        if (ctx.Principal is { Identity: System.Security.Claims.ClaimsIdentity identity }
                            && ctx.Request.Path.StartsWithSegments("/hubs", StringComparison.Ordinal))
                        {
                            ctx.Principal = ConnectionPrincipal.Compact(identity);
                        }

                        return Task.CompletedTask;
                    },
                };
            });
        builder.Services.AddMedSpaPolicies();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<AccessTokenIssuer>();
        builder.Services.AddSingleton<RevokedConnections>();
        builder.Services.AddSingleton<RevokedAccessList>();
        builder.Services.AddHostedService<AccessRevocationListener>();
        // Global hub filter: every hub's connections are tracked so that a revocation closes them (see RevokedConnections).
        builder.Services.Configure<HubOptions>(o => o.AddFilter<RevocationHubFilter>());
        builder.Services.AddSingleton<RevocationHubFilter>();
        return builder;
    }
}
