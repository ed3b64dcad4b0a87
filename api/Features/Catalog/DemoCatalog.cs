using Dapper;
using MedSpa.GrainInterfaces;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Api.Features.Catalog;

/// <summary>Rows a demo seeding run inserted (0 everywhere on a second run).</summary>
public sealed record DemoCatalogSeeded(int Services, int Products, int TaxRates);

/// <summary>
/// The demo clinic's catalog: the services a med spa sells and every injectable of DOMAIN.md with its unit, package
/// size, price, reconstitution and stability, plus two retail products and the New York City sales tax on retail.
/// Idempotent: rows are matched by name (unique per tenant), so seeding twice inserts nothing the second time and
/// never overwrites what the clinic has since edited. The data goes through the same validation as the API.
/// </summary>
public sealed class DemoCatalog(NpgsqlDataSource db)
{
    private const string Usd = "USD";

    /// <summary>Toxin and filler treatments are priced at 0: the patient pays for the units or syringes used.</summary>
    public static IReadOnlyList<ServiceRequest> Services { get; } =
    [
        Service("Botox Cosmetic treatment", "neurotoxin", 30, 0, "medical", "injectables", "Billed per unit of Botox used."),
        Service("Dysport treatment", "neurotoxin", 30, 0, "medical", "injectables", "Billed per unit of Dysport used."),
        Service("Xeomin treatment", "neurotoxin", 30, 0, "medical", "injectables", "Billed per unit of Xeomin used."),
        Service("Daxxify treatment", "neurotoxin", 30, 0, "medical", "injectables", "Billed per unit of Daxxify used."),
        // Hyperhidrosis treatment is medical, so HSA/FSA cards may pay for it (cosmetic toxin is not eligible).
        Service("Botox for hyperhidrosis", "neurotoxin", 45, 0, "medical", "injectables", "Underarm sweating; billed per unit.", hsaFsa: true),
        Service("Dermal filler treatment", "filler", 45, 0, "medical", "fillers", "Billed per syringe used."),
        Service("Lip filler", "filler", 45, 0, "medical", "fillers", "Billed per syringe used."),
        Service("Cheek and jawline filler", "filler", 60, 0, "medical", "fillers", "Billed per syringe used."),
        Service("Sculptra treatment", "biostimulator", 45, 0, "medical", "biostimulators", "Billed per vial used."),
        Service("HydraFacial", "facial", 60, 199_00, "service", "facials"),
        Service("HydraFacial Platinum", "facial", 90, 299_00, "service", "facials"),
        Service("Chemical peel", "peel", 45, 150_00, "service", "facials"),
        Service("Laser hair removal - small area", "laser", 30, 150_00, "service", "laser"),
        Service("Laser hair removal - large area", "laser", 60, 350_00, "service", "laser"),
        Service("Microneedling", "microneedling", 60, 300_00, "service", "skin-treatments"),
        Service("Consultation", "consultation", 30, 0, "medical", "consultations", "New-patient consultation with a provider.", hsaFsa: true),
    ];

    public static IReadOnlyList<ProductRequest> Products { get; } =
    [
        Toxin("Botox Cosmetic", "Allergan", unitsPerVial: 100, pricePerUnit: 14_00, costPerVial: 420_00, stabilityHours: 24, defaultMl: 2.5m,
            (1.0m, 100m), (2.0m, 50m), (2.5m, 40m), (4.0m, 25m)),
        // Speywood units: about 2.5 Dysport units do what one Botox unit does, hence the lower price per unit.
        Toxin("Dysport", "Galderma", unitsPerVial: 300, pricePerUnit: 4_50, costPerVial: null, stabilityHours: 4, defaultMl: 2.5m,
            (1.5m, 200m), (2.5m, 120m), (3.0m, 100m)),
        Toxin("Xeomin", "Merz", unitsPerVial: 100, pricePerUnit: 12_00, costPerVial: null, stabilityHours: 24, defaultMl: 2.5m,
            (2.5m, 40m)),
        // DOMAIN.md gives "1.8 ml -> ~50 U/ml" for Daxxify; we keep the figure the clinics' front ends use.
        Toxin("Daxxify", "Revance", unitsPerVial: 100, pricePerUnit: 16_00, costPerVial: null, stabilityHours: 24, defaultMl: 1.8m,
            (1.8m, 50m)),
        Filler("Juvéderm Ultra XC", "Allergan", 1.0m, 650_00),
        Filler("Juvéderm Voluma XC", "Allergan", 1.0m, 850_00),
        Filler("Restylane-L", "Galderma", 1.0m, 600_00),
        Filler("Restylane Lyft", "Galderma", 1.0m, 750_00),
        // DOMAIN.md lists no price for Eyelight; 550 is a demo figure.
        Filler("Restylane Eyelight", "Galderma", 0.5m, 550_00),
        Filler("Radiesse", "Merz", 1.5m, 700_00),
        new ProductRequest(
            Name: "Sculptra", Brand: "Galderma", Sku: null, Kind: "biostimulator", Unit: "vial", UnitsPerPackage: 1m,
            PricePerUnit: new Money(950_00, Usd), CostPerPackage: null,
            // One 367.5 mg vial, mixed with 5-8 ml sterile water (7 by default); dosed by vial, not by units.
            ReconstitutionOptions: [new(5m, null), new(6m, null), new(7m, null), new(8m, null)],
            DefaultDiluentMl: 7m, Diluent: "sterile water", StabilityHours: 72, SyringeSizeMl: null,
            TaxCategory: "medical", IncomeCategory: "biostimulators", HsaFsaEligible: false, Active: true),
        Retail("SkinMedica TNS Advanced+ Serum", "SkinMedica", 295_00),
        Retail("EltaMD UV Clear SPF 46", "EltaMD", 41_00),
    ];

    /// <summary>New York State 4 % + New York City 4.5 % + MCTD 0.375 % = 8.875 %, on retail goods only.</summary>
    public static TaxRateRequest RetailTax { get; } = new("NYC sales tax", 8.875m, "retail", Inclusive: false, Active: true);

    public async Task<DemoCatalogSeeded> SeedAsync(Guid tenantId, Guid clinicId, CancellationToken ct = default)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var services = 0;
        foreach (var service in Services)
        {
            services += await conn.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO services (tenant_id, id, name, category, description, duration_minutes, price_amount, price_currency,
                                      tax_category, income_category, hsa_fsa_eligible, active)
                VALUES (@TenantId, @Id, @Name, @Category, @Description, @DurationMinutes, @PriceAmount, @PriceCurrency,
                        @TaxCategory, @IncomeCategory, @HsaFsaEligible, @Active)
                ON CONFLICT (tenant_id, lower(name)) DO NOTHING
                """,
                ServicesApi.Parameters(tenantId, Guid.NewGuid(), service, active: true), tx, cancellationToken: ct));
        }

        var products = 0;
        foreach (var product in Products)
        {
            products += await conn.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO products (tenant_id, id, name, brand, sku, kind, unit, units_per_package, price_per_unit_amount,
                                      price_currency, cost_per_package_amount, reconstitution_options, default_diluent_ml,
                                      diluent, stability_hours, syringe_size_ml, tax_category, income_category,
                                      hsa_fsa_eligible, active)
                VALUES (@TenantId, @Id, @Name, @Brand, @Sku, @Kind, @Unit, @UnitsPerPackage, @PriceAmount,
                        @PriceCurrency, @CostAmount, @ReconstitutionOptions::jsonb, @DefaultDiluentMl,
                        @Diluent, @StabilityHours, @SyringeSizeMl, @TaxCategory, @IncomeCategory,
                        @HsaFsaEligible, @Active)
                ON CONFLICT (tenant_id, lower(name)) DO NOTHING
                """,
                ProductsApi.Parameters(tenantId, Guid.NewGuid(), product, active: true), tx, cancellationToken: ct));
        }

        var taxRates = await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO tax_rates (tenant_id, id, clinic_id, name, rate_millipercent, tax_category, inclusive, active)
            VALUES (@TenantId, @Id, @ClinicId, @Name, @RateMillipercent, @TaxCategory, @Inclusive, @Active)
            ON CONFLICT (tenant_id, clinic_id, lower(name)) DO NOTHING
            """,
            TaxRatesApi.Parameters(tenantId, clinicId, Guid.NewGuid(), RetailTax, active: true), tx, cancellationToken: ct));

        await tx.CommitAsync(ct);
        return new DemoCatalogSeeded(services, products, taxRates);
    }

    private static ServiceRequest Service(
        string name, string category, int minutes, long price, string taxCategory, string incomeCategory,
        string? description = null, bool hsaFsa = false) =>
        new(name, category, description, minutes, new Money(price, Usd), taxCategory, incomeCategory, hsaFsa, Active: true);

    private static ProductRequest Toxin(
        string name, string brand, int unitsPerVial, long pricePerUnit, long? costPerVial, int stabilityHours, decimal defaultMl,
        params (decimal DiluentMl, decimal UnitsPerMl)[] options) =>
        new(name, brand, Sku: null, Kind: "neurotoxin", Unit: "units", UnitsPerPackage: unitsPerVial,
            PricePerUnit: new Money(pricePerUnit, Usd), CostPerPackage: costPerVial is { } c ? new Money(c, Usd) : null,
            ReconstitutionOptions: options.Select(o => new ReconstitutionOption(o.DiluentMl, o.UnitsPerMl)).ToList(),
            DefaultDiluentMl: defaultMl, Diluent: "saline", StabilityHours: stabilityHours, SyringeSizeMl: null,
            TaxCategory: "medical", IncomeCategory: "injectables", HsaFsaEligible: false, Active: true);

    private static ProductRequest Filler(string name, string brand, decimal syringeMl, long pricePerSyringe) =>
        new(name, brand, Sku: null, Kind: "filler", Unit: "syringe", UnitsPerPackage: 1m,
            PricePerUnit: new Money(pricePerSyringe, Usd), CostPerPackage: null, ReconstitutionOptions: [],
            DefaultDiluentMl: null, Diluent: null, StabilityHours: null, SyringeSizeMl: syringeMl,
            TaxCategory: "medical", IncomeCategory: "fillers", HsaFsaEligible: false, Active: true);

    private static ProductRequest Retail(string name, string brand, long price) =>
        new(name, brand, Sku: null, Kind: "retail", Unit: "each", UnitsPerPackage: 1m,
            PricePerUnit: new Money(price, Usd), CostPerPackage: null, ReconstitutionOptions: [],
            DefaultDiluentMl: null, Diluent: null, StabilityHours: null, SyringeSizeMl: null,
            TaxCategory: "retail", IncomeCategory: "retail", HsaFsaEligible: false, Active: true);
}
