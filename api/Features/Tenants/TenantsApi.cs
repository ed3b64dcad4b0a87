using MedSpa.Api.Features.Auth;
using MedSpa.Api.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace MedSpa.Api.Features.Tenants;

public sealed record SignupOwner(string? Email, string? Password, string? DisplayName);

public sealed record SignupClinic(string? Name, string? TimeZone, string? Currency);

public sealed record SignupRequest(string? Name, string? Slug, SignupOwner? Owner, SignupClinic? Clinic, DeviceInfo? Device);

public sealed record SignupResponse(Guid TenantId, string Slug, Guid ClinicId, TokenResponse Tokens);

public static class TenantsApi
{
    public static IEndpointRouteBuilder MapTenantsApi(this IEndpointRouteBuilder app)
    {
        // Public sign-up of a new organisation; Auth:AllowSignup=false turns it off.
        var group = app.MapGroup("/api/tenants").AllowAnonymous().WithTags("Tenants");
        group.MapPost("/", SignupAsync);
        return app;
    }

    private static async Task<Results<Created<SignupResponse>, ProblemHttpResult, ValidationProblem>> SignupAsync(
        SignupRequest request, TenantProvisioning provisioning, UserAccounts users, SessionService sessions,
        IOptions<AuthOptions> options, HttpContext http, CancellationToken ct)
    {
        if (!options.Value.AllowSignup)
        {
            return ApiProblems.Problem(StatusCodes.Status403Forbidden, "signup_disabled", "Sign-up is closed.",
                "This server does not accept new organisations; ask its operator for an account.");
        }

        var clinic = request.Clinic is null
            ? null
            : new ClinicSpec(request.Clinic.Name ?? "", request.Clinic.TimeZone ?? "", request.Clinic.Currency ?? "");
        var v = TenantProvisioning.Validate(
            request.Name, request.Slug, request.Owner?.Email, request.Owner?.Password, request.Owner?.DisplayName, clinic);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        ProvisionedTenant created;
        try
        {
            created = await provisioning.CreateTenantAsync(
                request.Name!, request.Slug!, request.Owner!.Email!, request.Owner.Password!, request.Owner.DisplayName!, clinic!, ct);
        }
        catch (ProvisioningConflictException e)
        {
            return ApiProblems.Problem(StatusCodes.Status409Conflict, ErrorCodes.Conflict, "Conflict.", e.Message,
                new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { [e.Field] = [e.Message] } });
        }

        var owner = await users.GetAsync(created.TenantId, created.OwnerUserId, ct)
                    ?? throw new InvalidOperationException("The owner just created is missing.");
        var tokens = await sessions.StartAsync(owner, request.Device, ClientContext.From(http), ct);
        return TypedResults.Created("/api/auth/me", new SignupResponse(created.TenantId, request.Slug!, created.ClinicId, tokens));
    }
}
