using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.Api.Infrastructure.Idempotency;
using MedSpa.GrainInterfaces;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using static MedSpa.Api.Features.Clinics.ReferenceDataSql;

namespace MedSpa.Api.Features.Catalog;

public sealed record ServiceRequest(
    string? Name,
    string? Category,
    string? Description,
    int? DurationMinutes,
    Money? Price,
    string? TaxCategory,
    string? IncomeCategory,
    bool? HsaFsaEligible,
    bool? Active);

public sealed record ServiceResponse(
    Guid Id,
    string Name,
    string Category,
    string? Description,
    int DurationMinutes,
    Money Price,
    string TaxCategory,
    string IncomeCategory,
    bool HsaFsaEligible,
    bool Active,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>
/// Bookable services (a Botox treatment, a HydraFacial, a consultation), tenant-wide. Names are unique per tenant
/// (409). DELETE deactivates: appointments and invoices keep referring to the service.
/// </summary>
public static class ServicesApi
{
    private const string Columns =
        "id, name, category, description, duration_minutes, price_amount, price_currency, tax_category, income_category, hsa_fsa_eligible, active, created_at, updated_at";

    public static IEndpointRouteBuilder MapServicesApi(this IEndpointRouteBuilder app)
    {
        var services = app.MapGroup("/api/services").WithTags("Catalog");

        var read = services.MapGroup("").RequireAuthorization(Policies.Staff);
        read.MapGet("", List).WithName("ListServices");
        read.MapGet("/{serviceId:guid}", Get).WithName("GetService");

        var write = services.MapGroup("").RequireAuthorization(Policies.Admin);
        write.MapPost("", Create).WithName("CreateService").WithIdempotency();
        write.MapPut("/{serviceId:guid}", Update).WithName("UpdateService");
        write.MapDelete("/{serviceId:guid}", Deactivate).WithName("DeactivateService");
        return app;
    }

    private static async Task<Results<Ok<Paged<ServiceResponse>>, ValidationProblem>> List(
        CurrentUser user, NpgsqlDataSource db, string? category, int? page, int? pageSize, bool? includeInactive, CancellationToken ct)
    {
        var v = new Validation();
        var paging = PageRequest.From(page, pageSize, v);
        v.Slug("category", category, required: false);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        const string where = "WHERE tenant_id = @TenantId AND (@all OR active) AND (@category::text IS NULL OR category = @category)";
        var args = new { user.TenantId, category, all = includeInactive == true, paging.PageSize, paging.Offset };
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        return TypedResults.Ok(await conn.QueryPageAsync(
            paging, "services", Columns, where, "category, lower(name), id", args, (ServiceRow r) => r.ToResponse(), ct));
    }

    private static async Task<Results<Ok<ServiceResponse>, ProblemHttpResult>> Get(
        Guid serviceId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var row = await conn.QuerySingleOrDefaultAsync<ServiceRow>(new CommandDefinition(
            $"SELECT {Columns} FROM services WHERE tenant_id = @TenantId AND id = @serviceId",
            new { user.TenantId, serviceId }, cancellationToken: ct));
        return row is null ? ApiProblems.NotFound("Service") : TypedResults.Ok(row.ToResponse());
    }

    private static async Task<Results<Created<ServiceResponse>, ValidationProblem, ProblemHttpResult>> Create(
        ServiceRequest request, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = Validate(request);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        try
        {
            var row = await conn.QuerySingleAsync<ServiceRow>(new CommandDefinition(
                $"""
                INSERT INTO services (tenant_id, id, name, category, description, duration_minutes, price_amount, price_currency,
                                      tax_category, income_category, hsa_fsa_eligible, active)
                VALUES (@TenantId, @Id, @Name, @Category, @Description, @DurationMinutes, @PriceAmount, @PriceCurrency,
                        @TaxCategory, @IncomeCategory, @HsaFsaEligible, @Active)
                RETURNING {Columns}
                """,
                Parameters(user.TenantId, Guid.NewGuid(), request, request.Active ?? true), cancellationToken: ct));
            var service = row.ToResponse();
            return TypedResults.Created($"/api/services/{service.Id}", service);
        }
        catch (PostgresException e) when (e.IsUniqueViolation())
        {
            return ApiProblems.Conflict($"A service named '{request.Name!.Trim()}' already exists.");
        }
    }

    private static async Task<Results<Ok<ServiceResponse>, ValidationProblem, ProblemHttpResult>> Update(
        Guid serviceId, ServiceRequest request, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = Validate(request);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        try
        {
            var row = await conn.QuerySingleOrDefaultAsync<ServiceRow>(new CommandDefinition(
                $"""
                UPDATE services SET name = @Name, category = @Category, description = @Description,
                       duration_minutes = @DurationMinutes, price_amount = @PriceAmount, price_currency = @PriceCurrency,
                       tax_category = @TaxCategory, income_category = @IncomeCategory, hsa_fsa_eligible = @HsaFsaEligible,
                       active = coalesce(@Active, active), updated_at = now()
                WHERE tenant_id = @TenantId AND id = @Id
                RETURNING {Columns}
                """,
                Parameters(user.TenantId, serviceId, request, request.Active), cancellationToken: ct));
            return row is null ? ApiProblems.NotFound("Service") : TypedResults.Ok(row.ToResponse());
        }
        catch (PostgresException e) when (e.IsUniqueViolation())
        {
            return ApiProblems.Conflict($"A service named '{request.Name!.Trim()}' already exists.");
        }
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> Deactivate(
        Guid serviceId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var changed = await conn.ExecuteAsync(new CommandDefinition(
            "UPDATE services SET active = false, updated_at = now() WHERE tenant_id = @TenantId AND id = @serviceId",
            new { user.TenantId, serviceId }, cancellationToken: ct));
        return changed == 0 ? ApiProblems.NotFound("Service") : TypedResults.NoContent();
    }

    public static Validation Validate(ServiceRequest r) =>
        new Validation()
            .Required("name", r.Name)
            .Slug("category", r.Category)
            .Optional("description", r.Description, 2000)
            .Range("durationMinutes", r.DurationMinutes, 5, 720)
            .Money("price", r.Price)
            .OneOf("taxCategory", r.TaxCategory, CatalogVocabulary.TaxCategories)
            .Slug("incomeCategory", r.IncomeCategory);

    internal static object Parameters(Guid tenantId, Guid id, ServiceRequest r, bool? active) => new
    {
        TenantId = tenantId,
        Id = id,
        Name = r.Name!.Trim(),
        r.Category,
        Description = Clean(r.Description),
        r.DurationMinutes,
        PriceAmount = r.Price!.Value.Amount,
        PriceCurrency = r.Price!.Value.Currency,
        r.TaxCategory,
        r.IncomeCategory,
        HsaFsaEligible = r.HsaFsaEligible ?? false,
        Active = active,
    };

    private sealed class ServiceRow
    {
        public Guid Id { get; init; }
        public string Name { get; init; } = "";
        public string Category { get; init; } = "";
        public string? Description { get; init; }
        public int DurationMinutes { get; init; }
        public long PriceAmount { get; init; }
        public string PriceCurrency { get; init; } = "";
        public string TaxCategory { get; init; } = "";
        public string IncomeCategory { get; init; } = "";
        public bool HsaFsaEligible { get; init; }
        public bool Active { get; init; }
        public DateTime CreatedAt { get; init; }
        public DateTime UpdatedAt { get; init; }

        public ServiceResponse ToResponse() => new(
            Id, Name, Category, Description, DurationMinutes, new Money(PriceAmount, PriceCurrency), TaxCategory,
            IncomeCategory, HsaFsaEligible, Active, Utc(CreatedAt), Utc(UpdatedAt));
    }
}
