using System.Net;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.ReferenceData.ReferenceDataRequests;

namespace MedSpa.Tests.ReferenceData;

/// <summary>
/// Every reference-data route, called by another tenant's owner with tenant A's ids, answers 404 exactly like a
/// missing object — and changes nothing. Add a row here for each new reference-data route.
/// </summary>
public sealed class CrossTenantAccessTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    /// <summary>(method, route template, body kind). Templates use tenant A's ids; bodies are valid requests.</summary>
    public static TheoryData<string, string, string> Routes => new()
    {
        { "GET", "/api/clinics/{clinic}", "" },
        { "PUT", "/api/clinics/{clinic}", "clinic" },
        { "DELETE", "/api/clinics/{clinic}", "" },
        { "GET", "/api/clinics/{clinic}/rooms", "" },
        { "POST", "/api/clinics/{clinic}/rooms", "room" },
        { "GET", "/api/clinics/{clinic}/rooms/{room}", "" },
        { "PUT", "/api/clinics/{clinic}/rooms/{room}", "room" },
        { "DELETE", "/api/clinics/{clinic}/rooms/{room}", "" },
        { "GET", "/api/clinics/{clinic}/tax-rates", "" },
        { "POST", "/api/clinics/{clinic}/tax-rates", "taxRate" },
        { "GET", "/api/clinics/{clinic}/tax-rates/{taxRate}", "" },
        { "PUT", "/api/clinics/{clinic}/tax-rates/{taxRate}", "taxRate" },
        { "DELETE", "/api/clinics/{clinic}/tax-rates/{taxRate}", "" },
        { "GET", "/api/providers?clinicId={clinic}", "" },
        { "GET", "/api/providers/{provider}", "" },
        { "PUT", "/api/providers/{provider}", "provider" },
        { "DELETE", "/api/providers/{provider}", "" },
        { "GET", "/api/services/{service}", "" },
        { "PUT", "/api/services/{service}", "service" },
        { "DELETE", "/api/services/{service}", "" },
        { "GET", "/api/products/{product}", "" },
        { "PUT", "/api/products/{product}", "product" },
        { "DELETE", "/api/products/{product}", "" },
        { "GET", "/api/patients/{patient}", "" },
        { "PUT", "/api/patients/{patient}", "patient" },
        { "DELETE", "/api/patients/{patient}", "" },
    };

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task Another_tenants_object_is_not_found(string method, string template, string body)
    {
        var a = await TenantResources.CreateAsync(await TestTenant.CreateAsync(factory));
        var b = await TestTenant.CreateAsync(factory);
        var intruder = b.ClientFor(b.Owner);
        var url = a.Resolve(template);

        var request = new HttpRequestMessage(new HttpMethod(method), url);
        if (body.Length > 0)
        {
            // Bodies valid in B's own terms (B's clinic for a provider), so only the foreign id can fail the call.
            request.Content = System.Net.Http.Json.JsonContent.Create(BodyFor(body, b.ClinicId), options: MedSpaApiFactory.Json);
        }

        var response = await intruder.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.NotFound, $"{method} {template} → {(int)response.StatusCode}: {text}");
        Assert.Equal("not_found", (await response.ReadJsonAsync()).GetProperty("code").GetString());

        await AssertUnchangedAsync(a);
    }

    [Fact]
    public async Task Lists_never_show_another_tenants_rows()
    {
        var a = await TenantResources.CreateAsync(await TestTenant.CreateAsync(factory));
        var b = await TenantResources.CreateAsync(await TestTenant.CreateAsync(factory));
        var client = b.Tenant.ClientFor(b.Tenant.Owner);

        Assert.Equal([b.ClinicId], (await client.GetJsonAsync("/api/clinics?includeInactive=true")).Ids());
        Assert.Equal([b.ProviderId], (await client.GetJsonAsync("/api/providers?includeInactive=true")).Ids());
        Assert.Equal([b.ServiceId], (await client.GetJsonAsync("/api/services?includeInactive=true")).Ids());
        Assert.Equal([b.ProductId], (await client.GetJsonAsync("/api/products?includeInactive=true")).Ids());
        // Both tenants' patients have the same name, email and phone: search must still stay inside the tenant.
        Assert.Equal([b.PatientId], (await client.GetJsonAsync("/api/patients?q=martinez&includeInactive=true")).Ids());
        Assert.Equal([b.PatientId], (await client.GetJsonAsync("/api/patients?phone=5550101")).Ids());
        Assert.DoesNotContain(a.PatientId, (await client.GetJsonAsync("/api/patients")).Ids());
    }

    private static object BodyFor(string kind, Guid ownClinicId) => kind switch
    {
        "clinic" => Clinic("Renamed by intruder"),
        "room" => Room("99", "Intruder room"),
        "taxRate" => TaxRate("Intruder tax", 1m),
        "provider" => Provider(ownClinicId, "Intruder"),
        "service" => Service("Intruder service"),
        "product" => Product("Intruder product"),
        "patient" => Patient("Intruder", "Intruder"),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    private static async Task AssertUnchangedAsync(TenantResources a)
    {
        var owner = a.Tenant.ClientFor(a.Tenant.Owner);
        var clinic = await owner.GetJsonAsync($"/api/clinics/{a.ClinicId}");
        Assert.Equal("Main clinic", clinic.GetProperty("name").GetString());
        Assert.True(clinic.GetProperty("active").GetBoolean());

        var rooms = await owner.GetJsonAsync($"/api/clinics/{a.ClinicId}/rooms?includeInactive=true");
        Assert.Equal(1, rooms.GetProperty("total").GetInt64());
        var taxRates = await owner.GetJsonAsync($"/api/clinics/{a.ClinicId}/tax-rates?includeInactive=true");
        Assert.Equal(1, taxRates.GetProperty("total").GetInt64());

        foreach (var url in new[]
                 {
                     $"/api/clinics/{a.ClinicId}/rooms/{a.RoomId}", $"/api/clinics/{a.ClinicId}/tax-rates/{a.TaxRateId}",
                     $"/api/providers/{a.ProviderId}", $"/api/services/{a.ServiceId}", $"/api/products/{a.ProductId}",
                     $"/api/patients/{a.PatientId}",
                 })
        {
            var item = await owner.GetJsonAsync(url);
            Assert.True(item.GetProperty("active").GetBoolean(), $"{url} was deactivated by another tenant");
            Assert.DoesNotContain("Intruder", item.GetRawText(), StringComparison.OrdinalIgnoreCase);
        }
    }
}
