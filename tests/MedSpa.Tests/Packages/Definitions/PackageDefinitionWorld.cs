using System.Net;
using System.Text.Json;
using MedSpa.Tests.ReferenceData;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.ReferenceData.ReferenceDataRequests;

namespace MedSpa.Tests.Packages.Definitions;

/// <summary>A tenant with the catalog a package names (two services, a tax rate, a provider), made through the API.</summary>
public sealed record PackageDefinitionWorld(TestTenant Tenant, HttpClient Owner, Guid HydraFacial, Guid Botox, Guid TaxRate, Guid Provider)
{
    public Guid ClinicId => Tenant.ClinicId;

    public static async Task<PackageDefinitionWorld> CreateAsync(MedSpaApiFactory factory)
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var hydra = await owner.CreateAsync("/api/services", new
        {
            name = "HydraFacial",
            category = "facial",
            durationMinutes = 60,
            price = new { amount = 250_00, currency = "USD" },
            taxCategory = "service",
            incomeCategory = "facials",
        });
        var botox = await owner.CreateAsync("/api/services", Service("Botox", price: 14_00));
        var taxRate = await owner.CreateAsync($"/api/clinics/{tenant.ClinicId}/tax-rates", ReferenceDataRequests.TaxRate());
        var provider = await owner.CreateAsync("/api/providers", ReferenceDataRequests.Provider(tenant.ClinicId));
        return new PackageDefinitionWorld(tenant, owner, hydra, botox, taxRate, provider);
    }

    public static object Basics(string name = "HydraFacial x3", string type = "standard", Guid[]? clinicIds = null) =>
        new { name, type, description = "Three facials, prepaid.", clinicIds = clinicIds ?? [] };

    public object Services(int quantity = 0) => new
    {
        services = new object[]
        {
            new
            {
                serviceId = HydraFacial,
                sessionValue = Usd(200_00),
                quantity,
                additionalCharge = Usd(0),
                staffCompensation = Usd(40_00),
            },
        },
    };

    public static object Pricing(long price = 600_00, int quantity = 3, string? expiresOn = null, int? expiresAfterDays = 365) => new
    {
        price = Usd(price),
        regularValue = Usd(750_00),
        taxable = false,
        priceIncludesTax = false,
        taxRateIds = Array.Empty<Guid>(),
        incomeCategory = "facials",
        quantity,
        freeQuantity = 0,
        expiresAfterDays,
        expiresOn,
    };

    public object Restrictions() => new
    {
        restrictions = new
        {
            blackoutDates = new[] { "2027-12-25" },
            timeWindows = new[] { new { day = "tuesday", from = "09:00:00", to = "12:00:00" } },
            providerIds = new[] { Provider },
            maxBookingsPerWeek = 1,
            minimumNoticeHours = 24,
            maxRedemptionsPerVisit = 1,
        },
        familySharing = true,
        maxMembers = 2,
        autoRedeemOnline = true,
        allowPartialRedemption = false,
    };

    public static object Usd(long amount) => new { amount, currency = "USD" };

    /// <summary>A draft through the four steps; returns its id.</summary>
    public async Task<Guid> DraftAsync(string name = "HydraFacial x3", HttpClient? client = null)
    {
        client ??= Owner;
        var id = await client.CreateAsync("/api/package-definitions", Basics(name));
        await OkAsync(client.PutJsonAsync($"/api/package-definitions/{id}/services", Services()));
        await OkAsync(client.PutJsonAsync($"/api/package-definitions/{id}/pricing", Pricing()));
        await OkAsync(client.PutJsonAsync($"/api/package-definitions/{id}/restrictions", Restrictions()));
        return id;
    }

    /// <summary>A draft through the four steps, published.</summary>
    public async Task<Guid> PublishedAsync(string name = "HydraFacial x3")
    {
        var id = await DraftAsync(name);
        await OkAsync(Owner.PostAsync($"/api/package-definitions/{id}/publish", null));
        return id;
    }

    public static async Task<JsonElement> OkAsync(Task<HttpResponseMessage> call)
    {
        using var response = await call;
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} → {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>The problem of a refused call: its status, and (for a 400) the field its errors name.</summary>
    public static async Task<JsonElement> ProblemAsync(Task<HttpResponseMessage> call, HttpStatusCode status, string? code = null, string? field = null)
    {
        using var response = await call;
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        var problem = JsonDocument.Parse(text).RootElement.Clone();
        if (code is not null)
        {
            Assert.Equal(code, problem.GetProperty("code").GetString());
        }

        if (field is not null)
        {
            var errors = problem.GetProperty("errors").EnumerateObject().Select(e => e.Name).ToList();
            Assert.True(errors.Contains(field), $"errors name {string.Join(", ", errors)}, not {field}: {text}");
        }

        return problem;
    }
}
