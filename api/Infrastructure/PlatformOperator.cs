using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using MedSpa.Api.Features.Auth;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace MedSpa.Api.Infrastructure;

/// <summary>Settings under <c>Operator:</c>: the platform operator, who runs the deployment and belongs to no tenant.</summary>
public sealed class OperatorOptions
{
    public const string Section = "Operator";
    public const int MinKeyLength = 32;

    /// <summary>
    /// The operator's sign-in key (at least 32 characters; from the environment, never the repository). Unset: there
    /// is no operator, and the cluster-wide views answer 404 to everyone.
    /// </summary>
    public string Key { get; set; } = "";

    /// <summary>How long an operator sign-in lasts. Changing <see cref="Key"/> ends every operator session at once.</summary>
    public TimeSpan SessionLifetime { get; set; } = TimeSpan.FromHours(8);

    public bool IsConfigured => !string.IsNullOrEmpty(Key);
}

public sealed record OperatorSignInRequest(string? Key);

public sealed record OperatorSessionResponse(string AccessToken, DateTimeOffset ExpiresAt);

/// <summary>Marks an endpoint only the platform operator may reach: to anyone else it answers 404, as if it did not exist.</summary>
public sealed class OperatorOnlyMetadata;

/// <summary>
/// The platform operator: the one identity that may see cluster-wide views (the Orleans Dashboard, the cluster
/// status), which show every tenant's grains, reminders and requests. It is no tenant user: it signs in with
/// <c>Operator:Key</c> and gets a token of its own scheme, signed with a key derived from <c>Operator:Key</c> and
/// addressed to its own audience, so no tenant token is ever an operator token, no operator token reaches a tenant
/// endpoint, and rotating the key ends every operator session. Tenants (any role) and anonymous callers get 404 from
/// operator routes, so probing them reveals nothing.
/// </summary>
public static class PlatformOperator
{
    public const string Scheme = "Operator";
    public const string Role = "operator";
    public const string Audience = "medspa-operator";
    public const string CookieName = "medspa_operator";
    public const string SessionPath = "/api/operator/session";
    public const string SignInPagePath = "/operator";

    private const string KeyDerivationLabel = "medspa-operator-token-v1";

    public static IHostApplicationBuilder AddMedSpaOperator(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<OperatorOptions>().BindConfiguration(OperatorOptions.Section)
            .Validate(o => !o.IsConfigured || o.Key.Length >= OperatorOptions.MinKeyLength,
                $"Operator:Key must be at least {OperatorOptions.MinKeyLength} characters (./medspa run generates one).")
            .Validate(o => o.SessionLifetime > TimeSpan.Zero && o.SessionLifetime <= TimeSpan.FromDays(1),
                "Operator:SessionLifetime must be between 0 and 1 day.")
            .ValidateOnStart();

        builder.Services.AddAuthentication().AddJwtBearer(Scheme);
        builder.Services.AddOptions<JwtBearerOptions>(Scheme)
            .Configure<IOptions<OperatorOptions>, IOptions<AuthOptions>, TimeProvider>((jwt, op, auth, time) =>
            {
                jwt.MapInboundClaims = false;
                jwt.TokenValidationParameters = new TokenValidationParameters
                {
                    ValidIssuer = auth.Value.Issuer,
                    ValidAudience = Audience,
                    // Without an operator key nothing can validate: a random key nobody holds.
                    IssuerSigningKey = new SymmetricSecurityKey(
                        op.Value.IsConfigured ? DeriveSigningKey(op.Value.Key) : RandomNumberGenerator.GetBytes(32)),
                    ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
                    RoleClaimType = MedSpaClaims.Role,
                    ClockSkew = TimeSpan.FromSeconds(30),
                    LifetimeValidator = AuthSetup.LifetimeOn(time),
                };
                jwt.Events = new JwtBearerEvents
                {
                    // A browser opening the dashboard carries the token in the cookie set at sign-in; API clients send it as a bearer header.
                    OnMessageReceived = ctx =>
                    {
                        if (string.IsNullOrEmpty(ctx.Request.Headers.Authorization) && ctx.Request.Cookies.TryGetValue(CookieName, out var cookie))
                        {
                            ctx.Token = cookie;
                        }

                        return Task.CompletedTask;
                    },
                    // Refusals stay silent: no WWW-Authenticate header that would tell a prober the route exists.
                    OnChallenge = ctx =>
                    {
                        ctx.HandleResponse();
                        return Task.CompletedTask;
                    },
                };
            });
        builder.Services.AddAuthorizationBuilder().AddPolicy(Policies.Operator, p => p
            .AddAuthenticationSchemes(Scheme)
            .RequireAuthenticatedUser()
            .RequireClaim(MedSpaClaims.Role, Role));
        builder.Services.AddSingleton<IAuthorizationMiddlewareResultHandler, HideOperatorRoutes>();
        return builder;
    }

    /// <summary>Only the platform operator reaches the endpoints; everyone else gets 404.</summary>
    public static TBuilder RequireOperator<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.RequireAuthorization(Policies.Operator).WithMetadata(new OperatorOnlyMetadata());

    public static WebApplication MapOperatorApi(this WebApplication app)
    {
        var session = app.MapGroup(SessionPath).AllowAnonymous().WithTags("Operations");
        session.MapPost("", SignInAsync).WithName("OperatorSignIn")
            .WithSummary("Platform operator sign-in (not a tenant user): returns a token and sets the dashboard cookie.")
            .WithDescription("404 when no operator is configured (Operator:Key).");
        session.MapDelete("", SignOut).WithName("OperatorSignOut").WithSummary("Ends the operator's browser session (clears the cookie).");

        // The browser sign-in page that leads to the dashboard (a form; the key never appears in a URL).
        var page = app.Environment.WebRootFileProvider.GetFileInfo("operator/index.html");
        app.MapGet(SignInPagePath, (IOptions<OperatorOptions> options) => page.Exists && options.Value.IsConfigured
                ? Results.Stream(page.CreateReadStream(), "text/html; charset=utf-8")
                : Results.NotFound())
            .AllowAnonymous().ExcludeFromDescription();
        return app;
    }

    private static async Task<Results<Ok<OperatorSessionResponse>, ProblemHttpResult, ValidationProblem>> SignInAsync(
        OperatorSignInRequest? request, IOptions<OperatorOptions> options, IOptions<AuthOptions> auth, TimeProvider time,
        SignInThrottle throttle, HttpContext http, ILoggerFactory loggers, CancellationToken ct)
    {
        var o = options.Value;
        if (!o.IsConfigured)
        {
            return ApiProblems.NotFound("The resource");
        }

        if (string.IsNullOrEmpty(request?.Key) || request.Key.Length > 1000)
        {
            return ApiProblems.Validation("key", "The operator key is required.");
        }

        // Throttled like tenant sign-in (per client address, delays that grow; api/Features/Auth/SignInThrottle.cs): a
        // blocked attempt is refused before the key is compared, so waiting is the only way on.
        var address = ClientContext.From(http).Ip;
        if (await throttle.OperatorBlockedUntilAsync(address, ct) is { } blockedUntil)
        {
            return Throttled(http, time, blockedUntil);
        }

        if (!KeyMatches(request.Key, o.Key))
        {
            loggers.CreateLogger(typeof(PlatformOperator).FullName!)
                .LogWarning("Operator sign-in refused (wrong key) from {RemoteIp}", http.Connection.RemoteIpAddress);
            if (await throttle.RecordOperatorFailureAsync(address, ct) is { } retryAt)
            {
                // This failure started a delay: say so now rather than on the next attempt.
                RetryAfter(http, time, retryAt);
            }

            return ApiProblems.Problem(
                StatusCodes.Status401Unauthorized, ErrorCodes.InvalidCredentials, "Sign-in failed.", "The operator key is wrong.");
        }

        await throttle.RecordOperatorSuccessAsync(address, ct);

        var now = time.GetUtcNow();
        var expires = now.Add(o.SessionLifetime);
        var token = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = auth.Value.Issuer,
            Audience = Audience,
            Subject = new ClaimsIdentity(
                [new Claim(MedSpaClaims.UserId, Role), new Claim(MedSpaClaims.Role, Role), new Claim(MedSpaClaims.Name, "Platform operator")]),
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = expires.UtcDateTime,
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(DeriveSigningKey(o.Key)), SecurityAlgorithms.HmacSha256),
        });
        http.Response.Cookies.Append(CookieName, token, new CookieOptions
        {
            HttpOnly = true,
            Secure = http.Request.IsHttps,
            SameSite = SameSiteMode.Strict,
            Path = "/",
            Expires = expires,
        });
        http.Response.Headers.CacheControl = "no-store";
        return TypedResults.Ok(new OperatorSessionResponse(token, expires));
    }

    /// <summary>429 <c>sign_in_throttled</c> with Retry-After, the same answer as a throttled tenant sign-in.</summary>
    private static ProblemHttpResult Throttled(HttpContext http, TimeProvider time, DateTimeOffset retryAt)
    {
        var seconds = RetryAfter(http, time, retryAt);
        return ApiProblems.Problem(StatusCodes.Status429TooManyRequests, ErrorCodes.SignInThrottled, "Too many failed sign-ins.",
            $"Too many failed sign-ins from this address. Wait {seconds} s (until {retryAt:O}) before trying again.",
            new Dictionary<string, object?> { ["retryAt"] = retryAt, ["retryAfterSeconds"] = seconds });
    }

    /// <summary>Sets Retry-After (whole seconds, at least 1) and returns the seconds.</summary>
    private static int RetryAfter(HttpContext http, TimeProvider time, DateTimeOffset retryAt)
    {
        var seconds = Math.Max(1, (int)Math.Ceiling((retryAt - time.GetUtcNow()).TotalSeconds));
        http.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return seconds;
    }

    private static NoContent SignOut(HttpContext http)
    {
        http.Response.Cookies.Delete(
            CookieName, new CookieOptions { Path = "/", HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = http.Request.IsHttps });
        return TypedResults.NoContent();
    }

    /// <summary>Constant-time: comparing fixed-length hashes takes the same time whatever the input and however much of it matches.</summary>
    public static bool KeyMatches(string given, string expected) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), SHA256.HashData(Encoding.UTF8.GetBytes(expected)));

    private static byte[] DeriveSigningKey(string operatorKey) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(operatorKey), 32, info: Encoding.UTF8.GetBytes(KeyDerivationLabel));

    /// <summary>
    /// A refused caller of an operator-only endpoint gets the same bare 404 as an unknown path (the status-code page
    /// writes the usual problem body), not 401/403, which would confirm the route exists.
    /// </summary>
    private sealed class HideOperatorRoutes : IAuthorizationMiddlewareResultHandler
    {
        private readonly AuthorizationMiddlewareResultHandler _default = new();

        public Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
        {
            if (!authorizeResult.Succeeded && context.GetEndpoint()?.Metadata.GetMetadata<OperatorOnlyMetadata>() is not null)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }

            return _default.HandleAsync(next, context, policy, authorizeResult);
        }
    }
}
