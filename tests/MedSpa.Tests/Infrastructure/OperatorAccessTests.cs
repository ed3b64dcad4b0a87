using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MedSpa.Api.Infrastructure;
using MedSpa.Tests.Auth;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace MedSpa.Tests.Infrastructure;

/// <summary>
/// Cluster-wide views (the Orleans Dashboard, the cluster status) show every tenant's grains and requests: only the
/// platform operator, who belongs to no tenant, reaches them. Every role of a freshly signed-up organisation, and
/// anyone anonymous, gets 404 on every one of their routes.
/// </summary>
public sealed class OperatorAccessTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    /// <summary>Every operator-only route the server maps, with its parameters filled in.</summary>
    private List<string> OperatorRoutes()
    {
        var routes = factory.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<OperatorOnlyMetadata>() is not null)
            .Select(e => "/" + string.Join('/', e.RoutePattern.PathSegments.Select(s => string.Concat(s.Parts.Select(p => p switch
            {
                Microsoft.AspNetCore.Routing.Patterns.RoutePatternLiteralPart l => l.Content,
                Microsoft.AspNetCore.Routing.Patterns.RoutePatternParameterPart { Name: "page" } => "1",
                _ => "x",
            })))))
            .Distinct()
            .ToList();
        return routes;
    }

    private static object Signup(string email, string password) => new
    {
        name = "Fresh Start Aesthetics",
        slug = "fresh-" + Guid.NewGuid().ToString("N")[..10],
        owner = new { email, password, displayName = "Fresh Owner" },
        clinic = new { name = "Fresh Downtown", timeZone = "America/Chicago", currency = "USD" },
    };

    /// <summary>A new organisation signed up through the API, and a signed-in user of every role in it.</summary>
    private async Task<Dictionary<string, string>> SignedUpOrganisationTokensAsync()
    {
        var password = "pw-" + Guid.NewGuid().ToString("N");
        var signup = await factory.CreateClient().PostAsJsonAsync("/api/tenants", Signup($"owner-{Guid.NewGuid():N}@example.test", password));
        Assert.Equal(HttpStatusCode.Created, signup.StatusCode);
        var body = await signup.ReadJsonAsync();
        var ownerToken = body.GetProperty("tokens").Str("accessToken");
        var clinicId = body.GetProperty("clinicId").GetGuid();
        var owner = factory.CreateClient(ownerToken);
        var tokens = new Dictionary<string, string> { [Roles.Owner] = ownerToken };

        var patient = await owner.PostAsJsonAsync(
            "/api/patients", new { firstName = "Pat", lastName = "Ient", email = $"pat-{Guid.NewGuid():N}@example.test" });
        Assert.Equal(HttpStatusCode.Created, patient.StatusCode);
        var patientId = (await patient.ReadJsonAsync()).GetProperty("id").GetGuid();
        foreach (var role in new[] { Roles.Admin, Roles.Provider, Roles.FrontDesk, Roles.Patient })
        {
            var email = $"{role}-{Guid.NewGuid():N}@example.test";
            var created = await owner.PostAsJsonAsync("/api/users", new
            {
                email, displayName = role + " user", role, password, clinicIds = new[] { clinicId },
                patientId = role == Roles.Patient ? patientId : (Guid?)null,
            });
            Assert.True(created.StatusCode == HttpStatusCode.Created, $"{role}: {await created.Content.ReadAsStringAsync()}");
            tokens[role] = (await factory.CreateClient().LoginOkAsync(email, password)).Str("accessToken");
        }

        var link = await owner.PostAsJsonAsync($"/api/clinics/{clinicId}/display-links", new { name = "Lobby TV" });
        Assert.Equal(HttpStatusCode.Created, link.StatusCode);
        var display = await factory.CreateClient()
            .PostAsJsonAsync("/api/board/display-token", new { key = (await link.ReadJsonAsync()).Str("secret") });
        tokens[Roles.Display] = (await display.ReadJsonAsync()).Str("accessToken");
        Assert.Equal(Roles.All.Count, tokens.Count);
        return tokens;
    }

    [Fact]
    public async Task Every_role_of_a_freshly_signed_up_organisation_and_anonymous_callers_get_404_on_every_dashboard_and_cluster_route()
    {
        var routes = OperatorRoutes();
        // The dashboard's page, scripts and ~20 data routes, and the cluster status.
        Assert.Contains("/api/admin/cluster", routes);
        Assert.Contains("/dashboard/DashboardCounters", routes);
        Assert.Contains("/dashboard/Trace", routes);
        Assert.True(routes.Count(r => r.StartsWith("/dashboard", StringComparison.Ordinal)) >= 20, string.Join(", ", routes));
        var tokens = await SignedUpOrganisationTokensAsync();

        foreach (var route in routes)
        {
            foreach (var (role, token) in tokens)
            {
                using var asBearer = await factory.CreateClient(token).GetAsync(route);
                Assert.True(asBearer.StatusCode == HttpStatusCode.NotFound, $"{role} GET {route}: {(int)asBearer.StatusCode}");
                Assert.Empty(asBearer.Headers.WwwAuthenticate);

                // The tenant's token where the operator's browser carries its own: still nothing.
                using var asCookie = new HttpRequestMessage(HttpMethod.Get, route);
                asCookie.Headers.Add("Cookie", $"{PlatformOperator.CookieName}={token}");
                Assert.Equal(HttpStatusCode.NotFound, (await factory.CreateClient().SendAsync(asCookie)).StatusCode);
            }

            using var anonymous = await factory.CreateClient().GetAsync(route);
            Assert.True(anonymous.StatusCode == HttpStatusCode.NotFound, $"anonymous GET {route}: {(int)anonymous.StatusCode}");
        }

        // The refusal looks like any unknown path: same status, same problem code, no hint the route exists.
        var unknown = await (await factory.CreateClient().GetAsync("/api/admin/no-such-thing")).ReadJsonAsync();
        var hidden = await (await factory.CreateClient(tokens[Roles.Owner]).GetAsync("/api/admin/cluster")).ReadJsonAsync();
        Assert.Equal(unknown.Str("code"), hidden.Str("code"));
        Assert.Equal(unknown.Str("title"), hidden.Str("title"));
    }

    [Fact]
    public async Task The_operator_signs_in_with_the_configured_key_and_sees_the_dashboard_and_the_cluster()
    {
        using var operatorClient = await factory.CreateOperatorClientAsync();

        Assert.Equal(HttpStatusCode.OK, (await operatorClient.GetAsync("/api/admin/cluster")).StatusCode);
        var page = await operatorClient.GetAsync("/dashboard/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("<html", await page.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);

        // Its data API works in co-host mode: the collector sees this process's silo as active (filled in the background).
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var activeHosts = 0;
        while (activeHosts == 0 && DateTime.UtcNow < deadline)
        {
            var counters = await operatorClient.GetAsync("/dashboard/DashboardCounters");
            Assert.Equal(HttpStatusCode.OK, counters.StatusCode);
            activeHosts = (await counters.ReadJsonAsync()).GetProperty("totalActiveHostCount").GetInt32();
            if (activeHosts == 0)
            {
                await Task.Delay(200);
            }
        }

        Assert.Equal(1, activeHosts);
        // The Trace view (every log line of the cluster) is off.
        Assert.NotEqual(HttpStatusCode.OK, (await operatorClient.GetAsync("/dashboard/Trace")).StatusCode);
    }

    [Fact]
    public async Task A_browser_signs_in_on_the_operator_page_and_its_cookie_opens_the_dashboard_until_it_signs_out()
    {
        var browser = factory.CreateClient(); // keeps cookies, like a browser
        var signInPage = await browser.GetAsync(PlatformOperator.SignInPagePath);
        Assert.Equal(HttpStatusCode.OK, signInPage.StatusCode);
        Assert.Contains("type=\"password\"", await signInPage.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var session = await browser.PostAsJsonAsync(PlatformOperator.SessionPath, new { key = factory.OperatorKey });
        Assert.Equal(HttpStatusCode.OK, session.StatusCode);
        var cookie = Assert.Single(session.Headers.GetValues("Set-Cookie"));
        Assert.StartsWith(PlatformOperator.CookieName + "=", cookie, StringComparison.Ordinal);
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);

        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/dashboard/")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/dashboard/ClusterStats")).StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await browser.DeleteAsync(PlatformOperator.SessionPath)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await browser.GetAsync("/dashboard/")).StatusCode);
    }

    [Fact]
    public async Task A_wrong_key_is_refused_and_the_operator_token_opens_no_tenant_endpoint()
    {
        var wrong = await factory.CreateClient().PostAsJsonAsync(PlatformOperator.SessionPath, new { key = factory.OperatorKey + "x" });
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal("invalid_credentials", await wrong.ProblemCodeAsync());
        Assert.False(wrong.Headers.Contains("Set-Cookie"));
        var empty = await factory.CreateClient().PostAsJsonAsync(PlatformOperator.SessionPath, new { key = "" });
        Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);

        // The operator is no tenant user: its token is not an access token of the tenant API.
        using var operatorClient = await factory.CreateOperatorClientAsync();
        Assert.Equal(HttpStatusCode.Unauthorized, (await operatorClient.GetAsync("/api/auth/me")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await operatorClient.GetAsync("/api/users")).StatusCode);
    }

    [Fact]
    public void The_key_comparison_is_by_value()
    {
        Assert.True(PlatformOperator.KeyMatches("a-key-of-some-length-0123456789", "a-key-of-some-length-0123456789"));
        Assert.False(PlatformOperator.KeyMatches("a-key-of-some-length-0123456789", "a-key-of-some-length-012345678"));
        Assert.False(PlatformOperator.KeyMatches("", "a-key-of-some-length-0123456789"));
    }
}

/// <summary>Without <c>Operator:Key</c> there is no operator: the cluster views and the sign-in answer 404 to everyone.</summary>
public sealed class NoOperatorFactory : MedSpaApiFactory
{
    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?> { ["Operator:Key"] = "" };
}

public sealed class NoOperatorConfiguredTests(NoOperatorFactory factory) : IClassFixture<NoOperatorFactory>
{
    [Fact]
    public async Task Without_an_operator_key_the_cluster_views_and_the_operator_sign_in_are_404_for_everyone()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        Assert.Equal(
            HttpStatusCode.NotFound, (await factory.CreateClient().PostAsJsonAsync(PlatformOperator.SessionPath, new { key = "" })).StatusCode);
        Assert.Equal(
            HttpStatusCode.NotFound,
            (await factory.CreateClient().PostAsJsonAsync(PlatformOperator.SessionPath, new { key = new string('k', 40) })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await factory.CreateClient().GetAsync(PlatformOperator.SignInPagePath)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await tenant.ClientFor(tenant.Owner).GetAsync("/dashboard/")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await tenant.ClientFor(tenant.Owner).GetAsync("/api/admin/cluster")).StatusCode);
    }
}
