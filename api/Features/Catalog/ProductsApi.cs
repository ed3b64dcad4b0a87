using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.Api.Infrastructure.Idempotency;
using MedSpa.GrainInterfaces;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using static MedSpa.Api.Features.Clinics.ReferenceDataSql;

namespace MedSpa.Api.Features.Catalog;

/// <summary>
/// One way to mix a vial: <c>diluentMl</c> of saline (or sterile water) giving <c>unitsPerMl</c> — e.g. Botox 100 U in
/// 2.5 ml is 40 U/ml. Units per ml is absent for products dosed by volume (Sculptra).
/// </summary>
public sealed record ReconstitutionOption(decimal? DiluentMl, decimal? UnitsPerMl);

public sealed record ProductRequest(
    string? Name,
    string? Brand,
    string? Sku,
    string? Kind,
    string? Unit,
    decimal? UnitsPerPackage,
    Money? PricePerUnit,
    Money? CostPerPackage,
    IReadOnlyList<ReconstitutionOption>? ReconstitutionOptions,
    decimal? DefaultDiluentMl,
    string? Diluent,
    int? StabilityHours,
    decimal? SyringeSizeMl,
    string? TaxCategory,
    string? IncomeCategory,
    bool? HsaFsaEligible,
    bool? Active);

public sealed record ProductResponse(
    Guid Id,
    string Name,
    string? Brand,
    string? Sku,
    string Kind,
    string Unit,
    decimal UnitsPerPackage,
    Money PricePerUnit,
    Money? CostPerPackage,
    IReadOnlyList<ReconstitutionOption> ReconstitutionOptions,
    decimal? DefaultDiluentMl,
    string? Diluent,
    int? StabilityHours,
    decimal? SyringeSizeMl,
    string TaxCategory,
    string IncomeCategory,
    bool HsaFsaEligible,
    bool Active,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>
/// Injectables (neurotoxins, fillers, biostimulators) and retail products, tenant-wide, as DOMAIN.md describes them:
/// the priced unit, units per package, reconstitution choices and how long a mixed vial stays usable (the open-vial
/// window inventory and charting rely on). Names are unique per tenant (409). DELETE deactivates.
/// </summary>
public static class ProductsApi
{
    private const string Columns =
        """
        id, name, brand, sku, kind, unit, units_per_package, price_per_unit_amount, price_currency, cost_per_package_amount,
        reconstitution_options::text AS reconstitution_options, default_diluent_ml, diluent, stability_hours, syringe_size_ml,
        tax_category, income_category, hsa_fsa_eligible, active, created_at, updated_at
        """;

    /// <summary>Kinds that are mixed before use and so may carry reconstitution options and a stability window.</summary>
    private static readonly HashSet<string> MixedKinds = ["neurotoxin", "biostimulator", "skin-booster", "other"];

    public static IEndpointRouteBuilder MapProductsApi(this IEndpointRouteBuilder app)
    {
        var products = app.MapGroup("/api/products").WithTags("Catalog");

        var read = products.MapGroup("").RequireAuthorization(Policies.Staff);
        read.MapGet("", List).WithName("ListProducts");
        read.MapGet("/{productId:guid}", Get).WithName("GetProduct");

        var write = products.MapGroup("").RequireAuthorization(Policies.Admin);
        write.MapPost("", Create).WithName("CreateProduct").WithIdempotency();
        write.MapPut("/{productId:guid}", Update).WithName("UpdateProduct");
        write.MapDelete("/{productId:guid}", Deactivate).WithName("DeactivateProduct");
        return app;
    }

    private static async Task<Results<Ok<Paged<ProductResponse>>, ValidationProblem>> List(
        CurrentUser user, NpgsqlDataSource db, string? kind, int? page, int? pageSize, bool? includeInactive, CancellationToken ct)
    {
        var v = new Validation();
        var paging = PageRequest.From(page, pageSize, v);
        v.OneOf("kind", kind, CatalogVocabulary.ProductKinds, required: false);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        const string where = "WHERE tenant_id = @TenantId AND (@all OR active) AND (@kind::text IS NULL OR kind = @kind)";
        var args = new { user.TenantId, kind, all = includeInactive == true, paging.PageSize, paging.Offset };
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        return TypedResults.Ok(await conn.QueryPageAsync(
            paging, "products", Columns, where, "kind, lower(name), id", args, (ProductRow r) => r.ToResponse(), ct));
    }

    private static async Task<Results<Ok<ProductResponse>, ProblemHttpResult>> Get(
        Guid productId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var row = await conn.QuerySingleOrDefaultAsync<ProductRow>(new CommandDefinition(
            $"SELECT {Columns} FROM products WHERE tenant_id = @TenantId AND id = @productId",
            new { user.TenantId, productId }, cancellationToken: ct));
        return row is null ? ApiProblems.NotFound("Product") : TypedResults.Ok(row.ToResponse());
    }

    private static async Task<Results<Created<ProductResponse>, ValidationProblem, ProblemHttpResult>> Create(
        ProductRequest request, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = Validate(request);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        try
        {
            var row = await conn.QuerySingleAsync<ProductRow>(new CommandDefinition(
                $"""
                INSERT INTO products (tenant_id, id, name, brand, sku, kind, unit, units_per_package, price_per_unit_amount,
                                      price_currency, cost_per_package_amount, reconstitution_options, default_diluent_ml,
                                      diluent, stability_hours, syringe_size_ml, tax_category, income_category,
                                      hsa_fsa_eligible, active)
                VALUES (@TenantId, @Id, @Name, @Brand, @Sku, @Kind, @Unit, @UnitsPerPackage, @PriceAmount,
                        @PriceCurrency, @CostAmount, @ReconstitutionOptions::jsonb, @DefaultDiluentMl,
                        @Diluent, @StabilityHours, @SyringeSizeMl, @TaxCategory, @IncomeCategory,
                        @HsaFsaEligible, @Active)
                RETURNING {Columns}
                """,
                Parameters(user.TenantId, Guid.NewGuid(), request, request.Active ?? true), cancellationToken: ct));
            var product = row.ToResponse();
            return TypedResults.Created($"/api/products/{product.Id}", product);
        }
        catch (PostgresException e) when (e.IsUniqueViolation())
        {
            return ApiProblems.Conflict($"A product named '{request.Name!.Trim()}' already exists.");
        }
    }

    private static async Task<Results<Ok<ProductResponse>, ValidationProblem, ProblemHttpResult>> Update(
        Guid productId, ProductRequest request, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = Validate(request);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        try
        {
            var row = await conn.QuerySingleOrDefaultAsync<ProductRow>(new CommandDefinition(
                $"""
                UPDATE products SET name = @Name, brand = @Brand, sku = @Sku, kind = @Kind, unit = @Unit,
                       units_per_package = @UnitsPerPackage, price_per_unit_amount = @PriceAmount,
                       price_currency = @PriceCurrency, cost_per_package_amount = @CostAmount,
                       reconstitution_options = @ReconstitutionOptions::jsonb, default_diluent_ml = @DefaultDiluentMl,
                       diluent = @Diluent, stability_hours = @StabilityHours, syringe_size_ml = @SyringeSizeMl,
                       tax_category = @TaxCategory, income_category = @IncomeCategory, hsa_fsa_eligible = @HsaFsaEligible,
                       active = coalesce(@Active, active), updated_at = now()
                WHERE tenant_id = @TenantId AND id = @Id
                RETURNING {Columns}
                """,
                Parameters(user.TenantId, productId, request, request.Active), cancellationToken: ct));
            return row is null ? ApiProblems.NotFound("Product") : TypedResults.Ok(row.ToResponse());
        }
        catch (PostgresException e) when (e.IsUniqueViolation())
        {
            return ApiProblems.Conflict($"A product named '{request.Name!.Trim()}' already exists.");
        }
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> Deactivate(
        Guid productId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var changed = await conn.ExecuteAsync(new CommandDefinition(
            "UPDATE products SET active = false, updated_at = now() WHERE tenant_id = @TenantId AND id = @productId",
            new { user.TenantId, productId }, cancellationToken: ct));
        return changed == 0 ? ApiProblems.NotFound("Product") : TypedResults.NoContent();
    }

    public static Validation Validate(ProductRequest r)
    {
        var v = new Validation()
            .Required("name", r.Name)
            .Optional("brand", r.Brand, 200)
            .Optional("sku", r.Sku, 100)
            .OneOf("kind", r.Kind, CatalogVocabulary.ProductKinds)
            .OneOf("unit", r.Unit, CatalogVocabulary.ProductUnits)
            .Range("unitsPerPackage", r.UnitsPerPackage, 0.001m, 1_000_000m)
            .Decimals("unitsPerPackage", r.UnitsPerPackage, 3)
            .Money("pricePerUnit", r.PricePerUnit)
            .Money("costPerPackage", r.CostPerPackage, required: false)
            .Range("stabilityHours", r.StabilityHours, 1, 8760, required: false)
            .Range("syringeSizeMl", r.SyringeSizeMl, 0.01m, 100m, required: false)
            .Decimals("syringeSizeMl", r.SyringeSizeMl, 2)
            .Range("defaultDiluentMl", r.DefaultDiluentMl, 0.01m, 100m, required: false)
            .Decimals("defaultDiluentMl", r.DefaultDiluentMl, 2)
            .Optional("diluent", r.Diluent, 100)
            .OneOf("taxCategory", r.TaxCategory, CatalogVocabulary.TaxCategories)
            .Slug("incomeCategory", r.IncomeCategory);

        if (r.CostPerPackage is { Currency: var costCurrency } && r.PricePerUnit is { Currency: var priceCurrency } && costCurrency != priceCurrency)
        {
            v.Add("costPerPackage.currency", "costPerPackage.currency must match pricePerUnit.currency.");
        }

        // Billing rules depend on these pairings: toxins are billed per unit, fillers per syringe (DOMAIN.md).
        v.When(r.Kind == "neurotoxin" && r.Unit is not null && r.Unit != "units", "unit", "A neurotoxin is priced per unit: unit must be 'units'.");
        v.When(r.Kind == "filler" && r.Unit is not null && r.Unit != "syringe", "unit", "A filler is priced per syringe: unit must be 'syringe'.");
        v.When(r.Unit == "syringe" && r.SyringeSizeMl is null, "syringeSizeMl", "syringeSizeMl is required when the unit is 'syringe'.");

        var options = r.ReconstitutionOptions ?? [];
        if (options.Count > 0 && r.Kind is not null && !MixedKinds.Contains(r.Kind))
        {
            v.Add("reconstitutionOptions", $"A {r.Kind} product is not reconstituted: leave reconstitutionOptions empty.");
        }

        v.When(options.Count > 10, "reconstitutionOptions", "reconstitutionOptions may hold at most 10 entries.");
        for (var i = 0; i < options.Count; i++)
        {
            var field = $"reconstitutionOptions[{i}]";
            if (options[i] is null)
            {
                v.Add(field, $"{field} is required.");
                continue;
            }

            v.Range($"{field}.diluentMl", options[i].DiluentMl, 0.01m, 100m)
                .Decimals($"{field}.diluentMl", options[i].DiluentMl, 2)
                .Range($"{field}.unitsPerMl", options[i].UnitsPerMl, 0.001m, 100_000m, required: false)
                .Decimals($"{field}.unitsPerMl", options[i].UnitsPerMl, 3);
        }

        if (r.DefaultDiluentMl is { } defaultMl && !options.Any(o => o?.DiluentMl == defaultMl))
        {
            v.Add("defaultDiluentMl", "defaultDiluentMl must be the diluentMl of one of the reconstitutionOptions.");
        }

        return v;
    }

    internal static object Parameters(Guid tenantId, Guid id, ProductRequest r, bool? active) => new
    {
        TenantId = tenantId,
        Id = id,
        Name = r.Name!.Trim(),
        Brand = Clean(r.Brand),
        Sku = Clean(r.Sku),
        r.Kind,
        r.Unit,
        r.UnitsPerPackage,
        PriceAmount = r.PricePerUnit!.Value.Amount,
        PriceCurrency = r.PricePerUnit!.Value.Currency,
        CostAmount = r.CostPerPackage?.Amount,
        ReconstitutionOptions = ToJson(r.ReconstitutionOptions ?? []),
        r.DefaultDiluentMl,
        Diluent = Clean(r.Diluent),
        r.StabilityHours,
        r.SyringeSizeMl,
        r.TaxCategory,
        r.IncomeCategory,
        HsaFsaEligible = r.HsaFsaEligible ?? false,
        Active = active,
    };

    private sealed class ProductRow
    {
        public Guid Id { get; init; }
        public string Name { get; init; } = "";
        public string? Brand { get; init; }
        public string? Sku { get; init; }
        public string Kind { get; init; } = "";
        public string Unit { get; init; } = "";
        public decimal UnitsPerPackage { get; init; }
        public long PricePerUnitAmount { get; init; }
        public string PriceCurrency { get; init; } = "";
        public long? CostPerPackageAmount { get; init; }
        public string? ReconstitutionOptions { get; init; }
        public decimal? DefaultDiluentMl { get; init; }
        public string? Diluent { get; init; }
        public int? StabilityHours { get; init; }
        public decimal? SyringeSizeMl { get; init; }
        public string TaxCategory { get; init; } = "";
        public string IncomeCategory { get; init; } = "";
        public bool HsaFsaEligible { get; init; }
        public bool Active { get; init; }
        public DateTime CreatedAt { get; init; }
        public DateTime UpdatedAt { get; init; }

        public ProductResponse ToResponse() => new(
            Id, Name, Brand, Sku, Kind, Unit, Trim(UnitsPerPackage), new Money(PricePerUnitAmount, PriceCurrency),
            CostPerPackageAmount is { } cost ? new Money(cost, PriceCurrency) : null,
            FromJson<List<ReconstitutionOption>>(ReconstitutionOptions) ?? [], Trim(DefaultDiluentMl), Diluent, StabilityHours,
            Trim(SyringeSizeMl), TaxCategory, IncomeCategory, HsaFsaEligible, Active, Utc(CreatedAt), Utc(UpdatedAt));
    }
}
