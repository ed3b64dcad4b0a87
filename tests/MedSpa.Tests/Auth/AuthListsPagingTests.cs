using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MedSpa.Tests.TestHost;

namespace MedSpa.Tests.Auth;

/// <summary>Issue 12 §9: the users, sessions and display-link lists answer the paged shape every other list uses.</summary>
public sealed class AuthListsPagingTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task Users_are_listed_in_pages_with_the_total()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        for (var i = 0; i < 4; i++) await tenant.CreateUserAsync("provider");
        var owner = tenant.ClientFor(tenant.Owner);

        var first = await PageAsync(owner, "/api/users?pageSize=2");
        var third = await PageAsync(owner, "/api/users?page=3&pageSize=2");

        Assert.Equal(5, first.GetProperty("total").GetInt64());
        Assert.Equal(1, first.GetProperty("page").GetInt32());
        Assert.Equal(2, first.GetProperty("pageSize").GetInt32());
        Assert.Equal(2, first.GetProperty("items").GetArrayLength());
        Assert.Equal(1, third.GetProperty("items").GetArrayLength());
        var all = new List<Guid>();
        for (var page = 1; page <= 3; page++)
        {
            all.AddRange(
                (await PageAsync(owner, $"/api/users?page={page}&pageSize=2"))
                .GetProperty("items").EnumerateArray().Select(u => u.GetProperty("id").GetGuid()));
        }

        Assert.Equal(5, all.Distinct().Count());
        Assert.Contains(tenant.Owner.UserId, all);
        await AssertBadPageSizeAsync(owner, "/api/users?pageSize=0");
        await AssertBadPageSizeAsync(owner, "/api/users?pageSize=101");
    }

    [Fact]
    public async Task Sessions_are_listed_in_pages_with_the_total()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var user = await tenant.CreateUserWithPasswordAsync("front-desk");
        var anonymous = factory.CreateClient();
        JsonElement login = default;
        for (var i = 0; i < 3; i++) login = await anonymous.LoginOkAsync(user.Email, user.Password!, deviceId: "device-" + i);
        var client = factory.CreateClient(login.Str("accessToken"));

        var page = await PageAsync(client, "/api/auth/sessions?pageSize=2");
        Assert.Equal(3, page.GetProperty("total").GetInt64());
        Assert.Equal(2, page.GetProperty("items").GetArrayLength());
        Assert.Single((await PageAsync(client, "/api/auth/sessions?page=2&pageSize=2")).GetProperty("items").EnumerateArray());
        await AssertBadPageSizeAsync(client, "/api/auth/sessions?pageSize=1000");
    }

    [Fact]
    public async Task Display_links_are_listed_in_pages_with_the_total()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        for (var i = 0; i < 3; i++)
        {
            var created = await owner.PostAsJsonAsync(
                $"/api/clinics/{tenant.ClinicId}/display-links", new { name = "TV " + i }, MedSpaApiFactory.Json);
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        var page = await PageAsync(owner, $"/api/clinics/{tenant.ClinicId}/display-links?pageSize=2");
        Assert.Equal(3, page.GetProperty("total").GetInt64());
        Assert.Equal(["TV 0", "TV 1"], page.GetProperty("items").EnumerateArray().Select(l => l.Str("name")));
        Assert.All(page.GetProperty("items").EnumerateArray(), l => Assert.Equal(JsonValueKind.Null, l.GetProperty("secret").ValueKind));
        await AssertBadPageSizeAsync(owner, $"/api/clinics/{tenant.ClinicId}/display-links?page=0");
    }

    private static async Task<JsonElement> PageAsync(HttpClient client, string url)
    {
        var response = await client.GetAsync(url);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.ReadJsonAsync();
        Assert.Equal(JsonValueKind.Object, body.ValueKind);
        return body;
    }

    private static async Task AssertBadPageSizeAsync(HttpClient client, string url)
    {
        var response = await client.GetAsync(url);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("validation_failed", await response.ProblemCodeAsync());
    }
}
