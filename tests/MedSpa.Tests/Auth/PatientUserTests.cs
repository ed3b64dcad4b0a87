using System.Net;
using System.Net.Http.Json;
using MedSpa.Tests.TestHost;

namespace MedSpa.Tests.Auth;

/// <summary>A patient sign-in is created linked to their row in the patients directory, and only that link opens
/// their own records.</summary>
public sealed class PatientUserTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task A_patient_user_is_linked_to_their_patient_and_reaches_only_their_own_cards()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var mine = await CreatePatientAsync(owner, "Jane", "Doe");
        var someoneElse = await CreatePatientAsync(owner, "John", "Roe");
        var email = $"jane-{Guid.NewGuid():N}@example.test";

        var created = await owner.PostAsJsonAsync("/api/users", new
        {
            email, displayName = "Jane Doe", role = "patient", password = "a long patient password", patientId = mine,
        });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal(mine, (await created.ReadJsonAsync()).GetProperty("patientId").GetGuid());

        var login = await factory.CreateClient().LoginOkAsync(email, "a long patient password");
        var asPatient = factory.CreateClient(login.Str("accessToken"));
        Assert.Equal(HttpStatusCode.OK, (await asPatient.GetAsync($"/api/patients/{mine}/cards")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await asPatient.GetAsync($"/api/patients/{someoneElse}/cards")).StatusCode);
    }

    [Fact]
    public async Task A_patient_user_needs_a_patient_of_the_tenant_and_staff_users_take_none()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var other = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var mine = await CreatePatientAsync(owner, "Ana", "Lee");
        var foreign = await CreatePatientAsync(other.ClientFor(other.Owner), "Foreign", "Patient");

        async Task AssertRefusedAsync(string role, Guid? patientId)
        {
            var response = await owner.PostAsJsonAsync("/api/users", new
            {
                email = $"u-{Guid.NewGuid():N}@example.test", displayName = "Someone", role, password = "a long enough password",
                patientId, clinicIds = new[] { tenant.ClinicId },
            });
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains("patientId", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        await AssertRefusedAsync("patient", null);
        await AssertRefusedAsync("patient", Guid.NewGuid());
        await AssertRefusedAsync("patient", foreign);
        await AssertRefusedAsync("front-desk", mine);

        var users = (await (await owner.GetAsync("/api/users")).ReadJsonAsync()).GetProperty("items");
        Assert.Single(users.EnumerateArray()); // only the owner: nothing was created by the refused requests
    }

    private static async Task<Guid> CreatePatientAsync(HttpClient client, string first, string last)
    {
        var response = await client.PostAsJsonAsync("/api/patients", new { firstName = first, lastName = last });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.ReadJsonAsync()).GetProperty("id").GetGuid();
    }
}
