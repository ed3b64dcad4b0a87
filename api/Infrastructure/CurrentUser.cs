using System.Security.Claims;

namespace MedSpa.Api.Infrastructure;

/// <summary>Role names as stored in <c>users.role</c> and carried in the access token.</summary>
public static class Roles
{
    public const string Owner = "owner";
    public const string Admin = "admin";
    public const string Provider = "provider";
    public const string FrontDesk = "front-desk";
    public const string Patient = "patient";
    public const string Display = "display";

    public static readonly IReadOnlyList<string> All = [Owner, Admin, Provider, FrontDesk, Patient, Display];
}

/// <summary>Claim types in MedSpa access tokens.</summary>
public static class MedSpaClaims
{
    public const string UserId = "sub";
    public const string TenantId = "tid";
    public const string Role = "role";
    public const string Email = "email";
    public const string Name = "name";
    /// <summary>One claim per clinic the user is assigned to (owners/admins see every clinic regardless).</summary>
    public const string Clinic = "clinic";
    public const string SessionId = "sid";
    /// <summary>The user's token epoch when the token was issued; a revocation raises it (api/Features/Auth/AccessRevocations.cs).</summary>
    public const string TokenEpoch = "tep";
}

/// <summary>
/// Authorization policies, declared once per endpoint group with <c>RequireAuthorization(Policies.X)</c>.
/// </summary>
public static class Policies
{
    /// <summary>Owner or admin: users, clinics, catalog and tax changes.</summary>
    public const string Admin = "admin";
    /// <summary>Front desk and above: patients directory, check-in, checkout.</summary>
    public const string FrontDesk = "front-desk";
    /// <summary>Any staff member (owner, admin, provider, front desk): reading reference data.</summary>
    public const string Staff = "staff";
    /// <summary>Any signed-in user, patients and wall screens included.</summary>
    public const string SignedIn = "signed-in";
    /// <summary>The platform operator (no tenant): cluster-wide views. See <see cref="PlatformOperator"/>.</summary>
    public const string Operator = "operator";

    public static IServiceCollection AddMedSpaPolicies(this IServiceCollection services) =>
        services.AddAuthorizationBuilder()
            .AddPolicy(Admin, p => p.RequireAuthenticatedUser().RequireClaim(MedSpaClaims.Role, Roles.Owner, Roles.Admin))
            .AddPolicy(FrontDesk, p => p.RequireAuthenticatedUser().RequireClaim(MedSpaClaims.Role, Roles.Owner, Roles.Admin, Roles.FrontDesk))
            .AddPolicy(
                Staff, p => p.RequireAuthenticatedUser().RequireClaim(MedSpaClaims.Role, Roles.Owner, Roles.Admin, Roles.Provider, Roles.FrontDesk))
            .AddPolicy(SignedIn, p => p.RequireAuthenticatedUser())
            .Services;
}

/// <summary>The caller as the access token describes it. The tenant always comes from here, never from the URL.</summary>
public sealed record CurrentUser(Guid UserId, Guid TenantId, string Role, IReadOnlySet<Guid> ClinicIds, Guid? SessionId)
{
    public bool IsAdmin => Role is Roles.Owner or Roles.Admin;

    /// <summary>Owners and admins reach every clinic of their tenant; everyone else only their assigned clinics.</summary>
    public bool CanAccessClinic(Guid clinicId) => IsAdmin || ClinicIds.Contains(clinicId);

    public static CurrentUser? From(ClaimsPrincipal principal)
    {
        if (principal.Identity?.IsAuthenticated != true
            || !Guid.TryParse(principal.FindFirstValue(MedSpaClaims.UserId), out var userId)
            || !Guid.TryParse(principal.FindFirstValue(MedSpaClaims.TenantId), out var tenantId)
            || principal.FindFirstValue(MedSpaClaims.Role) is not { } role)
        {
            return null;
        }

        var clinics = principal.FindAll(MedSpaClaims.Clinic)
            .Select(c => Guid.TryParse(c.Value, out var id) ? id : Guid.Empty)
            .Where(id => id != Guid.Empty)
            .ToHashSet();
        Guid? sessionId = Guid.TryParse(principal.FindFirstValue(MedSpaClaims.SessionId), out var sid) ? sid : null;
        return new CurrentUser(userId, tenantId, role, clinics, sessionId);
    }

    /// <summary>
    /// Binds directly as a minimal-API handler parameter. Endpoints that take it sit behind an authorization
    /// policy, so a missing user here is a configuration error, reported as 401 rather than a 500.
    /// </summary>
    public static ValueTask<CurrentUser?> BindAsync(HttpContext context) => ValueTask.FromResult(From(context.User));
}
