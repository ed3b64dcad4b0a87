using System.Net;
using System.Net.Http.Json;
using MedSpa.Tests.Auth;
using MedSpa.Tests.TestHost;

namespace MedSpa.Tests.Users;

public sealed class UserManagementTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    private static string NewEmail(string prefix) => $"{prefix}-{Guid.NewGuid():N}@example.test";

    [Fact]
    public async Task An_admin_creates_a_user_who_can_then_sign_in()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var admin = await tenant.CreateUserAsync("admin");
        var email = NewEmail("injector");

        var created = await tenant.ClientFor(admin).PostAsJsonAsync("/api/users", new
        {
            email,
            displayName = "Dana Injector",
            role = "provider",
            password = "correct horse battery",
            clinicIds = new[] { tenant.ClinicId },
        });

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var user = await created.ReadJsonAsync();
        var id = user.GetProperty("id").GetGuid();
        Assert.Equal($"/api/users/{id}", created.Headers.Location?.ToString());
        Assert.Equal("provider", user.Str("role"));
        Assert.Equal(tenant.ClinicId, Assert.Single(user.GetProperty("clinicIds").EnumerateArray()).GetGuid());
        Assert.True(user.GetProperty("active").GetBoolean());

        var fetched = await (await tenant.ClientFor(admin).GetAsync($"/api/users/{id}")).ReadJsonAsync();
        Assert.Equal(email, fetched.Str("email"));
        var list = (await (await tenant.ClientFor(admin).GetAsync("/api/users")).ReadJsonAsync()).GetProperty("items");
        Assert.Contains(list.EnumerateArray(), u => u.GetProperty("id").GetGuid() == id);

        var login = await factory.CreateClient().LoginOkAsync(email, "correct horse battery");
        Assert.Equal(tenant.TenantId, login.GetProperty("user").GetProperty("tenantId").GetGuid());
    }

    [Fact]
    public async Task Only_owners_create_promote_or_change_owners()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var admin = await tenant.CreateUserAsync("admin");
        var provider = await tenant.CreateUserAsync("provider");
        var asAdmin = tenant.ClientFor(admin);
        var asOwner = tenant.ClientFor(tenant.Owner);

        var createOwner = await asAdmin.PostAsJsonAsync("/api/users", new
        {
            email = NewEmail("owner2"), displayName = "Second owner", role = "owner", password = "long-enough-password",
        });
        Assert.Equal(HttpStatusCode.Forbidden, createOwner.StatusCode);
        Assert.Equal("forbidden", await createOwner.ProblemCodeAsync());

        Assert.Equal(HttpStatusCode.Forbidden, (await asAdmin.PatchAsJsonAsync($"/api/users/{provider.UserId}", new { role = "owner" })).StatusCode);
        Assert.Equal(
            HttpStatusCode.Forbidden,
            (await asAdmin.PatchAsJsonAsync($"/api/users/{tenant.Owner.UserId}", new { displayName = "Renamed" })).StatusCode);
        Assert.Equal(
            HttpStatusCode.Forbidden, (await asAdmin.PatchAsJsonAsync($"/api/users/{tenant.Owner.UserId}", new { active = false })).StatusCode);
        Assert.Equal(
            HttpStatusCode.Forbidden,
            (await asAdmin.PostAsJsonAsync($"/api/users/{tenant.Owner.UserId}/password", new { password = "taken-over-now" })).StatusCode);

        // An admin still manages everyone below owner.
        var demote = await asAdmin.PatchAsJsonAsync($"/api/users/{provider.UserId}", new { role = "front-desk", displayName = "Front desk Fran" });
        Assert.Equal(HttpStatusCode.OK, demote.StatusCode);
        Assert.Equal("front-desk", (await demote.ReadJsonAsync()).Str("role"));

        var promote = await asOwner.PatchAsJsonAsync($"/api/users/{admin.UserId}", new { role = "owner" });
        Assert.Equal(HttpStatusCode.OK, promote.StatusCode);
        Assert.Equal("owner", (await promote.ReadJsonAsync()).Str("role"));
    }

    [Fact]
    public async Task The_last_active_owner_cannot_be_demoted_or_deactivated()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var asOwner = tenant.ClientFor(tenant.Owner);

        var demote = await asOwner.PatchAsJsonAsync($"/api/users/{tenant.Owner.UserId}", new { role = "admin" });
        Assert.Equal(HttpStatusCode.Conflict, demote.StatusCode);
        Assert.Equal(
            HttpStatusCode.Conflict, (await asOwner.PatchAsJsonAsync($"/api/users/{tenant.Owner.UserId}", new { active = false })).StatusCode);

        var second = await tenant.CreateUserAsync("owner");
        Assert.Equal(HttpStatusCode.OK, (await asOwner.PatchAsJsonAsync($"/api/users/{second.UserId}", new { active = false })).StatusCode);
        Assert.Equal(
            HttpStatusCode.Conflict, (await asOwner.PatchAsJsonAsync($"/api/users/{tenant.Owner.UserId}", new { role = "admin" })).StatusCode);
    }

    [Fact]
    public async Task Validation_errors_name_the_field_and_change_nothing()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var other = await TestTenant.CreateAsync(factory);
        var asOwner = tenant.ClientFor(tenant.Owner);
        var email = NewEmail("bad");

        async Task<IReadOnlyList<string>> Fields(HttpResponseMessage r)
        {
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            Assert.Equal("validation_failed", await r.ProblemCodeAsync());
            return await r.ProblemFieldsAsync();
        }

        Assert.Contains(
            "password",
            await Fields(await asOwner.PostAsJsonAsync("/api/users", new { email, displayName = "A", role = "provider", password = "short" })));
        Assert.Contains(
            "email",
            await Fields(
                await asOwner.PostAsJsonAsync(
                    "/api/users", new { email = "not-an-email", displayName = "A", role = "provider", password = "long-enough-pw" })));
        Assert.Contains(
            "role",
            await Fields(
                await asOwner.PostAsJsonAsync("/api/users", new { email, displayName = "A", role = "janitor", password = "long-enough-pw" })));
        Assert.Contains(
            "displayName", await Fields(await asOwner.PostAsJsonAsync("/api/users", new { email, role = "provider", password = "long-enough-pw" })));
        // Another tenant's clinic is as unknown as a made-up one.
        Assert.Contains(
            "clinicIds",
            await Fields(
                await asOwner.PostAsJsonAsync(
                    "/api/users",
                    new { email, displayName = "A", role = "provider", password = "long-enough-pw", clinicIds = new[] { other.ClinicId } })));
        Assert.Contains(
            "clinicIds",
            await Fields(
                await asOwner.PostAsJsonAsync("/api/users", new { email, displayName = "Wall", role = "display", password = "long-enough-pw" })));

        var provider = await tenant.CreateUserAsync("provider");
        Assert.Contains(
            "clinicIds",
            await Fields(
                await asOwner.PatchAsJsonAsync($"/api/users/{provider.UserId}", new { clinicIds = new[] { tenant.ClinicId, Guid.NewGuid() } })));
        Assert.Contains("role", await Fields(await asOwner.PatchAsJsonAsync($"/api/users/{provider.UserId}", new { role = "superuser" })));
        Assert.Contains("password", await Fields(await asOwner.PostAsJsonAsync($"/api/users/{provider.UserId}/password", new { password = "123" })));

        // None of the rejected requests left a trace.
        var users = (await (await asOwner.GetAsync("/api/users")).ReadJsonAsync()).GetProperty("items");
        Assert.DoesNotContain(users.EnumerateArray(), u => u.Str("email") == email);
        var unchanged = await (await asOwner.GetAsync($"/api/users/{provider.UserId}")).ReadJsonAsync();
        Assert.Equal("provider", unchanged.Str("role"));
        Assert.Equal(tenant.ClinicId, Assert.Single(unchanged.GetProperty("clinicIds").EnumerateArray()).GetGuid());
    }

    [Fact]
    public async Task Emails_are_unique_across_the_deployment()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var other = await TestTenant.CreateAsync(factory);

        var response = await tenant.ClientFor(tenant.Owner).PostAsJsonAsync("/api/users", new
        {
            email = other.Owner.Email.ToUpperInvariant(), displayName = "Copycat", role = "provider", password = "long-enough-password",
        });

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Equal("conflict", await response.ProblemCodeAsync());
    }

    [Fact]
    public async Task Another_tenants_user_is_not_found()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var other = await TestTenant.CreateAsync(factory);
        var theirs = await other.CreateUserAsync("provider");
        var asOwner = tenant.ClientFor(tenant.Owner);

        var get = await asOwner.GetAsync($"/api/users/{theirs.UserId}");
        var missing = await asOwner.GetAsync($"/api/users/{Guid.NewGuid()}");
        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal((await missing.ReadJsonAsync()).Str("detail"), (await get.ReadJsonAsync()).Str("detail"));

        Assert.Equal(
            HttpStatusCode.NotFound, (await asOwner.PatchAsJsonAsync($"/api/users/{theirs.UserId}", new { displayName = "Hijacked" })).StatusCode);
        Assert.Equal(
            HttpStatusCode.NotFound,
            (await asOwner.PostAsJsonAsync($"/api/users/{theirs.UserId}/password", new { password = "hijacked-password" })).StatusCode);
        var theirView = await (await other.ClientFor(other.Owner).GetAsync($"/api/users/{theirs.UserId}")).ReadJsonAsync();
        Assert.Equal("provider user", theirView.Str("displayName"));
        Assert.DoesNotContain(
            (await (await asOwner.GetAsync("/api/users")).ReadJsonAsync()).GetProperty("items").EnumerateArray(), u =>
                u.GetProperty("id").GetGuid() == theirs.UserId);
    }

    [Theory]
    [InlineData("provider")]
    [InlineData("front-desk")]
    [InlineData("patient")]
    [InlineData("display")]
    public async Task Only_owners_and_admins_reach_user_management(string role)
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var user = await tenant.CreateUserAsync(role);
        var client = tenant.ClientFor(user);

        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync("/api/users")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync($"/api/users/{user.UserId}")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await client.PatchAsJsonAsync($"/api/users/{user.UserId}", new { role = "admin" })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/auth/me")).StatusCode);
    }

    [Fact]
    public async Task Deactivating_a_user_ends_their_sessions_and_sign_in()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var user = await tenant.CreateUserWithPasswordAsync("front-desk");
        var client = factory.CreateClient();
        var session = await client.LoginOkAsync(user.Email, user.Password!);

        var deactivate = await tenant.ClientFor(tenant.Owner).PatchAsJsonAsync($"/api/users/{user.UserId}", new { active = false });
        Assert.Equal(HttpStatusCode.OK, deactivate.StatusCode);
        Assert.False((await deactivate.ReadJsonAsync()).GetProperty("active").GetBoolean());

        Assert.Equal(HttpStatusCode.Unauthorized, (await client.RefreshAsync(session.Str("refreshToken"))).StatusCode);
        var login = await client.LoginAsync(user.Email, user.Password);
        Assert.Equal("invalid_credentials", await login.ProblemCodeAsync());

        Assert.Equal(
            HttpStatusCode.OK,
            (await tenant.ClientFor(tenant.Owner).PatchAsJsonAsync($"/api/users/{user.UserId}", new { active = true })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.LoginAsync(user.Email, user.Password)).StatusCode);
    }

    [Fact]
    public async Task A_deactivated_users_live_session_cannot_refresh()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var user = await tenant.CreateUserWithPasswordAsync("provider");
        var client = factory.CreateClient();
        var session = await client.LoginOkAsync(user.Email, user.Password!);

        // Deactivated behind the API's back: refresh re-reads the user rather than trusting the session.
        await using (var conn = new Npgsql.NpgsqlConnection(factory.ConnectionString))
        {
            await conn.OpenAsync();
            await using var cmd = new Npgsql.NpgsqlCommand("UPDATE users SET is_active = false WHERE id = @id", conn);
            cmd.Parameters.AddWithValue("id", user.UserId);
            await cmd.ExecuteNonQueryAsync();
        }

        var refresh = await client.RefreshAsync(session.Str("refreshToken"));
        Assert.Equal(HttpStatusCode.Unauthorized, refresh.StatusCode);
        Assert.Equal("invalid_refresh_token", await refresh.ProblemCodeAsync());
    }

    [Fact]
    public async Task An_admin_resets_a_password_and_the_user_is_signed_out()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var admin = await tenant.CreateUserAsync("admin");
        var user = await tenant.CreateUserWithPasswordAsync("provider");
        var client = factory.CreateClient();
        var session = await client.LoginOkAsync(user.Email, user.Password!);

        var reset = await tenant.ClientFor(admin).PostAsJsonAsync($"/api/users/{user.UserId}/password", new { password = "brand-new-password" });

        Assert.Equal(HttpStatusCode.NoContent, reset.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.RefreshAsync(session.Str("refreshToken"))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.LoginAsync(user.Email, user.Password)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.LoginAsync(user.Email, "brand-new-password")).StatusCode);
    }

    [Fact]
    public async Task Changing_your_own_password_needs_the_current_one_and_signs_out_other_devices()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var user = await tenant.CreateUserWithPasswordAsync("provider");
        var client = factory.CreateClient();
        var here = await client.LoginOkAsync(user.Email, user.Password!, deviceId: "here");
        var elsewhere = await client.LoginOkAsync(user.Email, user.Password!, deviceId: "elsewhere");
        var signedIn = factory.CreateClient(here.Str("accessToken"));

        var wrong = await signedIn.PostAsJsonAsync(
            "/api/auth/password", new { currentPassword = "not-it-at-all", newPassword = "another-long-password" });
        Assert.Equal(HttpStatusCode.BadRequest, wrong.StatusCode);
        Assert.Contains("currentPassword", await wrong.ProblemFieldsAsync());
        var tooShort = await signedIn.PostAsJsonAsync("/api/auth/password", new { currentPassword = user.Password, newPassword = "short" });
        Assert.Contains("newPassword", await tooShort.ProblemFieldsAsync());

        var change = await signedIn.PostAsJsonAsync(
            "/api/auth/password", new { currentPassword = user.Password, newPassword = "another-long-password" });
        Assert.Equal(HttpStatusCode.NoContent, change.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.RefreshAsync(elsewhere.Str("refreshToken"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.RefreshAsync(here.Str("refreshToken"))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.LoginAsync(user.Email, user.Password)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.LoginAsync(user.Email, "another-long-password")).StatusCode);
    }
}
