using System.Net;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.ReferenceData.ReferenceDataRequests;

namespace MedSpa.Tests.Providers;

public sealed class ProvidersTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task Provider_round_trip_with_a_linked_user()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var login = await tenant.CreateUserAsync("provider");

        var id = await owner.CreateAsync("/api/providers", Provider(tenant.ClinicId, userId: login.UserId));
        var got = await owner.GetJsonAsync($"/api/providers/{id}");
        Assert.Equal(login.UserId, got.GetProperty("userId").GetGuid());
        Assert.Equal("Ana Rivera", got.GetProperty("displayName").GetString());
        Assert.Equal("np", got.GetProperty("title").GetString());
        Assert.Equal("MSN, FNP-C", got.GetProperty("credentials").GetString());
        Assert.Equal("NP-12345", got.GetProperty("licenseNumber").GetString());
        Assert.Equal(["neurotoxin", "filler"], got.GetProperty("specialties").EnumerateArray().Select(s => s.GetString()));
        Assert.Equal("#7c3aed", got.GetProperty("color").GetString());
        Assert.Equal([tenant.ClinicId], got.GetProperty("clinicIds").EnumerateArray().Select(c => c.GetGuid()));

        // A provider without a login, at a second clinic.
        var second = await owner.CreateAsync("/api/clinics", Clinic("Second"));
        var visiting = await owner.CreateAsync("/api/providers", new
        {
            firstName = "Paul",
            lastName = "Okafor",
            displayName = "Dr. Okafor",
            title = "md",
            color = "#0EA5E9",
            clinicIds = new[] { second },
        });
        Assert.Equal(JsonNull, (await owner.GetJsonAsync($"/api/providers/{visiting}")).GetProperty("userId").ValueKind);

        Assert.Equal(2, (await owner.GetJsonAsync("/api/providers")).GetProperty("total").GetInt64());
        Assert.Equal([id], (await owner.GetJsonAsync($"/api/providers?clinicId={tenant.ClinicId}")).Ids());
        Assert.Equal([visiting], (await owner.GetJsonAsync($"/api/providers?clinicId={second}")).Ids());

        var update = await owner.PutJsonAsync($"/api/providers/{visiting}", new
        {
            firstName = "Paul",
            lastName = "Okafor",
            title = "do",
            color = "#0ea5e9",
            clinicIds = new[] { second, tenant.ClinicId },
            specialties = new[] { "sculptra" },
        });
        Assert.Equal(HttpStatusCode.OK, update.StatusCode);
        var updated = await owner.GetJsonAsync($"/api/providers/{visiting}");
        Assert.Equal("do", updated.GetProperty("title").GetString());
        Assert.Equal("Paul Okafor", updated.GetProperty("displayName").GetString());
        Assert.Equal(2, (await owner.GetJsonAsync($"/api/providers?clinicId={tenant.ClinicId}")).GetProperty("total").GetInt64());

        // Staff read providers; the provider themself cannot edit the roster.
        var self = tenant.ClientFor(login);
        Assert.Equal(HttpStatusCode.OK, (await self.GetAsync($"/api/providers/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await self.PutJsonAsync($"/api/providers/{id}", Provider(tenant.ClinicId))).StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await owner.DeleteAsync($"/api/providers/{visiting}")).StatusCode);
        Assert.False((await owner.GetJsonAsync($"/api/providers/{visiting}")).GetProperty("active").GetBoolean());
        Assert.Equal([id], (await owner.GetJsonAsync("/api/providers")).Ids());
    }

    [Fact]
    public async Task A_user_has_at_most_one_provider_profile_and_only_from_their_own_tenant()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var login = await tenant.CreateUserAsync("provider");
        await owner.CreateAsync("/api/providers", Provider(tenant.ClinicId, userId: login.UserId));

        var again = await owner.PostJsonAsync("/api/providers", Provider(tenant.ClinicId, "Second", userId: login.UserId));
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);

        var foreign = await TestTenant.CreateAsync(factory);
        var foreignUser = await foreign.CreateUserAsync("provider");
        var linkForeign = await owner.PostJsonAsync("/api/providers", Provider(tenant.ClinicId, "Foreign", userId: foreignUser.UserId));
        Assert.Equal(HttpStatusCode.BadRequest, linkForeign.StatusCode);
        Assert.True((await linkForeign.ReadJsonAsync()).GetProperty("errors").TryGetProperty("userId", out _));

        var foreignClinic = await owner.PostJsonAsync("/api/providers", Provider(foreign.ClinicId, "Foreign"));
        Assert.Equal(HttpStatusCode.BadRequest, foreignClinic.StatusCode);
        Assert.True((await foreignClinic.ReadJsonAsync()).GetProperty("errors").TryGetProperty("clinicIds", out _));

        Assert.Equal(1, (await owner.GetJsonAsync("/api/providers?includeInactive=true")).GetProperty("total").GetInt64());
    }

    private const System.Text.Json.JsonValueKind JsonNull = System.Text.Json.JsonValueKind.Null;
}
