using System.Net;
using MedSpa.Tests.TestHost;

namespace MedSpa.Tests.Infrastructure;

public sealed class ConventionsTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task OpenApi_document_is_served()
    {
        var response = await factory.CreateClient().GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var doc = await response.ReadJsonAsync();
        Assert.Equal("MedSpa.Orleans API", doc.GetProperty("info").GetProperty("title").GetString());
    }

    [Fact]
    public async Task Unknown_route_is_a_problem_with_a_code()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var response = await tenant.ClientFor(tenant.Owner).GetAsync("/api/no-such-thing");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.ReadJsonAsync();
        Assert.Equal("not_found", problem.GetProperty("code").GetString());
    }
}
