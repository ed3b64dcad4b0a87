using System.Security.Cryptography;
using System.Text;
using Dapper;
using MedSpa.Silo.Data;
using Microsoft.Extensions.Options;
using Npgsql;
using OtpNet;

namespace MedSpa.Api.Features.Auth;

public enum MfaConfirmFailure
{
    None,
    NotEnrolling,
    InvalidCode,
}

/// <summary>
/// TOTP (RFC 6238: SHA-1, 6 digits, 30 s) with Otp.NET, plus one-time recovery codes. A code is accepted one time
/// step either side of now, and never twice: the newest accepted time step is kept on the user and a code must be
/// newer, which also makes two concurrent sign-ins with one code race to a single winner.
/// </summary>
public sealed class MfaService(NpgsqlDataSource db, MfaSecretProtector protector, IOptions<AuthOptions> options, TimeProvider time)
{
    public const int RecoveryCodeCount = 10;
    private const string RecoveryAlphabet = "abcdefghjkmnpqrstuvwxyz23456789";

    /// <summary>Starts (or restarts) enrolment: a new secret, pending until confirmed. Null when MFA is already on.</summary>
    public async Task<MfaEnrollResponse?> EnrollAsync(Guid tenantId, Guid userId, string email, CancellationToken ct)
    {
        var secret = KeyGeneration.GenerateRandomKey(20);
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        var updated = await conn.ExecuteAsync(new CommandDefinition(
            "UPDATE users SET mfa_pending_secret = @pending WHERE tenant_id = @tenantId AND id = @userId AND mfa_secret IS NULL",
            new { tenantId, userId, pending = protector.Protect(secret, tenantId, userId) }, cancellationToken: ct));
        if (updated == 0)
        {
            return null;
        }

        var base32 = Base32Encoding.ToString(secret).TrimEnd('=');
        var issuer = options.Value.MfaIssuer;
        var uri = $"otpauth://totp/{Uri.EscapeDataString(issuer)}:{Uri.EscapeDataString(email)}"
                  + $"?secret={base32}&issuer={Uri.EscapeDataString(issuer)}&algorithm=SHA1&digits=6&period=30";
        return new MfaEnrollResponse(base32, uri);
    }

    /// <summary>Turns MFA on when the code matches the pending secret; returns the recovery codes (shown once).</summary>
    public async Task<(MfaConfirmFailure Failure, IReadOnlyList<string> RecoveryCodes)> ConfirmAsync(
        Guid tenantId, Guid userId, string? code, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var pending = await conn.ExecuteScalarAsync<string?>(new CommandDefinition(
            "SELECT mfa_pending_secret FROM users WHERE tenant_id = @tenantId AND id = @userId FOR UPDATE",
            new { tenantId, userId }, tx, cancellationToken: ct));
        if (pending is null)
        {
            return (MfaConfirmFailure.NotEnrolling, []);
        }

        if (!TryMatch(protector.Unprotect(pending, tenantId, userId), code, time.GetUtcNow(), out var step))
        {
            return (MfaConfirmFailure.InvalidCode, []);
        }

        await conn.ExecuteAsync(new CommandDefinition(
            """
            UPDATE users SET mfa_secret = mfa_pending_secret, mfa_pending_secret = NULL, mfa_enabled_at = @now,
                             mfa_last_time_step = @step, updated_at = @now
            WHERE tenant_id = @tenantId AND id = @userId
            """,
            new { tenantId, userId, step, now = time.GetUtcNow() }, tx, cancellationToken: ct));
        var codes = await ReplaceRecoveryCodesAsync(conn, tx, tenantId, userId, ct);
        await tx.CommitAsync(ct);
        return (MfaConfirmFailure.None, codes);
    }

    /// <summary>Checks a TOTP code of an enrolled user and uses it up.</summary>
    public async Task<bool> UseCodeAsync(UserAccount user, string? code, CancellationToken ct)
    {
        if (user.MfaSecret is null
            || !TryMatch(protector.Unprotect(user.MfaSecret, user.TenantId, user.Id), code, time.GetUtcNow(), out var step))
        {
            return false;
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var accepted = await conn.ExecuteAsync(new CommandDefinition(
            """
            UPDATE users SET mfa_last_time_step = @step
            WHERE tenant_id = @TenantId AND id = @Id AND (mfa_last_time_step IS NULL OR mfa_last_time_step < @step)
            """,
            new { user.TenantId, user.Id, step }, cancellationToken: ct));
        return accepted == 1;
    }

    /// <summary>Redeems a recovery code: true once per code.</summary>
    public async Task<bool> UseRecoveryCodeAsync(UserAccount user, string? code, CancellationToken ct)
    {
        if (user.MfaSecret is null || string.IsNullOrWhiteSpace(code))
        {
            return false;
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var used = await conn.ExecuteAsync(new CommandDefinition(
            """
            UPDATE mfa_recovery_codes SET used_at = @now
            WHERE tenant_id = @TenantId AND user_id = @Id AND code_hash = @hash AND used_at IS NULL
            """,
            new { user.TenantId, user.Id, hash = HashRecoveryCode(user.Id, code), now = time.GetUtcNow() }, cancellationToken: ct));
        return used == 1;
    }

    public async Task DisableAsync(Guid tenantId, Guid userId, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(
            """
            UPDATE users SET mfa_secret = NULL, mfa_pending_secret = NULL, mfa_enabled_at = NULL, updated_at = @now
            WHERE tenant_id = @tenantId AND id = @userId
            """,
            new { tenantId, userId, now = time.GetUtcNow() }, tx, cancellationToken: ct));
        await conn.ExecuteAsync(new CommandDefinition(
            "DELETE FROM mfa_recovery_codes WHERE tenant_id = @tenantId AND user_id = @userId",
            new { tenantId, userId }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
    }

    /// <summary>Whether <paramref name="code"/> is the TOTP of <paramref name="secret"/> within one step of now.</summary>
    public static bool TryMatch(byte[] secret, string? code, DateTimeOffset now, out long timeStep)
    {
        timeStep = 0;
        var digits = code?.Replace(" ", "", StringComparison.Ordinal).Replace("-", "", StringComparison.Ordinal);
        if (digits is not { Length: 6 } || !digits.All(char.IsAsciiDigit))
        {
            return false;
        }

        return new Totp(secret).VerifyTotp(now.UtcDateTime, digits, out timeStep, new VerificationWindow(previous: 1, future: 1));
    }

    private async Task<IReadOnlyList<string>> ReplaceRecoveryCodesAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, Guid tenantId, Guid userId, CancellationToken ct)
    {
        await conn.ExecuteAsync(new CommandDefinition(
            "DELETE FROM mfa_recovery_codes WHERE tenant_id = @tenantId AND user_id = @userId",
            new { tenantId, userId }, tx, cancellationToken: ct));
        var codes = new List<string>(RecoveryCodeCount);
        var now = time.GetUtcNow();
        while (codes.Count < RecoveryCodeCount)
        {
            // 10 characters from 31 ≈ 49 bits each: too many to guess within the lockout limit.
            var raw = RandomNumberGenerator.GetString(RecoveryAlphabet, 10);
            var code = $"{raw[..5]}-{raw[5..]}";
            if (codes.Contains(code))
            {
                continue;
            }

            codes.Add(code);
            await conn.ExecuteAsync(new CommandDefinition(
                "INSERT INTO mfa_recovery_codes (tenant_id, user_id, code_hash, created_at) VALUES (@tenantId, @userId, @hash, @now)",
                new { tenantId, userId, hash = HashRecoveryCode(userId, code), now }, tx, cancellationToken: ct));
        }

        return codes;
    }

    /// <summary>
    /// SHA-256 over the user id and the normalised code. Codes are long random strings, so a fast hash suffices;
    /// the user id keeps equal codes of two users apart.
    /// </summary>
    private static byte[] HashRecoveryCode(Guid userId, string code)
    {
        var normalised = code.Trim().Replace("-", "", StringComparison.Ordinal).Replace(" ", "", StringComparison.Ordinal).ToLowerInvariant();
        return SHA256.HashData([.. userId.ToByteArray(), .. Encoding.UTF8.GetBytes(normalised)]);
    }
}
