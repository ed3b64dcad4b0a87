using System.Net;
using Dapper;
using MedSpa.Tests.TestHost;
using Npgsql;
using static MedSpa.Tests.ReferenceData.ReferenceDataRequests;

namespace MedSpa.Tests.Catalog;

public sealed class CatalogTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task Service_round_trip_create_get_list_update_deactivate()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);

        var facial = await owner.CreateAsync("/api/services", new
        {
            name = "HydraFacial",
            category = "facial",
            durationMinutes = 60,
            price = new { amount = 19900, currency = "USD" },
            taxCategory = "service",
            incomeCategory = "facials",
        });
        var botox = await owner.CreateAsync("/api/services", Service());

        var got = await owner.GetJsonAsync($"/api/services/{facial}");
        Assert.Equal("HydraFacial", got.GetProperty("name").GetString());
        Assert.Equal(60, got.GetProperty("durationMinutes").GetInt32());
        Assert.Equal(19900, got.GetProperty("price").GetProperty("amount").GetInt64());
        Assert.Equal("USD", got.GetProperty("price").GetProperty("currency").GetString());
        Assert.Equal("service", got.GetProperty("taxCategory").GetString());
        Assert.Equal("facials", got.GetProperty("incomeCategory").GetString());
        Assert.False(got.GetProperty("hsaFsaEligible").GetBoolean());

        Assert.Equal([facial], (await owner.GetJsonAsync("/api/services?category=facial")).Ids());
        Assert.Equal(2, (await owner.GetJsonAsync("/api/services")).GetProperty("total").GetInt64());

        var update = await owner.PutJsonAsync($"/api/services/{facial}", new
        {
            name = "HydraFacial Deluxe",
            category = "facial",
            durationMinutes = 75,
            price = new { amount = 24900, currency = "USD" },
            taxCategory = "service",
            incomeCategory = "facials",
            hsaFsaEligible = false,
        });
        Assert.Equal(HttpStatusCode.OK, update.StatusCode);
        var updated = await update.ReadJsonAsync();
        Assert.Equal("HydraFacial Deluxe", updated.GetProperty("name").GetString());
        Assert.Equal(24900, updated.GetProperty("price").GetProperty("amount").GetInt64());

        var duplicate = await owner.PostJsonAsync("/api/services", Service("botox cosmetic TREATMENT"));
        Assert.Equal(HttpStatusCode.Conflict, duplicate.StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await owner.DeleteAsync($"/api/services/{botox}")).StatusCode);
        Assert.False((await owner.GetJsonAsync($"/api/services/{botox}")).GetProperty("active").GetBoolean());
        Assert.Equal([facial], (await owner.GetJsonAsync("/api/services")).Ids());
    }

    [Fact]
    public async Task Product_round_trip_keeps_units_reconstitution_and_stability()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);

        var botox = await owner.CreateAsync("/api/products", Product());
        var filler = await owner.CreateAsync("/api/products", new
        {
            name = "Restylane Eyelight",
            kind = "filler",
            unit = "syringe",
            unitsPerPackage = 1,
            syringeSizeMl = 0.5m,
            pricePerUnit = new { amount = 55000, currency = "USD" },
            taxCategory = "medical",
            incomeCategory = "fillers",
        });

        var got = await owner.GetJsonAsync($"/api/products/{botox}");
        Assert.Equal("neurotoxin", got.GetProperty("kind").GetString());
        Assert.Equal("units", got.GetProperty("unit").GetString());
        Assert.Equal(100m, got.GetProperty("unitsPerPackage").GetDecimal());
        Assert.Equal("100", got.GetProperty("unitsPerPackage").GetRawText());
        Assert.Equal(1400, got.GetProperty("pricePerUnit").GetProperty("amount").GetInt64());
        Assert.Equal(42000, got.GetProperty("costPerPackage").GetProperty("amount").GetInt64());
        var options = got.GetProperty("reconstitutionOptions").EnumerateArray()
            .Select(o => (o.GetProperty("diluentMl").GetDecimal(), o.GetProperty("unitsPerMl").GetDecimal())).ToList();
        Assert.Equal([(1.0m, 100m), (2.5m, 40m)], options);
        Assert.Equal(2.5m, got.GetProperty("defaultDiluentMl").GetDecimal());
        Assert.Equal(24, got.GetProperty("stabilityHours").GetInt32());
        Assert.Equal("saline", got.GetProperty("diluent").GetString());

        var eyelight = await owner.GetJsonAsync($"/api/products/{filler}");
        Assert.Equal(0.5m, eyelight.GetProperty("syringeSizeMl").GetDecimal());
        Assert.Empty(eyelight.GetProperty("reconstitutionOptions").EnumerateArray());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, eyelight.GetProperty("stabilityHours").ValueKind);

        Assert.Equal([filler], (await owner.GetJsonAsync("/api/products?kind=filler")).Ids());

        // Dysport's short window after mixing: 4 hours.
        var update = await owner.PutJsonAsync($"/api/products/{botox}", new
        {
            name = "Dysport",
            kind = "neurotoxin",
            unit = "units",
            unitsPerPackage = 300,
            pricePerUnit = new { amount = 450, currency = "USD" },
            reconstitutionOptions = new[] { new { diluentMl = 1.5m, unitsPerMl = 200m }, new { diluentMl = 2.5m, unitsPerMl = 120m } },
            defaultDiluentMl = 2.5m,
            stabilityHours = 4,
            taxCategory = "medical",
            incomeCategory = "injectables",
        });
        Assert.Equal(HttpStatusCode.OK, update.StatusCode);
        var dysport = await owner.GetJsonAsync($"/api/products/{botox}");
        Assert.Equal(300m, dysport.GetProperty("unitsPerPackage").GetDecimal());
        Assert.Equal(4, dysport.GetProperty("stabilityHours").GetInt32());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, dysport.GetProperty("costPerPackage").ValueKind);

        Assert.Equal(HttpStatusCode.Conflict, (await owner.PostJsonAsync("/api/products", Product("DYSPORT"))).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await owner.DeleteAsync($"/api/products/{filler}")).StatusCode);
        Assert.Equal([botox], (await owner.GetJsonAsync("/api/products")).Ids());
    }

    [Fact]
    public async Task Tax_rate_of_8_875_percent_is_stored_exactly()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var rates = $"/api/clinics/{tenant.ClinicId}/tax-rates";

        var id = await owner.CreateAsync(rates, TaxRate("NYC sales tax", 8.875m));
        var got = await owner.GetJsonAsync($"{rates}/{id}");
        Assert.Equal("8.875", got.GetProperty("ratePercent").GetRawText());
        Assert.Equal(8875, got.GetProperty("rateMillipercent").GetInt32());
        Assert.Equal("retail", got.GetProperty("taxCategory").GetString());
        Assert.False(got.GetProperty("inclusive").GetBoolean());

        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            var stored = await conn.ExecuteScalarAsync<int>(
                "SELECT rate_millipercent FROM tax_rates WHERE tenant_id = @TenantId AND id = @id", new { tenant.TenantId, id });
            Assert.Equal(8875, stored);
        }

        var update = await owner.PutJsonAsync($"{rates}/{id}", new { name = "VAT", ratePercent = 20, taxCategory = "service", inclusive = true });
        Assert.Equal(HttpStatusCode.OK, update.StatusCode);
        var vat = await owner.GetJsonAsync($"{rates}/{id}");
        Assert.Equal(20m, vat.GetProperty("ratePercent").GetDecimal());
        Assert.True(vat.GetProperty("inclusive").GetBoolean());

        Assert.Equal(HttpStatusCode.Conflict, (await owner.PostJsonAsync(rates, TaxRate("vat", 5m))).StatusCode);
        var zero = await owner.CreateAsync(rates, TaxRate("Zero-rated", 0m));
        Assert.Equal(2, (await owner.GetJsonAsync(rates)).GetProperty("total").GetInt64());
        Assert.Equal(HttpStatusCode.NoContent, (await owner.DeleteAsync($"{rates}/{zero}")).StatusCode);
        Assert.Equal([id], (await owner.GetJsonAsync(rates)).Ids());

        // Front desk reads the rates of its clinic (checkout needs them) but cannot change them.
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        Assert.Equal([id], (await desk.GetJsonAsync(rates)).Ids());
        Assert.Equal(HttpStatusCode.Forbidden, (await desk.PostJsonAsync(rates, TaxRate("Desk tax", 1m))).StatusCode);
    }
}
