using System.Net;
using System.Net.Http.Json;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.Packages.Definitions.PackageDefinitionWorld;
using static MedSpa.Tests.ReferenceData.ReferenceDataRequests;

namespace MedSpa.Tests.Packages.Definitions;

/// <summary>
/// Two admins (or two browser tabs) on the same draft, and a retried create: the steps are read-modify-write of one
/// row, so each must not undo another saved at the same moment, and a create retried with its Idempotency-Key makes
/// one definition.
/// </summary>
public sealed class PackageDefinitionConcurrencyTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task Steps_saved_at_the_same_moment_all_survive()
    {
        var world = await PackageDefinitionWorld.CreateAsync(factory);
        var admin = world.Tenant.ClientFor(await world.Tenant.CreateUserAsync("admin"));

        for (var round = 0; round < 5; round++)
        {
            var id = await world.Owner.CreateAsync("/api/package-definitions", Basics($"Round {round}"));
            var calls = new[]
            {
                world.Owner.PutJsonAsync($"/api/package-definitions/{id}/services", world.Services()),
                admin.PutJsonAsync($"/api/package-definitions/{id}/pricing", Pricing(price: 500_00 + round)),
                world.Owner.PutJsonAsync($"/api/package-definitions/{id}/restrictions", world.Restrictions()),
            };
            foreach (var response in await Task.WhenAll(calls))
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            var terms = (await world.Owner.GetJsonAsync($"/api/package-definitions/{id}")).GetProperty("terms");
            Assert.Equal(world.HydraFacial, Assert.Single(terms.GetProperty("services").EnumerateArray()).GetProperty("serviceId").GetGuid());
            Assert.Equal(500_00 + round, terms.GetProperty("price").GetProperty("amount").GetInt64());
            Assert.Equal(2, terms.GetProperty("maxMembers").GetInt32());
            Assert.Equal("restrictions", (await world.Owner.GetJsonAsync($"/api/package-definitions/{id}")).GetProperty("draftStep").GetString());
        }
    }

    [Fact]
    public async Task A_create_retried_with_its_key_makes_one_definition()
    {
        var world = await PackageDefinitionWorld.CreateAsync(factory);
        var key = "package-" + Guid.NewGuid().ToString("N");

        var first = await PostAsync(world.Owner, "/api/package-definitions", key, Basics("Glow x3"));
        var replay = await PostAsync(world.Owner, "/api/package-definitions", key, Basics("Glow x3"));
        var copy = await PostAsync(world.Owner, "/api/package-templates/botox-bank/copy", "copy-" + key, new { });
        var copyReplay = await PostAsync(world.Owner, "/api/package-templates/botox-bank/copy", "copy-" + key, new { });

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, replay.StatusCode);
        Assert.Equal("true", replay.Headers.GetValues("Idempotency-Replayed").Single());
        Assert.Equal((await first.ReadJsonAsync()).GetProperty("id").GetGuid(), (await replay.ReadJsonAsync()).GetProperty("id").GetGuid());
        Assert.Equal((await copy.ReadJsonAsync()).GetProperty("id").GetGuid(), (await copyReplay.ReadJsonAsync()).GetProperty("id").GetGuid());
        Assert.Equal(2, (await world.Owner.GetJsonAsync("/api/package-definitions?status=draft")).GetProperty("total").GetInt64());
    }

    private static Task<HttpResponseMessage> PostAsync(HttpClient client, string url, string key, object body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = JsonContent.Create(body, options: MedSpaApiFactory.Json) };
        request.Headers.Add("Idempotency-Key", key);
        return client.SendAsync(request);
    }
}
