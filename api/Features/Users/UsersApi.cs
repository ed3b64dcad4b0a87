using MedSpa.Api.Features.Auth;
using MedSpa.Api.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MedSpa.Api.Features.Users;

/// <param name="PatientId">Required for role <c>patient</c> (the patients-directory row this sign-in belongs to:
/// the patient then sees their own invoices and saved cards, nothing else); refused for any other role.</param>
public sealed record CreateUserRequest(
    string? Email, string? DisplayName, string? Role, string? Password, IReadOnlyList<Guid>? ClinicIds, Guid? PatientId = null);

public sealed record UpdateUserRequest(string? DisplayName, string? Role, IReadOnlyList<Guid>? ClinicIds, bool? Active);

public sealed record ResetPasswordRequest(string? Password);

/// <summary>
/// User management for owners and admins. Only an owner creates owners or promotes to owner, and an admin cannot
/// change an owner at all, so an admin can never take over or lock out the people above them.
/// </summary>
public static class UsersApi
{
    public static IServiceCollection AddMedSpaUsers(this IServiceCollection services) => services.AddSingleton<UserDirectory>();

    public static IEndpointRouteBuilder MapUsersApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/users").RequireAuthorization(Policies.Admin).WithTags("Users");
        group.MapGet("/", ListAsync);
        group.MapPost("/", CreateAsync);
        group.MapGet("/{id:guid}", GetAsync);
        group.MapPatch("/{id:guid}", UpdateAsync);
        group.MapPost("/{id:guid}/password", ResetPasswordAsync);
        group.MapPost("/{id:guid}/unlock", UnlockAsync);
        return app;
    }

    private static async Task<Results<Ok<Paged<UserResponse>>, ValidationProblem>> ListAsync(
        CurrentUser caller, UserAccounts users, int? page, int? pageSize, CancellationToken ct)
    {
        var v = new Validation();
        var paging = PageRequest.From(page, pageSize, v);
        return v.IsValid ? TypedResults.Ok(await users.ListAsync(caller.TenantId, paging, ct)) : v.ToProblem();
    }

    private static async Task<Results<Ok<UserResponse>, ProblemHttpResult>> GetAsync(
        Guid id, CurrentUser caller, UserAccounts users, CancellationToken ct) =>
        await users.GetAsync(caller.TenantId, id, ct) is { } user ? TypedResults.Ok(user.ToResponse()) : ApiProblems.NotFound("The user");

    private static async Task<Results<Created<UserResponse>, ProblemHttpResult, ValidationProblem>> CreateAsync(
        CreateUserRequest request, CurrentUser caller, UserDirectory directory, UserAccounts users, PasswordHashing passwords, CancellationToken ct)
    {
        var clinicIds = request.ClinicIds ?? [];
        var v = new Validation()
            .Email("email", request.Email)
            .Required("displayName", request.DisplayName)
            .OneOf("role", request.Role, Roles.All);
        PasswordHashing.CheckPolicy(v, "password", request.Password);
        CheckClinicCount(v, request.Role, clinicIds);
        await CheckClinicsAsync(v, directory, caller.TenantId, clinicIds, ct);
        v.When(
            request.Role == Roles.Patient && request.PatientId is null, "patientId",
            "A patient user needs the patientId of their row in the patients directory.")
            .When(
                request.Role is not null && request.Role != Roles.Patient && request.PatientId is not null, "patientId",
                "Only a patient user is linked to a patient.");
        if (request.Role == Roles.Patient
            && request.PatientId is { } patientId
            && !await directory.PatientExistsAsync(caller.TenantId, patientId, ct))
        {
            v.Add("patientId", "No patient with this id.");
        }

        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        if (request.Role == Roles.Owner && caller.Role != Roles.Owner)
        {
            return Forbidden("Only an owner can create an owner.");
        }

        var (outcome, userId) = await directory.CreateAsync(caller.TenantId, new NewUser(
            request.Email!.Trim(), request.DisplayName!.Trim(), request.Role!, passwords.Hash(request.Password!), clinicIds, request.PatientId), ct);
        if (outcome == UserChangeOutcome.EmailTaken)
        {
            return EmailTaken();
        }

        var created = await users.GetAsync(caller.TenantId, userId, ct) ?? throw new InvalidOperationException("The user just created is missing.");
        return TypedResults.Created($"/api/users/{userId}", created.ToResponse());
    }

    private static async Task<Results<Ok<UserResponse>, ProblemHttpResult, ValidationProblem>> UpdateAsync(
        Guid id, UpdateUserRequest request, CurrentUser caller, UserDirectory directory, UserAccounts users, CancellationToken ct)
    {
        var target = await users.GetAsync(caller.TenantId, id, ct);
        if (target is null)
        {
            return ApiProblems.NotFound("The user");
        }

        var v = new Validation()
            .When(request.DisplayName is not null && string.IsNullOrWhiteSpace(request.DisplayName), "displayName", "displayName cannot be empty.")
            .Optional("displayName", request.DisplayName, 200)
            .OneOf("role", request.Role, Roles.All, required: false);
        CheckClinicCount(v, request.Role ?? target.Role, request.ClinicIds ?? target.ClinicIds);
        if (request.ClinicIds is not null)
        {
            await CheckClinicsAsync(v, directory, caller.TenantId, request.ClinicIds, ct);
        }

        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        if (target.Role == Roles.Owner && caller.Role != Roles.Owner)
        {
            return Forbidden("Only an owner can change an owner.");
        }

        if (request.Role == Roles.Owner && caller.Role != Roles.Owner)
        {
            return Forbidden("Only an owner can make someone an owner.");
        }

        var outcome = await directory.UpdateAsync(
            caller.TenantId, id, new UserChanges(request.DisplayName?.Trim(), request.Role, request.ClinicIds, request.Active), ct);
        return outcome switch
        {
            UserChangeOutcome.NotFound => ApiProblems.NotFound("The user"),
            UserChangeOutcome.LastOwner => ApiProblems.Conflict("This is the organisation's last active owner: make someone else an owner first."),
            _ => TypedResults.Ok((await users.GetAsync(caller.TenantId, id, ct))!.ToResponse()),
        };
    }

    private static async Task<Results<NoContent, ProblemHttpResult, ValidationProblem>> ResetPasswordAsync(
        Guid id, ResetPasswordRequest request, CurrentUser caller, UserDirectory directory, UserAccounts users, PasswordHashing passwords,
        SignInThrottle throttle, CancellationToken ct)
    {
        var target = await users.GetAsync(caller.TenantId, id, ct);
        if (target is null)
        {
            return ApiProblems.NotFound("The user");
        }

        var v = PasswordHashing.CheckPolicy(new Validation(), "password", request.Password);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        if (target.Role == Roles.Owner && caller.Role != Roles.Owner)
        {
            return Forbidden("Only an owner can reset an owner's password.");
        }

        await directory.ResetPasswordAsync(caller.TenantId, id, passwords.Hash(request.Password!), ct);
        // A reset is how a user who is held up gets back in: the new password works at once.
        await throttle.UnlockAsync(target.Email, ct);
        return TypedResults.NoContent();
    }

    /// <summary>
    /// Clears the sign-in delays of one account (its own and those of every address it was tried from), for an owner
    /// who is held up by someone guessing their password elsewhere. Admins may unlock owners too: unlocking takes no
    /// right away from anyone, and the owner may be the one locked out. Address-wide delays stay (see SignInThrottle).
    /// </summary>
    private static async Task<Results<NoContent, ProblemHttpResult>> UnlockAsync(
        Guid id, CurrentUser caller, UserAccounts users, SignInThrottle throttle, ILogger<SignInThrottle> logger, CancellationToken ct)
    {
        var target = await users.GetAsync(caller.TenantId, id, ct);
        if (target is null)
        {
            return ApiProblems.NotFound("The user");
        }

        var cleared = await throttle.UnlockAsync(target.Email, ct);
        logger.LogInformation(
            "User {UserId} of tenant {TenantId} unlocked by {CallerId} ({Cleared} counters cleared)", id, caller.TenantId, caller.UserId, cleared);
        return TypedResults.NoContent();
    }

    /// <summary>A wall screen (display) shows one clinic, so it is bound to exactly one.</summary>
    private static void CheckClinicCount(Validation v, string? role, IReadOnlyCollection<Guid> clinicIds) =>
        v.When(role == Roles.Display && clinicIds.Count != 1, "clinicIds", "A display user must be assigned exactly one clinic.");

    private static async Task CheckClinicsAsync(
        Validation v, UserDirectory directory, Guid tenantId, IReadOnlyCollection<Guid> clinicIds, CancellationToken ct)
    {
        if (clinicIds.Count > 100)
        {
            v.Add("clinicIds", "clinicIds may list at most 100 clinics.");
            return;
        }

        var foreign = await directory.ForeignClinicsAsync(tenantId, clinicIds, ct);
        if (foreign.Count > 0)
        {
            v.Add("clinicIds", $"clinicIds contains unknown clinics: {string.Join(", ", foreign)}.");
        }
    }

    private static ProblemHttpResult Forbidden(string detail) =>
        ApiProblems.Problem(StatusCodes.Status403Forbidden, ErrorCodes.Forbidden, "Forbidden.", detail);

    private static ProblemHttpResult EmailTaken() =>
        ApiProblems.Problem(StatusCodes.Status409Conflict, ErrorCodes.Conflict, "Conflict.", "A user with this email already exists.",
            new Dictionary<string, object?> { ["errors"] =
                new Dictionary<string, string[]> { ["email"] = ["A user with this email already exists."] } });
}
