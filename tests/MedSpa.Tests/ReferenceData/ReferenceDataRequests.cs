using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MedSpa.Tests.TestHost;

namespace MedSpa.Tests.ReferenceData;

/// <summary>Valid request bodies for each reference-data resource, and small HTTP helpers the tests share.</summary>
public static class ReferenceDataRequests
{
    public static object Clinic(string name = "Uptown") => new
    {
        name,
        timeZone = "America/New_York",
        currency = "USD",
        address = new { line1 = "10 Park Ave", city = "New York", region = "NY", postalCode = "10016", country = "US" },
        phone = "(212) 555-0100",
        email = "uptown@example.com",
        showFullPatientNames = false,
        receiptFooter = "Thank you for visiting.",
    };

    public static object Room(string number = "1", string name = "Treatment 1", string kind = "treatment") =>
        new { number, name, kind, sortOrder = 1 };

    public static object TaxRate(string name = "NYC sales tax", decimal ratePercent = 8.875m) =>
        new { name, ratePercent, taxCategory = "retail", inclusive = false };

    public static object Provider(Guid clinicId, string lastName = "Rivera", Guid? userId = null) => new
    {
        userId,
        firstName = "Ana",
        lastName,
        title = "np",
        credentials = "MSN, FNP-C",
        licenseNumber = "NP-12345",
        licenseState = "NY",
        specialties = new[] { "neurotoxin", "filler" },
        color = "#7C3AED",
        clinicIds = new[] { clinicId },
        email = "ana.rivera@example.com",
        phone = "212-555-0150",
    };

    public static object Service(string name = "Botox Cosmetic treatment", long price = 0) => new
    {
        name,
        category = "neurotoxin",
        description = "Billed per unit.",
        durationMinutes = 30,
        price = new { amount = price, currency = "USD" },
        taxCategory = "medical",
        incomeCategory = "injectables",
        hsaFsaEligible = false,
    };

    public static object Product(string name = "Botox Cosmetic") => new
    {
        name,
        brand = "Allergan",
        kind = "neurotoxin",
        unit = "units",
        unitsPerPackage = 100,
        pricePerUnit = new { amount = 1400, currency = "USD" },
        costPerPackage = new { amount = 42000, currency = "USD" },
        reconstitutionOptions = new[]
        {
            new { diluentMl = 1.0m, unitsPerMl = 100m },
            new { diluentMl = 2.5m, unitsPerMl = 40m },
        },
        defaultDiluentMl = 2.5m,
        diluent = "saline",
        stabilityHours = 24,
        taxCategory = "medical",
        incomeCategory = "injectables",
        hsaFsaEligible = false,
    };

    public static object Patient(string firstName = "Sophia", string lastName = "Martinez", string? email = "sophia.martinez@example.com",
        string? phone = "(212) 555-0101", Guid? preferredClinicId = null) => new
    {
        firstName,
        lastName,
        preferredName = (string?)null,
        dateOfBirth = "1988-03-14",
        sex = "female",
        email,
        phone,
        address = new { line1 = "1 Main St", city = "New York", region = "NY", postalCode = "10001", country = "US" },
        allergies = new[] { "Lidocaine" },
        medicalAlerts = Array.Empty<string>(),
        notes = "Prefers afternoons.",
        marketingConsent = true,
        preferredClinicId,
    };

    public static Task<HttpResponseMessage> PostJsonAsync(this HttpClient client, string url, object body) =>
        client.PostAsJsonAsync(url, body, MedSpaApiFactory.Json);

    public static Task<HttpResponseMessage> PutJsonAsync(this HttpClient client, string url, object body) =>
        client.PutAsJsonAsync(url, body, MedSpaApiFactory.Json);

    public static Task<HttpResponseMessage> SendRawAsync(this HttpClient client, HttpMethod method, string url, string json) =>
        client.SendAsync(new HttpRequestMessage(method, url) { Content = new StringContent(json, Encoding.UTF8, "application/json") });

    /// <summary>Creates through the API and returns the new id, failing with the response body if it was not 201.</summary>
    public static async Task<Guid> CreateAsync(this HttpClient client, string url, object body)
    {
        var response = await client.PostJsonAsync(url, body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"POST {url} → {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.GetProperty("id").GetGuid();
    }

    public static async Task<JsonElement> GetJsonAsync(this HttpClient client, string url)
    {
        var response = await client.GetAsync(url);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {url} → {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    public static IReadOnlyList<Guid> Ids(this JsonElement page) =>
        page.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetGuid()).ToList();
}

/// <summary>One of every reference-data resource, created through the API by a tenant's owner.</summary>
public sealed record TenantResources(
    TestTenant Tenant, Guid ClinicId, Guid RoomId, Guid TaxRateId, Guid ProviderId, Guid ServiceId, Guid ProductId, Guid PatientId)
{
    public static async Task<TenantResources> CreateAsync(TestTenant tenant)
    {
        var owner = tenant.ClientFor(tenant.Owner);
        var clinic = tenant.ClinicId;
        return new TenantResources(
            tenant,
            clinic,
            await owner.CreateAsync($"/api/clinics/{clinic}/rooms", ReferenceDataRequests.Room()),
            await owner.CreateAsync($"/api/clinics/{clinic}/tax-rates", ReferenceDataRequests.TaxRate()),
            await owner.CreateAsync("/api/providers", ReferenceDataRequests.Provider(clinic)),
            await owner.CreateAsync("/api/services", ReferenceDataRequests.Service()),
            await owner.CreateAsync("/api/products", ReferenceDataRequests.Product()),
            await owner.CreateAsync("/api/patients", ReferenceDataRequests.Patient(preferredClinicId: clinic)));
    }

    /// <summary>Replaces {clinic}, {room}, ... in a route template with this tenant's ids.</summary>
    public string Resolve(string template) => template
        .Replace("{clinic}", ClinicId.ToString(), StringComparison.Ordinal)
        .Replace("{room}", RoomId.ToString(), StringComparison.Ordinal)
        .Replace("{taxRate}", TaxRateId.ToString(), StringComparison.Ordinal)
        .Replace("{provider}", ProviderId.ToString(), StringComparison.Ordinal)
        .Replace("{service}", ServiceId.ToString(), StringComparison.Ordinal)
        .Replace("{product}", ProductId.ToString(), StringComparison.Ordinal)
        .Replace("{patient}", PatientId.ToString(), StringComparison.Ordinal);
}
