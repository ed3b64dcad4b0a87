using Dapper;
using MedSpa.Api.Features.Catalog;
using MedSpa.Api.Features.Patients;
using MedSpa.Api.Features.Providers;
using MedSpa.Api.Features.Rooms;
using MedSpa.Tests.ReferenceData;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MedSpa.Tests.Demo;

public sealed class DemoSeedTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task Demo_catalog_is_seeded_once_and_speaks_DOMAIN_figures()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var catalog = factory.Services.GetRequiredService<DemoCatalog>();

        var first = await catalog.SeedAsync(tenant.TenantId, tenant.ClinicId);
        var second = await catalog.SeedAsync(tenant.TenantId, tenant.ClinicId);
        Assert.Equal(new DemoCatalogSeeded(DemoCatalog.Services.Count, DemoCatalog.Products.Count, 1), first);
        Assert.Equal(new DemoCatalogSeeded(0, 0, 0), second);

        var owner = tenant.ClientFor(tenant.Owner);
        var services = await owner.GetJsonAsync("/api/services?pageSize=100");
        var serviceNames = services.GetProperty("items").EnumerateArray().Select(s => s.GetProperty("name").GetString()).ToList();
        foreach (var expected in new[] { "Botox Cosmetic treatment", "Dysport treatment", "Xeomin treatment", "Daxxify treatment",
            "Dermal filler treatment", "Sculptra treatment", "HydraFacial", "Chemical peel", "Microneedling", "Consultation" })
        {
            Assert.Contains(expected, serviceNames);
        }

        Assert.Contains(serviceNames, n => n!.StartsWith("Laser hair removal", StringComparison.Ordinal));

        var products = (await owner.GetJsonAsync("/api/products?pageSize=100")).GetProperty("items").EnumerateArray()
            .ToDictionary(p => p.GetProperty("name").GetString()!);
        Assert.Equal(DemoCatalog.Products.Count, products.Count);
        foreach (var injectable in new[] { "Botox Cosmetic", "Dysport", "Xeomin", "Daxxify",
            "Juvéderm Ultra XC", "Juvéderm Voluma XC", "Restylane-L",
            "Restylane Lyft", "Restylane Eyelight", "Radiesse", "Sculptra" })
        {
            Assert.True(products.ContainsKey(injectable), $"missing {injectable}");
        }

        var botox = products["Botox Cosmetic"];
        Assert.Equal(100m, botox.GetProperty("unitsPerPackage").GetDecimal());
        Assert.Equal(1400, botox.GetProperty("pricePerUnit").GetProperty("amount").GetInt64());
        Assert.Equal(24, botox.GetProperty("stabilityHours").GetInt32());
        Assert.Contains(botox.GetProperty("reconstitutionOptions").EnumerateArray(),
            o => o.GetProperty("diluentMl").GetDecimal() == 2.5m && o.GetProperty("unitsPerMl").GetDecimal() == 40m);
        var dysport = products["Dysport"];
        Assert.Equal(300m, dysport.GetProperty("unitsPerPackage").GetDecimal());
        Assert.Equal(450, dysport.GetProperty("pricePerUnit").GetProperty("amount").GetInt64());
        Assert.Equal(4, dysport.GetProperty("stabilityHours").GetInt32());
        Assert.Equal(1.5m, products["Radiesse"].GetProperty("syringeSizeMl").GetDecimal());
        Assert.Equal(0.5m, products["Restylane Eyelight"].GetProperty("syringeSizeMl").GetDecimal());
        var sculptra = products["Sculptra"];
        Assert.Equal("vial", sculptra.GetProperty("unit").GetString());
        Assert.Equal(7m, sculptra.GetProperty("defaultDiluentMl").GetDecimal());
        Assert.Equal(72, sculptra.GetProperty("stabilityHours").GetInt32());
        Assert.Contains(products.Values, p => p.GetProperty("kind").GetString() == "retail");

        var tax = (await owner.GetJsonAsync($"/api/clinics/{tenant.ClinicId}/tax-rates")).GetProperty("items")[0];
        Assert.Equal(8875, tax.GetProperty("rateMillipercent").GetInt32());
        Assert.Equal("retail", tax.GetProperty("taxCategory").GetString());
    }

    [Fact]
    public void Demo_catalog_passes_the_same_validation_as_the_api()
    {
        foreach (var service in DemoCatalog.Services)
        {
            Assert.True(ServicesApi.Validate(service).IsValid, service.Name);
        }

        foreach (var product in DemoCatalog.Products)
        {
            Assert.True(ProductsApi.Validate(product).IsValid, product.Name);
        }

        Assert.True(TaxRatesApi.Validate(DemoCatalog.RetailTax).IsValid);
    }

    [Fact]
    public async Task Demo_patients_are_seeded_once_and_are_valid()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var seeder = factory.Services.GetRequiredService<DemoPatients>();

        Assert.Equal(12, await seeder.SeedAsync(tenant.TenantId, tenant.ClinicId));
        Assert.Equal(0, await seeder.SeedAsync(tenant.TenantId, tenant.ClinicId));

        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        await conn.OpenAsync();
        foreach (var (_, patient) in DemoPatients.Patients)
        {
            var v = await PatientsApi.ValidateAsync(
                conn, tenant.TenantId, patient with { PreferredClinicId = tenant.ClinicId }, TimeProvider.System, CancellationToken.None);
            Assert.True(v.IsValid, patient.LastName);
        }

        Assert.Equal(12, await conn.ExecuteScalarAsync<int>("SELECT count(*) FROM patients WHERE tenant_id = @TenantId", new { tenant.TenantId }));

        // Searchable like any other patient.
        var found = await tenant.ClientFor(tenant.Owner).GetJsonAsync("/api/patients?phone=5550101");
        Assert.Equal("Martinez", found.GetProperty("items")[0].GetProperty("lastName").GetString());
    }

    [Fact]
    public async Task Demo_rooms_and_providers_are_seeded_once()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var rooms = factory.Services.GetRequiredService<DemoRooms>();
        var providers = factory.Services.GetRequiredService<DemoProviders>();
        var login = await tenant.CreateUserAsync("provider");

        Assert.Equal(6, await rooms.SeedAsync(tenant.TenantId, tenant.ClinicId));
        Assert.Equal(0, await rooms.SeedAsync(tenant.TenantId, tenant.ClinicId));
        Assert.Equal(4, await providers.SeedAsync(tenant.TenantId, tenant.ClinicId, [login.UserId]));
        Assert.Equal(0, await providers.SeedAsync(tenant.TenantId, tenant.ClinicId, [login.UserId]));

        var owner = tenant.ClientFor(tenant.Owner);
        var roomList = await owner.GetJsonAsync($"/api/clinics/{tenant.ClinicId}/rooms");
        Assert.Equal(6, roomList.GetProperty("total").GetInt64());
        var providerList = (await owner.GetJsonAsync($"/api/providers?clinicId={tenant.ClinicId}")).GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(4, providerList.Count);
        Assert.Single(providerList, p => p.GetProperty("userId").ValueKind == System.Text.Json.JsonValueKind.String
                                         && p.GetProperty("userId").GetGuid() == login.UserId);
        foreach (var (_, p) in DemoProviders.Providers)
        {
            Assert.True(p.Color is not null && p.Title is not null && ProvidersApi.Titles.Contains(p.Title), p.LastName);
        }
    }
}
