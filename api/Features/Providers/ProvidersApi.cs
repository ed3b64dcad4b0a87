using System.Text.RegularExpressions;
using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.Api.Infrastructure.Idempotency;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using static MedSpa.Api.Infrastructure.ReferenceDataSql;

namespace MedSpa.Api.Features.Providers;

public sealed record ProviderRequest(
    Guid? UserId,
    string? FirstName,
    string? LastName,
    string? DisplayName,
    string? Title,
    string? Credentials,
    string? LicenseNumber,
    string? LicenseState,
    IReadOnlyList<string>? Specialties,
    string? Color,
    IReadOnlyList<Guid>? ClinicIds,
    string? Email,
    string? Phone,
    bool? Active);

public sealed record ProviderResponse(
    Guid Id,
    Guid? UserId,
    string FirstName,
    string LastName,
    string DisplayName,
    string Title,
    string? Credentials,
    string? LicenseNumber,
    string? LicenseState,
    IReadOnlyList<string> Specialties,
    string Color,
    IReadOnlyList<Guid> ClinicIds,
    string? Email,
    string? Phone,
    bool Active,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>
/// Provider (injector, aesthetician, physician) profiles: what the board, schedule and charts show for a person who
/// treats patients. Optionally linked to a user of the tenant (a provider without a login is allowed, e.g. a
/// supervising physician who only co-signs on paper); one user has at most one profile. DELETE deactivates.
/// </summary>
public static partial class ProvidersApi
{
    public static readonly IReadOnlyList<string> Titles =
        ["rn", "np", "pa", "md", "do", "dds", "lpn", "aesthetician", "laser-technician", "other"];

    /// <summary>The columns a request writes and their <see cref="Parameters"/>, in one order for INSERT and UPDATE.</summary>
    private const string Written =
        "user_id, first_name, last_name, display_name, title, credentials, license_number, license_state, specialties, color, "
        + "clinic_ids, email, phone";

    private const string WrittenValues =
        "@UserId, @FirstName, @LastName, @DisplayName, @Title, @Credentials, @LicenseNumber, @LicenseState, @Specialties, @Color, "
        + "@ClinicIds, @Email, @Phone";

    /// <summary>What every read, insert and update returns.</summary>
    private const string Columns = $"id, {Written}, active, created_at, updated_at";

    private const string InsertSql =
        $"INSERT INTO providers (tenant_id, id, {Written}, active) "
        + $"VALUES (@TenantId, @Id, {WrittenValues}, @Active) RETURNING {Columns}";

    private const string UpdateSql =
        $"UPDATE providers SET ({Written}) = ({WrittenValues}), active = coalesce(@Active, active), updated_at = now() "
        + $"WHERE tenant_id = @TenantId AND id = @Id RETURNING {Columns}";

    public static IEndpointRouteBuilder MapProvidersApi(this IEndpointRouteBuilder app) =>
        app.MapReferenceData("/api/providers", "/{providerId:guid}", "Providers", Policies.Admin,
            new("ListProviders", List), new("GetProvider", Get), new("CreateProvider", Create),
            new("UpdateProvider", Update), new("DeactivateProvider", Deactivate));

    private static async Task<Results<Ok<Paged<ProviderResponse>>, ValidationProblem, ProblemHttpResult>> List(
        CurrentUser user, NpgsqlDataSource db, Guid? clinicId, int? page, int? pageSize, bool? includeInactive, CancellationToken ct)
    {
        var v = new Validation();
        var paging = PageRequest.From(page, pageSize, v);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);

        // Filtering by a clinic the caller cannot see (or another tenant's) is answered like an unknown clinic.
        if (clinicId is { } c && !await ClinicAccess.IsVisibleAsync(conn, user, c, ct))
        {
            return ApiProblems.NotFound("Clinic");
        }

        const string where = "WHERE tenant_id = @TenantId AND (@all OR active) AND (@clinicId::uuid IS NULL OR @clinicId = ANY(clinic_ids))";
        var args = new { user.TenantId, clinicId, all = includeInactive == true, paging.PageSize, paging.Offset };
        return TypedResults.Ok(await conn.QueryPageAsync(
            paging, "providers", Columns, where, "lower(last_name), lower(first_name), id", args, (ProviderRow r) => r.ToResponse(), ct));
    }

    private static async Task<Results<Ok<ProviderResponse>, ProblemHttpResult>> Get(
        Guid providerId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var row = await conn.QuerySingleOrDefaultAsync<ProviderRow>(new CommandDefinition(
            $"SELECT {Columns} FROM providers WHERE tenant_id = @TenantId AND id = @providerId",
            new { user.TenantId, providerId }, cancellationToken: ct));
        return row is null ? ApiProblems.NotFound("Provider") : TypedResults.Ok(row.ToResponse());
    }

    private static async Task<Results<Created<ProviderResponse>, ValidationProblem, ProblemHttpResult>> Create(
        ProviderRequest request, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var v = await ValidateAsync(conn, user.TenantId, request, ct);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var saved = await conn.SaveAsync<ProviderRow>(InsertSql, Parameters(user.TenantId, Guid.NewGuid(), request, request.Active ?? true), ct);
        if (saved.Duplicate)
        {
            return ApiProblems.Conflict("That user already has a provider profile.");
        }

        var provider = saved.Row!.ToResponse();
        return TypedResults.Created($"/api/providers/{provider.Id}", provider);
    }

    private static async Task<Results<Ok<ProviderResponse>, ValidationProblem, ProblemHttpResult>> Update(
        Guid providerId, ProviderRequest request, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var v = await ValidateAsync(conn, user.TenantId, request, ct);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var saved = await conn.SaveAsync<ProviderRow>(UpdateSql, Parameters(user.TenantId, providerId, request, request.Active), ct);
        return saved.Duplicate ? ApiProblems.Conflict("That user already has a provider profile.")
            : saved.Row is null ? ApiProblems.NotFound("Provider")
            : TypedResults.Ok(saved.Row.ToResponse());
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> Deactivate(
        Guid providerId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        return await conn.DeactivateAsync("providers", user.TenantId, providerId, ct) ? TypedResults.NoContent() : ApiProblems.NotFound("Provider");
    }

    private static async Task<Validation> ValidateAsync(NpgsqlConnection conn, Guid tenantId, ProviderRequest r, CancellationToken ct)
    {
        var v = new Validation()
            .Required("firstName", r.FirstName, 100)
            .Required("lastName", r.LastName, 100)
            .Optional("displayName", r.DisplayName, 200)
            .OneOf("title", r.Title, Titles)
            .Optional("credentials", r.Credentials, 200)
            .Optional("licenseNumber", r.LicenseNumber, 100)
            .Optional("licenseState", r.LicenseState, 100)
            .StringList("specialties", r.Specialties, 30, 100)
            .Email("email", r.Email, required: false)
            .Phone("phone", r.Phone)
            .NotEmpty("userId", r.UserId, required: false)
            .When(r.Color is null || !ColorPattern().IsMatch(r.Color), "color", "color must be a hex colour such as #7c3aed.");
        if (r.ClinicIds is { Count: > 50 })
        {
            v.Add("clinicIds", "clinicIds may hold at most 50 clinics.");
        }

        if (!v.IsValid)
        {
            return v;
        }

        // Ids must name rows of the caller's tenant; another tenant's id is reported exactly like a made-up one.
        if (r.UserId is { } userId && !await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
                "SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = @tenantId AND id = @userId)", new { tenantId, userId }, cancellationToken: ct)))
        {
            v.Add("userId", "userId is not a user of this organisation.");
        }

        var clinicIds = r.ClinicIds?.Distinct().ToArray() ?? [];
        if (clinicIds.Length > 0)
        {
            var known = await conn.ExecuteScalarAsync<int>(new CommandDefinition(
                "SELECT count(*) FROM clinics WHERE tenant_id = @tenantId AND id = ANY(@clinicIds)", new { tenantId, clinicIds },
                cancellationToken: ct));
            if (known != clinicIds.Length)
            {
                v.Add("clinicIds", "clinicIds contains a clinic that does not exist.");
            }
        }

        return v;
    }

    private static object Parameters(Guid tenantId, Guid id, ProviderRequest r, bool? active)
    {
        var first = r.FirstName!.Trim();
        var last = r.LastName!.Trim();
        return new
        {
            TenantId = tenantId,
            Id = id,
            r.UserId,
            FirstName = first,
            LastName = last,
            DisplayName = Clean(r.DisplayName) ?? $"{first} {last}",
            r.Title,
            Credentials = Clean(r.Credentials),
            LicenseNumber = Clean(r.LicenseNumber),
            LicenseState = Clean(r.LicenseState),
            Specialties = CleanList(r.Specialties),
            Color = r.Color!.ToLowerInvariant(),
            ClinicIds = r.ClinicIds?.Distinct().ToArray() ?? [],
            Email = Clean(r.Email),
            Phone = Clean(r.Phone),
            Active = active,
        };
    }

    [GeneratedRegex("^#[0-9a-fA-F]{6}$")]
    private static partial Regex ColorPattern();

    private sealed class ProviderRow
    {
        public Guid Id { get; init; }
        public Guid? UserId { get; init; }
        public string FirstName { get; init; } = "";
        public string LastName { get; init; } = "";
        public string DisplayName { get; init; } = "";
        public string Title { get; init; } = "";
        public string? Credentials { get; init; }
        public string? LicenseNumber { get; init; }
        public string? LicenseState { get; init; }
        public string[] Specialties { get; init; } = [];
        public string Color { get; init; } = "";
        public Guid[] ClinicIds { get; init; } = [];
        public string? Email { get; init; }
        public string? Phone { get; init; }
        public bool Active { get; init; }
        public DateTime CreatedAt { get; init; }
        public DateTime UpdatedAt { get; init; }

        public ProviderResponse ToResponse() => new(
            Id, UserId, FirstName, LastName, DisplayName, Title, Credentials, LicenseNumber, LicenseState, Specialties,
            Color, ClinicIds, Email, Phone, Active, Utc(CreatedAt), Utc(UpdatedAt));
    }
}
