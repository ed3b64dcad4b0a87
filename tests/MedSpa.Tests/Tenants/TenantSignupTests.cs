using System.Net;
using System.Net.Http.Json;
using MedSpa.Api.Features.Tenants;
using MedSpa.Tests.Auth;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace MedSpa.Tests.Tenants;

public sealed class TenantSignupTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    private static object Signup(string slug, string email, string password = "owner-password-1") => new
    {
        name = "Radiant Skin Studio",
        slug,
        owner = new { email, password, displayName = "Riley Owner" },
        clinic = new { name = "Radiant Downtown", timeZone = "America/Chicago", currency = "USD" },
        device = new { id = "laptop", name = "Riley's laptop", fingerprint = "fp" },
    };

    private static string Slug() => "radiant-" + Guid.NewGuid().ToString("N")[..10];

    [Fact]
    public async Task Sign_up_creates_the_organisation_and_signs_the_owner_in()
    {
        var slug = Slug();
        var email = $"riley-{Guid.NewGuid():N}@example.test";

        var response = await factory.CreateClient().PostAsJsonAsync("/api/tenants", Signup(slug, email));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var body = await response.ReadJsonAsync();
        Assert.Equal(slug, body.Str("slug"));
        var tokens = body.GetProperty("tokens");
        Assert.Equal("owner", tokens.GetProperty("user").Str("role"));
        Assert.Equal(
            body.GetProperty("clinicId").GetGuid(), Assert.Single(tokens.GetProperty("user").GetProperty("clinicIds").EnumerateArray()).GetGuid());

        var me = await (await factory.CreateClient(tokens.Str("accessToken")).GetAsync("/api/auth/me")).ReadJsonAsync();
        Assert.Equal(slug, me.GetProperty("tenant").Str("slug"));
        Assert.Equal(HttpStatusCode.OK, (await factory.CreateClient().LoginAsync(email, "owner-password-1")).StatusCode);
        // The new owner manages their own organisation straight away.
        Assert.Equal(HttpStatusCode.OK, (await factory.CreateClient(tokens.Str("accessToken")).GetAsync("/api/users")).StatusCode);
    }

    [Fact]
    public async Task A_taken_slug_or_email_is_a_conflict_naming_the_field()
    {
        var slug = Slug();
        var email = $"first-{Guid.NewGuid():N}@example.test";
        Assert.Equal(HttpStatusCode.Created, (await factory.CreateClient().PostAsJsonAsync("/api/tenants", Signup(slug, email))).StatusCode);

        var sameSlug = await factory.CreateClient().PostAsJsonAsync("/api/tenants", Signup(slug, $"second-{Guid.NewGuid():N}@example.test"));
        Assert.Equal(HttpStatusCode.Conflict, sameSlug.StatusCode);
        Assert.Equal("conflict", await sameSlug.ProblemCodeAsync());
        Assert.Contains("slug", await sameSlug.ProblemFieldsAsync());

        var sameEmail = await factory.CreateClient().PostAsJsonAsync("/api/tenants", Signup(Slug(), email));
        Assert.Equal(HttpStatusCode.Conflict, sameEmail.StatusCode);
        Assert.Contains("owner.email", await sameEmail.ProblemFieldsAsync());
    }

    [Fact]
    public async Task Invalid_sign_up_names_the_fields_and_creates_nothing()
    {
        var provisioning = factory.Services.GetRequiredService<TenantProvisioning>();
        var response = await factory.CreateClient().PostAsJsonAsync("/api/tenants", new
        {
            name = "Bad",
            slug = "Not A Slug!",
            owner = new { email = "nope", password = "short", displayName = "" },
            clinic = new { name = "Somewhere", timeZone = "Mars/Olympus", currency = "dollars" },
        });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var fields = await response.ProblemFieldsAsync();
        foreach (var field in new[] { "slug", "owner.email", "owner.password", "owner.displayName", "clinic.timeZone", "clinic.currency" })
        {
            Assert.Contains(field, fields);
        }

        Assert.False(await provisioning.SlugExistsAsync("not a slug!"));
    }

    [Fact]
    public async Task The_provisioning_service_creates_a_tenant_whose_owner_can_sign_in()
    {
        var provisioning = factory.Services.GetRequiredService<TenantProvisioning>();
        var slug = Slug();
        var email = $"seeded-{Guid.NewGuid():N}@example.test";

        var created = await provisioning.CreateTenantAsync("Seeded Spa", slug, email, "seeded-password", "Sam Seeded",
            new ClinicSpec("Seeded Clinic", "Europe/London", "GBP"));

        Assert.True(await provisioning.SlugExistsAsync(slug));
        var login = await factory.CreateClient().LoginOkAsync(email, "seeded-password");
        Assert.Equal(created.TenantId, login.GetProperty("user").GetProperty("tenantId").GetGuid());
        Assert.Equal(created.OwnerUserId, login.GetProperty("user").GetProperty("id").GetGuid());

        var deskEmail = $"desk-{Guid.NewGuid():N}@example.test";
        var deskId = await provisioning.AddUserAsync(
            created.TenantId, deskEmail, "front-desk-password", "Fran Desk", "front-desk", [created.ClinicId]);
        var desk = await factory.CreateClient().LoginOkAsync(deskEmail, "front-desk-password");
        Assert.Equal(deskId, desk.GetProperty("user").GetProperty("id").GetGuid());
        Assert.Equal(created.ClinicId, Assert.Single(desk.GetProperty("user").GetProperty("clinicIds").EnumerateArray()).GetGuid());
        await Assert.ThrowsAsync<ProvisioningConflictException>(() =>
            provisioning.AddUserAsync(created.TenantId, deskEmail, "front-desk-password", "Again", "front-desk", []));

        await Assert.ThrowsAsync<ProvisioningConflictException>(() => provisioning.CreateTenantAsync(
            "Again", slug, $"other-{Guid.NewGuid():N}@example.test", "seeded-password", "Sam", new ClinicSpec("C", "Europe/London", "GBP")));
        await Assert.ThrowsAsync<ArgumentException>(() => provisioning.CreateTenantAsync(
            "Bad", Slug(), $"x-{Guid.NewGuid():N}@example.test", "short", "Sam", new ClinicSpec("C", "Europe/London", "GBP")));
    }
}

public sealed class SignupClosedTests(SignupClosedApiFactory factory) : IClassFixture<SignupClosedApiFactory>
{
    [Fact]
    public async Task Sign_up_can_be_switched_off()
    {
        var response = await factory.CreateClient().PostAsJsonAsync("/api/tenants", new
        {
            name = "Nope",
            slug = "nope-" + Guid.NewGuid().ToString("N")[..8],
            owner = new { email = $"n-{Guid.NewGuid():N}@example.test", password = "long-enough-pw", displayName = "N" },
            clinic = new { name = "N", timeZone = "America/Chicago", currency = "USD" },
        });

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("signup_disabled", await response.ProblemCodeAsync());
    }
}
