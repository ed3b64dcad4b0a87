namespace MedSpa.Api.Features.Auth;

/// <summary>The device a session belongs to, as the client describes itself. The fingerprint is stored hashed.</summary>
public sealed record DeviceInfo(string? Id, string? Name, string? Fingerprint);

public sealed record LoginRequest(string? Email, string? Password, string? TotpCode, string? RecoveryCode, DeviceInfo? Device);

public sealed record RefreshRequest(string? RefreshToken);

public sealed record UserResponse(
    Guid Id,
    Guid TenantId,
    string Email,
    string DisplayName,
    string Role,
    IReadOnlyList<Guid> ClinicIds,
    bool Active,
    bool MfaEnabled,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    Guid? PatientId = null);

public sealed record TokenResponse(
    string AccessToken,
    DateTimeOffset AccessTokenExpiresAt,
    string RefreshToken,
    DateTimeOffset RefreshTokenExpiresAt,
    Guid SessionId,
    UserResponse User);

public sealed record SessionResponse(
    Guid Id,
    string? DeviceId,
    string? DeviceName,
    string? UserAgent,
    string? Ip,
    DateTimeOffset CreatedAt,
    DateTimeOffset LastSeenAt,
    DateTimeOffset ExpiresAt,
    bool Current);

public sealed record TenantSummary(Guid Id, string Name, string Slug);

public sealed record MeResponse(UserResponse User, TenantSummary Tenant, Guid? SessionId);

public sealed record MfaEnrollResponse(string Secret, string OtpauthUri);

public sealed record MfaCodeRequest(string? Code);

public sealed record MfaConfirmResponse(IReadOnlyList<string> RecoveryCodes);

public sealed record MfaDisableRequest(string? Code, string? Password);

public sealed record ChangePasswordRequest(string? CurrentPassword, string? NewPassword);
