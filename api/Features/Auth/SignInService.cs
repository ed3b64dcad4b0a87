using Microsoft.Extensions.Options;

namespace MedSpa.Api.Features.Auth;

public enum SignInFailure
{
    InvalidCredentials,
    AccountLocked,
    MfaRequired,
    InvalidMfaCode,
}

public sealed record SignInResult(TokenResponse? Tokens, SignInFailure Failure = SignInFailure.InvalidCredentials, DateTimeOffset? LockedUntil = null)
{
    public static SignInResult Failed(SignInFailure failure, DateTimeOffset? lockedUntil = null) => new(null, failure, lockedUntil);
}

/// <summary>
/// Password (+ TOTP or recovery code) sign-in. A wrong password and a wrong second factor both count towards the
/// lockout (so a 6-digit code cannot be brute-forced either); being asked for the second factor does not.
/// </summary>
public sealed class SignInService(
    UserAccounts users,
    PasswordHashing passwords,
    MfaService mfa,
    SessionService sessions,
    IOptions<AuthOptions> options,
    TimeProvider time,
    ILogger<SignInService> logger)
{
    public async Task<SignInResult> SignInAsync(LoginRequest request, ClientContext client, CancellationToken ct)
    {
        var password = request.Password ?? "";
        var user = await users.FindByEmailAsync(request.Email!.Trim(), ct);
        if (user is null || !user.IsActive)
        {
            // Same work, same answer as a wrong password: the response must not tell which emails exist.
            passwords.VerifyDummy(password);
            return SignInResult.Failed(SignInFailure.InvalidCredentials);
        }

        var now = time.GetUtcNow();
        if (user.LockedUntil is { } locked && UserAccount.AsUtc(locked) > now)
        {
            return SignInResult.Failed(SignInFailure.AccountLocked, UserAccount.AsUtc(locked));
        }

        var check = passwords.Verify(user.PasswordHash, password);
        if (check == PasswordCheck.Failed)
        {
            return await StrikeAsync(user, SignInFailure.InvalidCredentials, now, ct);
        }

        if (user.MfaEnabled)
        {
            if (string.IsNullOrWhiteSpace(request.TotpCode) && string.IsNullOrWhiteSpace(request.RecoveryCode))
            {
                return SignInResult.Failed(SignInFailure.MfaRequired);
            }

            var passed = !string.IsNullOrWhiteSpace(request.TotpCode)
                ? await mfa.UseCodeAsync(user, request.TotpCode, ct)
                : await mfa.UseRecoveryCodeAsync(user, request.RecoveryCode, ct);
            if (!passed)
            {
                return await StrikeAsync(user, SignInFailure.InvalidMfaCode, now, ct);
            }

            if (string.IsNullOrWhiteSpace(request.TotpCode))
            {
                logger.LogInformation("User {UserId} of tenant {TenantId} signed in with a recovery code", user.Id, user.TenantId);
            }
        }

        await users.RecordSuccessfulLoginAsync(user.TenantId, user.Id, check == PasswordCheck.SucceededRehashNeeded ? passwords.Hash(password) : null, ct);
        return new SignInResult(await sessions.StartAsync(user, request.Device, client, ct));
    }

    private async Task<SignInResult> StrikeAsync(UserAccount user, SignInFailure failure, DateTimeOffset now, CancellationToken ct)
    {
        var o = options.Value;
        var lockedUntil = await users.RecordFailedLoginAsync(user.TenantId, user.Id, now, o.MaxFailedLogins, o.LockoutDuration, ct);
        if (lockedUntil is not null)
        {
            logger.LogWarning("User {UserId} of tenant {TenantId} locked out until {LockedUntil}", user.Id, user.TenantId, lockedUntil);
            return SignInResult.Failed(SignInFailure.AccountLocked, lockedUntil);
        }

        return SignInResult.Failed(failure);
    }
}
