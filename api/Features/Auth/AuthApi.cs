using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;

namespace MedSpa.Api.Features.Auth;

public static class AuthApi
{
    public static IServiceCollection AddMedSpaSignIn(this IServiceCollection services)
    {
        services.AddSingleton<PasswordHashing>();
        services.AddSingleton<MfaSecretProtector>();
        services.AddSingleton<UserAccounts>();
        services.AddSingleton<SessionService>();
        services.AddSingleton<MfaService>();
        services.AddSingleton<SignInService>();
        services.AddSingleton<SignInThrottle>();
        services.AddSingleton<Tenants.TenantProvisioning>();
        return services;
    }

    public static IEndpointRouteBuilder MapAuthApi(this IEndpointRouteBuilder app)
    {
        // Signing in and refreshing are what an anonymous caller does to stop being anonymous.
        var open = app.MapGroup("/api/auth").AllowAnonymous().WithTags("Auth");
        open.MapPost("/login", LoginAsync);
        open.MapPost("/refresh", RefreshAsync);

        var signedIn = app.MapGroup("/api/auth").RequireAuthorization(Policies.SignedIn).WithTags("Auth");
        signedIn.MapPost("/logout", LogoutAsync);
        signedIn.MapGet("/me", MeAsync);
        signedIn.MapGet("/sessions", ListSessionsAsync);
        signedIn.MapDelete("/sessions/{id:guid}", RevokeSessionAsync);
        signedIn.MapPost("/password", ChangePasswordAsync);
        signedIn.MapPost("/mfa/enroll", EnrollMfaAsync);
        signedIn.MapPost("/mfa/confirm", ConfirmMfaAsync);
        signedIn.MapPost("/mfa/disable", DisableMfaAsync);
        return app;
    }

    private static async Task<Results<Ok<TokenResponse>, ProblemHttpResult, ValidationProblem>> LoginAsync(
        LoginRequest request, SignInService signIn, HttpContext http, CancellationToken ct)
    {
        var v = new Validation()
            .Required("email", request.Email, 320)
            .Required("password", request.Password, PasswordHashing.MaxLength)
            .Optional("totpCode", request.TotpCode, 20)
            .Optional("recoveryCode", request.RecoveryCode, 40)
            .Optional("device.id", request.Device?.Id, 200)
            .Optional("device.name", request.Device?.Name, 200)
            .Optional("device.fingerprint", request.Device?.Fingerprint, 4000);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var result = await signIn.SignInAsync(request, ClientContext.From(http), ct);
        if (result.Tokens is { } tokens)
        {
            return TypedResults.Ok(tokens);
        }

        if (result.RetryAt is { } retryAt && result.Failure != SignInFailure.Throttled)
        {
            // This failure started a delay: say so now rather than on the next attempt.
            RetryAfter(http, retryAt);
        }

        return result.Failure switch
        {
            SignInFailure.Throttled => Throttled(http, result.RetryAt!.Value),
            SignInFailure.MfaRequired =>
                Unauthorized(ErrorCodes.MfaRequired, "A code from your authenticator app (totpCode) or a recovery code (recoveryCode) is required."),
            SignInFailure.InvalidMfaCode => Unauthorized(ErrorCodes.InvalidMfaCode, "The authentication code is wrong, expired or already used."),
            _ => Unauthorized(ErrorCodes.InvalidCredentials, "The email or password is wrong."),
        };
    }

    private static async Task<Results<Ok<TokenResponse>, ProblemHttpResult, ValidationProblem>> RefreshAsync(
        RefreshRequest request, SessionService sessions, HttpContext http, CancellationToken ct)
    {
        var v = new Validation().Required("refreshToken", request.RefreshToken, 200);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var tokens = await sessions.RefreshAsync(request.RefreshToken!, ClientContext.From(http), ct);
        return tokens is null
            ? Unauthorized(
                ErrorCodes.InvalidRefreshToken,
                "The refresh token is not valid: it expired, was already used, or its session was revoked. Sign in again.")
            : TypedResults.Ok(tokens);
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> LogoutAsync(CurrentUser user, SessionService sessions, CancellationToken ct)
    {
        if (user.SessionId is not { } sessionId)
        {
            return ApiProblems.Problem(
                StatusCodes.Status400BadRequest, ErrorCodes.ValidationFailed, "No session.", "This access token belongs to no session.");
        }

        await sessions.RevokeAsync(user.TenantId, user.UserId, sessionId, "logout", ct);
        return TypedResults.NoContent();
    }

    private static async Task<Results<Ok<MeResponse>, ProblemHttpResult>> MeAsync(CurrentUser user, UserAccounts users, CancellationToken ct)
    {
        var account = await users.GetAsync(user.TenantId, user.UserId, ct);
        var tenant = await users.GetTenantAsync(user.TenantId, ct);
        if (account is null || tenant is null)
        {
            return ApiProblems.NotFound("The user");
        }

        return TypedResults.Ok(new MeResponse(account.ToResponse(), tenant, user.SessionId));
    }

    private static async Task<Results<Ok<Paged<SessionResponse>>, ValidationProblem>> ListSessionsAsync(
        CurrentUser user, SessionService sessions, int? page, int? pageSize, CancellationToken ct)
    {
        var v = new Validation();
        var paging = PageRequest.From(page, pageSize, v);
        return v.IsValid ? TypedResults.Ok(await sessions.ListAsync(user.TenantId, user.UserId, user.SessionId, paging, ct)) : v.ToProblem();
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> RevokeSessionAsync(
        Guid id, CurrentUser user, SessionService sessions, CancellationToken ct) =>
        await sessions.RevokeAsync(user.TenantId, user.UserId, id, "revoked-by-user", ct)
            ? TypedResults.NoContent()
            : ApiProblems.NotFound("The session");

    private static async Task<Results<NoContent, ProblemHttpResult, ValidationProblem>> ChangePasswordAsync(
        ChangePasswordRequest request, CurrentUser user, UserAccounts users, PasswordHashing passwords, NpgsqlDataSource db,
        TimeProvider time, SignInThrottle throttle, RevokedAccessList revokedAccess, HttpContext http, CancellationToken ct)
    {
        var v = new Validation().Required("currentPassword", request.CurrentPassword, PasswordHashing.MaxLength);
        PasswordHashing.CheckPolicy(v, "newPassword", request.NewPassword);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var account = await users.GetAsync(user.TenantId, user.UserId, ct);
        if (account is null)
        {
            return ApiProblems.NotFound("The user");
        }

        // Throttled and counted like a sign-in, or this endpoint would be a way round the throttle.
        var address = ClientContext.From(http).Ip;
        if (await throttle.BlockedUntilAsync(account.Email, address, account, ct) is { } blocked)
        {
            return Throttled(http, blocked);
        }

        if (passwords.Verify(account.PasswordHash, request.CurrentPassword!) == PasswordCheck.Failed)
        {
            if (await throttle.RecordFailureAsync(account.Email, address, account, ct) is { } retryAt)
            {
                RetryAfter(http, retryAt);
            }

            return new Validation().Add("currentPassword", "currentPassword is wrong.").ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var now = time.GetUtcNow();
        await UserAccounts.SetPasswordAsync(conn, tx, user.TenantId, user.UserId, passwords.Hash(request.NewPassword!), now, ct);
        // Whoever else knew the old password is signed out everywhere; this device stays signed in.
        var revoked = await SessionService.RevokeAllAsync(conn, tx, user.TenantId, user.UserId, user.SessionId, "password-changed", now, ct);
        await tx.CommitAsync(ct);
        revokedAccess.Apply(revoked);
        return TypedResults.NoContent();
    }

    private static async Task<Results<Ok<MfaEnrollResponse>, ProblemHttpResult>> EnrollMfaAsync(
        CurrentUser user, UserAccounts users, MfaService mfa, CancellationToken ct)
    {
        var account = await users.GetAsync(user.TenantId, user.UserId, ct);
        if (account is null)
        {
            return ApiProblems.NotFound("The user");
        }

        var enrolment = await mfa.EnrollAsync(user.TenantId, user.UserId, account.Email, ct);
        return enrolment is null
            ? ApiProblems.Conflict("Two-factor authentication is already on; disable it first to enrol a new authenticator.")
            : TypedResults.Ok(enrolment);
    }

    private static async Task<Results<Ok<MfaConfirmResponse>, ProblemHttpResult, ValidationProblem>> ConfirmMfaAsync(
        MfaCodeRequest request, CurrentUser user, MfaService mfa, CancellationToken ct)
    {
        var v = new Validation().Required("code", request.Code, 20);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var (failure, codes) = await mfa.ConfirmAsync(user.TenantId, user.UserId, request.Code, ct);
        return failure switch
        {
            MfaConfirmFailure.NotEnrolling => ApiProblems.Conflict("No enrolment is in progress: call /api/auth/mfa/enroll first."),
            MfaConfirmFailure.InvalidCode => InvalidMfaCode("code"),
            _ => TypedResults.Ok(new MfaConfirmResponse(codes)),
        };
    }

    private static async Task<Results<NoContent, ProblemHttpResult, ValidationProblem>> DisableMfaAsync(
        MfaDisableRequest request, CurrentUser user, UserAccounts users, MfaService mfa, PasswordHashing passwords, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(request.Code) && string.IsNullOrEmpty(request.Password))
        {
            return new Validation().Add("code", "Give a current authenticator code (code) or your password (password).").ToProblem();
        }

        var account = await users.GetAsync(user.TenantId, user.UserId, ct);
        if (account is null)
        {
            return ApiProblems.NotFound("The user");
        }

        if (!account.MfaEnabled)
        {
            return ApiProblems.Conflict("Two-factor authentication is not on.");
        }

        var proven = !string.IsNullOrWhiteSpace(request.Code)
            ? await mfa.UseCodeAsync(account, request.Code, ct)
            : passwords.Verify(account.PasswordHash, request.Password!) != PasswordCheck.Failed;
        if (!proven)
        {
            return string.IsNullOrWhiteSpace(request.Code)
                ? ApiProblems.Problem(StatusCodes.Status400BadRequest, ErrorCodes.InvalidCredentials, "Wrong password.", "password is wrong.",
                    new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { ["password"] = ["password is wrong."] } })
                : InvalidMfaCode("code");
        }

        await mfa.DisableAsync(user.TenantId, user.UserId, ct);
        return TypedResults.NoContent();
    }

    private static ProblemHttpResult Unauthorized(string code, string detail) =>
        ApiProblems.Problem(StatusCodes.Status401Unauthorized, code, "Sign-in failed.", detail);

    private static ProblemHttpResult InvalidMfaCode(string field) =>
        ApiProblems.Problem(StatusCodes.Status400BadRequest, ErrorCodes.InvalidMfaCode, "Wrong code.", $"{field} is wrong, expired or already used.",
            new Dictionary<string, object?> { ["errors"] =
                new Dictionary<string, string[]> { [field] = [$"{field} is wrong, expired or already used."] } });

    /// <summary>Sets Retry-After (whole seconds, at least 1) and returns the seconds.</summary>
    private static int RetryAfter(HttpContext http, DateTimeOffset retryAt)
    {
        var seconds = Math.Max(1, (int)Math.Ceiling((retryAt - http.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow()).TotalSeconds));
        http.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return seconds;
    }

    private static ProblemHttpResult Throttled(HttpContext http, DateTimeOffset retryAt)
    {
        var seconds = RetryAfter(http, retryAt);
        return ApiProblems.Problem(StatusCodes.Status429TooManyRequests, ErrorCodes.SignInThrottled, "Too many failed sign-ins.",
            $"Too many failed sign-ins. Wait {seconds} s (until {retryAt:O}) before trying again, or ask an owner or admin to unlock the account.",
            new Dictionary<string, object?> { ["retryAt"] = retryAt, ["retryAfterSeconds"] = seconds });
    }
}
