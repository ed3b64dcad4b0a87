using System.Net;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.ReferenceData.ReferenceDataRequests;

namespace MedSpa.Tests.Clinics;

public sealed class ClinicsTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task Clinic_round_trip_create_get_list_update_archive()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);

        var id = await owner.CreateAsync("/api/clinics", Clinic("Uptown"));
        var created = await owner.GetJsonAsync($"/api/clinics/{id}");
        Assert.Equal("Uptown", created.GetProperty("name").GetString());
        Assert.Equal("America/New_York", created.GetProperty("timeZone").GetString());
        Assert.Equal("USD", created.GetProperty("currency").GetString());
        Assert.Equal("10016", created.GetProperty("address").GetProperty("postalCode").GetString());
        Assert.Equal("(212) 555-0100", created.GetProperty("phone").GetString());
        Assert.False(created.GetProperty("showFullPatientNames").GetBoolean());
        Assert.Equal("Thank you for visiting.", created.GetProperty("receiptFooter").GetString());
        Assert.True(created.GetProperty("active").GetBoolean());

        var list = await owner.GetJsonAsync("/api/clinics");
        Assert.Equal(2, list.GetProperty("total").GetInt64());
        Assert.Contains(id, list.Ids());
        Assert.Equal(1, list.GetProperty("page").GetInt32());
        Assert.Equal(50, list.GetProperty("pageSize").GetInt32());

        var update = await owner.PutJsonAsync($"/api/clinics/{id}", new
        {
            name = "Uptown Glow",
            timeZone = "America/Los_Angeles",
            currency = "USD",
            showFullPatientNames = true,
            email = "glow@example.com",
        });
        Assert.Equal(HttpStatusCode.OK, update.StatusCode);
        var updated = await owner.GetJsonAsync($"/api/clinics/{id}");
        Assert.Equal("Uptown Glow", updated.GetProperty("name").GetString());
        Assert.Equal("America/Los_Angeles", updated.GetProperty("timeZone").GetString());
        Assert.True(updated.GetProperty("showFullPatientNames").GetBoolean());
        Assert.Equal(JsonValueKindNull, updated.GetProperty("address").ValueKind);
        Assert.True(updated.GetProperty("active").GetBoolean());

        Assert.Equal(HttpStatusCode.NoContent, (await owner.DeleteAsync($"/api/clinics/{id}")).StatusCode);
        Assert.False((await owner.GetJsonAsync($"/api/clinics/{id}")).GetProperty("active").GetBoolean());
        Assert.DoesNotContain(id, (await owner.GetJsonAsync("/api/clinics")).Ids());
        Assert.Contains(id, (await owner.GetJsonAsync("/api/clinics?includeInactive=true")).Ids());

        Assert.Equal(HttpStatusCode.NotFound, (await owner.GetAsync($"/api/clinics/{Guid.NewGuid()}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await owner.PutJsonAsync($"/api/clinics/{Guid.NewGuid()}", Clinic())).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await owner.DeleteAsync($"/api/clinics/{Guid.NewGuid()}")).StatusCode);
    }

    [Theory]
    [InlineData("provider")]
    [InlineData("front-desk")]
    public async Task Staff_see_only_their_assigned_clinics(string role)
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var other = await owner.CreateAsync("/api/clinics", Clinic("Downtown"));
        var otherRoom = await owner.CreateAsync($"/api/clinics/{other}/rooms", Room());
        var otherTax = await owner.CreateAsync($"/api/clinics/{other}/tax-rates", TaxRate());
        var staff = tenant.ClientFor(await tenant.CreateUserAsync(role, tenant.ClinicId));

        // Their own clinic is visible...
        Assert.Equal("Main clinic", (await staff.GetJsonAsync($"/api/clinics/{tenant.ClinicId}")).GetProperty("name").GetString());
        var list = await staff.GetJsonAsync("/api/clinics");
        Assert.Equal([tenant.ClinicId], list.Ids());
        Assert.Equal(1, list.GetProperty("total").GetInt64());

        // ...another clinic of the same tenant answers 404, like one that does not exist (and its nested lists too).
        foreach (var url in new[]
                 {
                     $"/api/clinics/{other}", $"/api/clinics/{other}/rooms", $"/api/clinics/{other}/rooms/{otherRoom}",
                     $"/api/clinics/{other}/tax-rates", $"/api/clinics/{other}/tax-rates/{otherTax}", $"/api/providers?clinicId={other}",
                 })
        {
            var response = await staff.GetAsync(url);
            Assert.True(response.StatusCode == HttpStatusCode.NotFound, $"{role} GET {url} → {(int)response.StatusCode}");
        }

        // An admin assigned to no clinic still sees every clinic of the tenant.
        var admin = tenant.ClientFor(await tenant.CreateUserAsync("admin", other));
        Assert.Equal(2, (await admin.GetJsonAsync("/api/clinics")).GetProperty("total").GetInt64());
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync($"/api/clinics/{tenant.ClinicId}/rooms")).StatusCode);
    }

    [Fact]
    public async Task Clinic_list_pages_with_a_total()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        foreach (var name in new[] { "B clinic", "C clinic", "D clinic", "E clinic" })
        {
            await owner.CreateAsync("/api/clinics", Clinic(name));
        }

        var first = await owner.GetJsonAsync("/api/clinics?page=1&pageSize=2");
        var third = await owner.GetJsonAsync("/api/clinics?page=3&pageSize=2");
        var beyond = await owner.GetJsonAsync("/api/clinics?page=4&pageSize=2");
        Assert.Equal(5, first.GetProperty("total").GetInt64());
        Assert.Equal(2, first.GetProperty("pageSize").GetInt32());
        Assert.Equal(["B clinic", "C clinic"], first.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("name").GetString()));
        Assert.Equal(["Main clinic"], third.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("name").GetString()));
        Assert.Equal(3, third.GetProperty("page").GetInt32());
        Assert.Empty(beyond.Ids());
        Assert.Equal(5, beyond.GetProperty("total").GetInt64());
    }

    private const System.Text.Json.JsonValueKind JsonValueKindNull = System.Text.Json.JsonValueKind.Null;
}
