using System.Net;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.ReferenceData.ReferenceDataRequests;

namespace MedSpa.Tests.Patients;

public sealed class PatientsTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task Patient_round_trip_create_get_update_archive()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));

        var id = await desk.CreateAsync("/api/patients", Patient(preferredClinicId: tenant.ClinicId));
        var got = await desk.GetJsonAsync($"/api/patients/{id}");
        Assert.Equal("Sophia", got.GetProperty("firstName").GetString());
        Assert.Equal("Martinez", got.GetProperty("lastName").GetString());
        Assert.Equal("1988-03-14", got.GetProperty("dateOfBirth").GetString());
        Assert.Equal("female", got.GetProperty("sex").GetString());
        Assert.Equal("(212) 555-0101", got.GetProperty("phone").GetString());
        Assert.Equal("New York", got.GetProperty("address").GetProperty("city").GetString());
        Assert.Equal(["Lidocaine"], got.GetProperty("allergies").EnumerateArray().Select(a => a.GetString()));
        Assert.True(got.GetProperty("marketingConsent").GetBoolean());
        var consentAt = got.GetProperty("marketingConsentAt").GetDateTimeOffset();
        Assert.Equal(tenant.ClinicId, got.GetProperty("preferredClinicId").GetGuid());

        var update = await desk.PutJsonAsync($"/api/patients/{id}", new
        {
            firstName = "Sophia",
            lastName = "Martinez-Lopez",
            preferredName = "Sophie",
            dateOfBirth = "1988-03-14",
            email = "sophie@example.com",
            phone = "+1 (646) 555-0199",
            allergies = new[] { "Lidocaine", "Latex" },
            medicalAlerts = new[] { "Pregnant" },
            marketingConsent = true,
        });
        Assert.Equal(HttpStatusCode.OK, update.StatusCode);
        var updated = await desk.GetJsonAsync($"/api/patients/{id}");
        Assert.Equal("Martinez-Lopez", updated.GetProperty("lastName").GetString());
        Assert.Equal("Sophie", updated.GetProperty("preferredName").GetString());
        Assert.Equal(["Lidocaine", "Latex"], updated.GetProperty("allergies").EnumerateArray().Select(a => a.GetString()));
        Assert.Equal(["Pregnant"], updated.GetProperty("medicalAlerts").EnumerateArray().Select(a => a.GetString()));
        // The opt-in time is when consent was first given, not the time of every later edit.
        Assert.Equal(consentAt, updated.GetProperty("marketingConsentAt").GetDateTimeOffset());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, updated.GetProperty("address").ValueKind);

        var optOut = await desk.PutJsonAsync(
            $"/api/patients/{id}", new { firstName = "Sophia", lastName = "Martinez-Lopez", marketingConsent = false });
        Assert.Equal(HttpStatusCode.OK, optOut.StatusCode);
        Assert.Equal(System.Text.Json.JsonValueKind.Null, (await optOut.ReadJsonAsync()).GetProperty("marketingConsentAt").ValueKind);

        // Providers read the directory but do not edit it.
        var provider = tenant.ClientFor(await tenant.CreateUserAsync("provider"));
        Assert.Equal(HttpStatusCode.OK, (await provider.GetAsync($"/api/patients/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await provider.PutJsonAsync($"/api/patients/{id}", Patient())).StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await desk.DeleteAsync($"/api/patients/{id}")).StatusCode);
        Assert.False((await desk.GetJsonAsync($"/api/patients/{id}")).GetProperty("active").GetBoolean());
        Assert.Empty((await desk.GetJsonAsync("/api/patients")).Ids());
        Assert.Equal([id], (await desk.GetJsonAsync("/api/patients?includeInactive=true")).Ids());
        Assert.Equal(HttpStatusCode.NotFound, (await desk.GetAsync($"/api/patients/{Guid.NewGuid()}")).StatusCode);
    }

    public static TheoryData<string, string[]> Searches => new()
    {
        // Partial and case-insensitive on names.
        { "q=mart", ["Martinez", "Martin"] },
        { "q=MARTINEZ", ["Martinez"] },
        { "q=sophia%20mart", ["Martinez"] },
        { "q=bella", ["Brown"] },               // preferred name
        { "name=chen", ["Chen"] },
        { "name=O'Br", ["O'Brien"] },
        // Email: partial, case-insensitive.
        { "q=EMMA.J", ["Johnson"] },
        { "email=example.org", ["Chen"] },
        // Phone: digits only, whatever the punctuation on either side.
        { "phone=555-0101", ["Martinez"] },
        { "phone=2125550101", ["Martinez"] },
        { "phone=(212)%20555", ["Martinez", "Johnson"] },
        { "q=555.0104", ["Brown"] },
        // Filters combine with AND.
        { "name=mart&phone=0102", ["Martin"] },
        // Wildcards are literal; nothing matches.
        { "q=%25", [] },
        { "q=_", [] },
        { "q=nobody", [] },
        { "", ["Brown", "Chen", "Johnson", "Martin", "Martinez", "O'Brien"] },
    };

    [Theory]
    [MemberData(nameof(Searches))]
    public async Task Search_finds_by_name_email_and_phone(string query, string[] expectedLastNames)
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        await desk.CreateAsync("/api/patients", Patient("Sophia", "Martinez", "sophia.m@example.com", "(212) 555-0101"));
        await desk.CreateAsync("/api/patients", Patient("Emma", "Johnson", "emma.johnson@example.com", "212-555-0103"));
        await desk.CreateAsync("/api/patients", Patient("Olivia", "Chen", "olivia@example.org", null));
        await desk.CreateAsync("/api/patients", new { firstName = "Isabella", lastName = "Brown", preferredName = "Bella", phone = "646.555.0104" });
        await desk.CreateAsync("/api/patients", Patient("Luis", "Martin", null, "718 555 0102"));
        await desk.CreateAsync("/api/patients", Patient("Evelyn", "O'Brien", "evie@example.com", null));
        var archived = await desk.CreateAsync("/api/patients", Patient("Sophia", "Martinelli", "gone@example.com", "(212) 555-0101"));
        Assert.Equal(HttpStatusCode.NoContent, (await desk.DeleteAsync($"/api/patients/{archived}")).StatusCode);

        var page = await desk.GetJsonAsync("/api/patients?" + query);
        var lastNames = page.GetProperty("items").EnumerateArray().Select(p => p.GetProperty("lastName").GetString()!).ToList();
        Assert.Equal(expectedLastNames.Order(StringComparer.OrdinalIgnoreCase), lastNames);
        Assert.Equal(expectedLastNames.Length, page.GetProperty("total").GetInt64());
    }

    [Fact]
    public async Task Search_pages_through_results_with_a_total()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        for (var i = 0; i < 7; i++)
        {
            await owner.CreateAsync("/api/patients", Patient("Pat", $"Smith{i}", null, $"212-555-01{i:00}"));
        }

        await owner.CreateAsync("/api/patients", Patient("Other", "Person", null, null));

        var seen = new List<string>();
        for (var page = 1; page <= 3; page++)
        {
            var result = await owner.GetJsonAsync($"/api/patients?q=smith&page={page}&pageSize=3");
            Assert.Equal(7, result.GetProperty("total").GetInt64());
            Assert.Equal(page, result.GetProperty("page").GetInt32());
            Assert.Equal(3, result.GetProperty("pageSize").GetInt32());
            seen.AddRange(result.GetProperty("items").EnumerateArray().Select(p => p.GetProperty("lastName").GetString()!));
        }

        Assert.Equal(Enumerable.Range(0, 7).Select(i => $"Smith{i}"), seen);
        var all = await owner.GetJsonAsync("/api/patients?pageSize=100");
        Assert.Equal(8, all.GetProperty("total").GetInt64());
        Assert.Equal(8, all.GetProperty("items").GetArrayLength());
    }
}
