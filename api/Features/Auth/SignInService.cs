namespace MedSpa.Api.Features.Auth;

public enum SignInFailure
{
    InvalidCredentials,
    Throttled,
    MfaRequired,
    InvalidMfaCode,
}

/// <param name="RetryAt">When set, the caller must wait until then before the next attempt (<see cref="SignInThrottle"/>).</param>
public sealed record SignInResult(TokenResponse? Tokens, SignInFailure Failure = SignInFailure.InvalidCredentials, DateTimeOffset? RetryAt = null)
{
    public static SignInResult Failed(SignInFailure failure, DateTimeOffset? retryAt = null) => new(null, failure, retryAt);
}

/// <summary>
/// Password (+ TOTP or recovery code) sign-in. A wrong password and a wrong second factor both count towards the
/// throttle (so a 6-digit code cannot be brute-forced either); being asked for the second factor does not.
/// </summary>
public sealed class SignInService(
    UserAccounts users,
    PasswordHashing passwords,
    MfaService mfa,
    SessionService sessions,
    SignInThrottle throttle,
    ILogger<SignInService> logger)
{
    public async Task<SignInResult> SignInAsync(LoginRequest request, ClientContext client, CancellationToken ct)
    {
        var password = request.Password ?? "";
        var email = request.Email!.Trim();
        var found = await users.FindByEmailAsync(email, ct);
        var user = found is { IsActive: true } ? found : null;

        // Checked before the password: while blocked, a guess teaches nothing, right or wrong.
        if (await throttle.BlockedUntilAsync(email, client.Ip, user, ct) is { } blocked)
        {
            return SignInResult.Failed(SignInFailure.Throttled, blocked);
        }

        if (user is null)
        {
            // Same work, same answer, same throttling as a wrong password: the response must not tell which emails exist.
            passwords.VerifyDummy(password);
            return await StrikeAsync(email, client, null, SignInFailure.InvalidCredentials, ct);
        }

        var check = passwords.Verify(user.PasswordHash, password);
        if (check == PasswordCheck.Failed)
        {
            return await StrikeAsync(email, client, user, SignInFailure.InvalidCredentials, ct);
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
                return await StrikeAsync(email, client, user, SignInFailure.InvalidMfaCode, ct);
            }

            if (string.IsNullOrWhiteSpace(request.TotpCode))
            {
                logger.LogInformation("User {UserId} of tenant {TenantId} signed in with a recovery code", user.Id, user.TenantId);
            }
        }

        await users.RecordSuccessfulLoginAsync(
            user.TenantId, user.Id, check == PasswordCheck.SucceededRehashNeeded ? passwords.Hash(password) : null, ct);
        await throttle.RecordSuccessAsync(user, client.Ip, ct);
        return new SignInResult(await sessions.StartAsync(user, request.Device, client, ct));
    }

    private async Task<SignInResult> StrikeAsync(
        string email, ClientContext client, UserAccount? user, SignInFailure failure, CancellationToken ct) =>
        SignInResult.Failed(failure, await throttle.RecordFailureAsync(email, client.Ip, user, ct));
}
