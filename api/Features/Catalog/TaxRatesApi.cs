using Dapper;
using MedSpa.Api.Features.Clinics;
using MedSpa.Api.Infrastructure;
using MedSpa.Api.Infrastructure.Idempotency;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using static MedSpa.Api.Features.Clinics.ReferenceDataSql;

namespace MedSpa.Api.Features.Catalog;

/// <param name="RatePercent">A percentage with at most 3 decimals, e.g. 8.875 — stored exactly as 8875 millipercent.</param>
public sealed record TaxRateRequest(string? Name, decimal? RatePercent, string? TaxCategory, bool? Inclusive, bool? Active);

public sealed record TaxRateResponse(
    Guid Id,
    Guid ClinicId,
    string Name,
    decimal RatePercent,
    int RateMillipercent,
    string TaxCategory,
    bool Inclusive,
    bool Active,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>
/// A clinic's sales tax rates, under <c>/api/clinics/{clinicId}/tax-rates</c>. Each applies to one tax category of the
/// catalog. Rates are exact decimals (8.875 % is 8875 millipercent), never floating point. DELETE deactivates:
/// invoices keep the rate they were taxed with.
/// </summary>
public static class TaxRatesApi
{
    private const string Columns =
        "id, clinic_id, name, rate_millipercent, tax_category, inclusive, active, created_at, updated_at";

    public static IEndpointRouteBuilder MapTaxRatesApi(this IEndpointRouteBuilder app)
    {
        var rates = app.MapGroup("/api/clinics/{clinicId:guid}/tax-rates").WithTags("Catalog");

        var read = rates.MapGroup("").RequireAuthorization(Policies.Staff);
        read.MapGet("", List).WithName("ListTaxRates");
        read.MapGet("/{taxRateId:guid}", Get).WithName("GetTaxRate");

        var write = rates.MapGroup("").RequireAuthorization(Policies.Admin);
        write.MapPost("", Create).WithName("CreateTaxRate").WithIdempotency();
        write.MapPut("/{taxRateId:guid}", Update).WithName("UpdateTaxRate");
        write.MapDelete("/{taxRateId:guid}", Deactivate).WithName("DeactivateTaxRate");
        return app;
    }

    /// <summary>8.875 → 8875. Callers have validated at most 3 decimals, so this is exact.</summary>
    public static int ToMillipercent(decimal percent) => (int)(percent * 1000m);

    public static decimal FromMillipercent(int millipercent) => Trim(millipercent / 1000m);

    private static async Task<Results<Ok<Paged<TaxRateResponse>>, ValidationProblem, ProblemHttpResult>> List(
        Guid clinicId, CurrentUser user, NpgsqlDataSource db, int? page, int? pageSize, bool? includeInactive, CancellationToken ct)
    {
        var v = new Validation();
        var paging = PageRequest.From(page, pageSize, v);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await ClinicsApi.IsVisibleAsync(conn, user, clinicId, ct))
        {
            return ApiProblems.NotFound("Clinic");
        }

        const string where = "WHERE tenant_id = @TenantId AND clinic_id = @clinicId AND (@all OR active)";
        var args = new { user.TenantId, clinicId, all = includeInactive == true, paging.PageSize, paging.Offset };
        return TypedResults.Ok(await conn.QueryPageAsync(
            paging, "tax_rates", Columns, where, "tax_category, lower(name), id", args, (TaxRateRow r) => r.ToResponse(), ct));
    }

    private static async Task<Results<Ok<TaxRateResponse>, ProblemHttpResult>> Get(
        Guid clinicId, Guid taxRateId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        if (!user.CanAccessClinic(clinicId))
        {
            return ApiProblems.NotFound("Tax rate");
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var row = await conn.QuerySingleOrDefaultAsync<TaxRateRow>(new CommandDefinition(
            $"SELECT {Columns} FROM tax_rates WHERE tenant_id = @TenantId AND clinic_id = @clinicId AND id = @taxRateId",
            new { user.TenantId, clinicId, taxRateId }, cancellationToken: ct));
        return row is null ? ApiProblems.NotFound("Tax rate") : TypedResults.Ok(row.ToResponse());
    }

    private static async Task<Results<Created<TaxRateResponse>, ValidationProblem, ProblemHttpResult>> Create(
        Guid clinicId, TaxRateRequest request, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = Validate(request);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await ClinicsApi.IsVisibleAsync(conn, user, clinicId, ct))
        {
            return ApiProblems.NotFound("Clinic");
        }

        try
        {
            var row = await conn.QuerySingleAsync<TaxRateRow>(new CommandDefinition(
                $"""
                INSERT INTO tax_rates (tenant_id, id, clinic_id, name, rate_millipercent, tax_category, inclusive, active)
                VALUES (@TenantId, @Id, @ClinicId, @Name, @RateMillipercent, @TaxCategory, @Inclusive, @Active)
                RETURNING {Columns}
                """,
                Parameters(user.TenantId, clinicId, Guid.NewGuid(), request, request.Active ?? true), cancellationToken: ct));
            var rate = row.ToResponse();
            return TypedResults.Created($"/api/clinics/{clinicId}/tax-rates/{rate.Id}", rate);
        }
        catch (PostgresException e) when (e.IsUniqueViolation())
        {
            return ApiProblems.Conflict($"This clinic already has a tax rate named '{request.Name!.Trim()}'.");
        }
    }

    private static async Task<Results<Ok<TaxRateResponse>, ValidationProblem, ProblemHttpResult>> Update(
        Guid clinicId, Guid taxRateId, TaxRateRequest request, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = Validate(request);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        try
        {
            var row = await conn.QuerySingleOrDefaultAsync<TaxRateRow>(new CommandDefinition(
                $"""
                UPDATE tax_rates SET name = @Name, rate_millipercent = @RateMillipercent, tax_category = @TaxCategory,
                       inclusive = @Inclusive, active = coalesce(@Active, active), updated_at = now()
                WHERE tenant_id = @TenantId AND clinic_id = @ClinicId AND id = @Id
                RETURNING {Columns}
                """,
                Parameters(user.TenantId, clinicId, taxRateId, request, request.Active), cancellationToken: ct));
            return row is null ? ApiProblems.NotFound("Tax rate") : TypedResults.Ok(row.ToResponse());
        }
        catch (PostgresException e) when (e.IsUniqueViolation())
        {
            return ApiProblems.Conflict($"This clinic already has a tax rate named '{request.Name!.Trim()}'.");
        }
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> Deactivate(
        Guid clinicId, Guid taxRateId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var changed = await conn.ExecuteAsync(new CommandDefinition(
            "UPDATE tax_rates SET active = false, updated_at = now() WHERE tenant_id = @TenantId AND clinic_id = @clinicId AND id = @taxRateId",
            new { user.TenantId, clinicId, taxRateId }, cancellationToken: ct));
        return changed == 0 ? ApiProblems.NotFound("Tax rate") : TypedResults.NoContent();
    }

    public static Validation Validate(TaxRateRequest r) =>
        new Validation()
            .Required("name", r.Name)
            .Range("ratePercent", r.RatePercent, 0m, 100m)
            .Decimals("ratePercent", r.RatePercent, 3)
            .OneOf("taxCategory", r.TaxCategory, CatalogVocabulary.TaxableCategories);

    internal static object Parameters(Guid tenantId, Guid clinicId, Guid id, TaxRateRequest r, bool? active) => new
    {
        TenantId = tenantId,
        ClinicId = clinicId,
        Id = id,
        Name = r.Name!.Trim(),
        RateMillipercent = ToMillipercent(r.RatePercent!.Value),
        r.TaxCategory,
        Inclusive = r.Inclusive ?? false,
        Active = active,
    };

    private sealed class TaxRateRow
    {
        public Guid Id { get; init; }
        public Guid ClinicId { get; init; }
        public string Name { get; init; } = "";
        public int RateMillipercent { get; init; }
        public string TaxCategory { get; init; } = "";
        public bool Inclusive { get; init; }
        public bool Active { get; init; }
        public DateTime CreatedAt { get; init; }
        public DateTime UpdatedAt { get; init; }

        public TaxRateResponse ToResponse() => new(
            Id, ClinicId, Name, FromMillipercent(RateMillipercent), RateMillipercent, TaxCategory, Inclusive, Active,
            Utc(CreatedAt), Utc(UpdatedAt));
    }
}
