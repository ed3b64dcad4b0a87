using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.Api.Infrastructure.Idempotency;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using static MedSpa.Api.Infrastructure.ReferenceDataSql;

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
    /// <summary>The columns a request writes and their <see cref="Parameters"/>, in one order for INSERT and UPDATE.</summary>
    private const string Written = "name, rate_millipercent, tax_category, inclusive";

    private const string WrittenValues = "@Name, @RateMillipercent, @TaxCategory, @Inclusive";

    /// <summary>What every read, insert and update returns.</summary>
    private const string Columns = $"id, clinic_id, {Written}, active, created_at, updated_at";

    private const string InsertSql =
        $"INSERT INTO tax_rates (tenant_id, id, clinic_id, {Written}, active) "
        + $"VALUES (@TenantId, @Id, @ClinicId, {WrittenValues}, @Active) RETURNING {Columns}";

    private const string UpdateSql =
        $"UPDATE tax_rates SET ({Written}) = ({WrittenValues}), active = coalesce(@Active, active), updated_at = now() "
        + $"WHERE tenant_id = @TenantId AND clinic_id = @ClinicId AND id = @Id RETURNING {Columns}";

    public static IEndpointRouteBuilder MapTaxRatesApi(this IEndpointRouteBuilder app) =>
        app.MapReferenceData("/api/clinics/{clinicId:guid}/tax-rates", "/{taxRateId:guid}", "Catalog", Policies.Admin,
            new("ListTaxRates", List), new("GetTaxRate", Get), new("CreateTaxRate", Create),
            new("UpdateTaxRate", Update), new("DeactivateTaxRate", Deactivate));

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
        if (!await ClinicAccess.IsVisibleAsync(conn, user, clinicId, ct))
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
        if (!await ClinicAccess.IsVisibleAsync(conn, user, clinicId, ct))
        {
            return ApiProblems.NotFound("Clinic");
        }

        var saved = await conn.SaveAsync<TaxRateRow>(
            InsertSql, Parameters(user.TenantId, clinicId, Guid.NewGuid(), request, request.Active ?? true), ct);
        if (saved.Duplicate)
        {
            return ApiProblems.Conflict($"This clinic already has a tax rate named '{request.Name!.Trim()}'.");
        }

        var rate = saved.Row!.ToResponse();
        return TypedResults.Created($"/api/clinics/{clinicId}/tax-rates/{rate.Id}", rate);
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
        var saved = await conn.SaveAsync<TaxRateRow>(UpdateSql, Parameters(user.TenantId, clinicId, taxRateId, request, request.Active), ct);
        return saved.Duplicate ? ApiProblems.Conflict($"This clinic already has a tax rate named '{request.Name!.Trim()}'.")
            : saved.Row is null ? ApiProblems.NotFound("Tax rate")
            : TypedResults.Ok(saved.Row.ToResponse());
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
