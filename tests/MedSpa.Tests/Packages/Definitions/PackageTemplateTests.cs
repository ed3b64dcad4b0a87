using System.Net;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.Packages.Definitions.PackageDefinitionWorld;
using static MedSpa.Tests.ReferenceData.ReferenceDataRequests;

namespace MedSpa.Tests.Packages.Definitions;

/// <summary>The template library: listed with a preview, copied into a draft matched against the tenant's catalog.</summary>
public sealed class PackageTemplateTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task Library_lists_every_template_with_its_preview()
    {
        var world = await PackageDefinitionWorld.CreateAsync(factory);

        var templates = (await world.Owner.GetJsonAsync("/api/package-templates")).EnumerateArray().ToList();

        var keys = templates.Select(t => t.GetProperty("key").GetString()).ToList();
        Assert.Contains("botox-bank", keys);
        Assert.Contains("hydrafacial-x3", keys);
        Assert.Contains("laser-buy-5-get-1", keys);
        Assert.Contains("spend-2000-free-hydrafacial", keys);
        Assert.Contains("laser-pay-as-you-go", keys);
        string[] types = ["standard", "wallet", "buy-get-free", "multi-service", "threshold", "no-upfront"];
        Assert.Equal(types.Order(), templates.Select(t => t.GetProperty("type").GetString()!).Distinct().Order());
        var bank = templates.Single(t => t.GetProperty("key").GetString() == "botox-bank");
        Assert.Equal("Botox bank $1,000 for $900", bank.GetProperty("title").GetString());
        Assert.Equal("You save $100 (10%)", bank.GetProperty("preview").GetProperty("savingsText").GetString());
    }

    [Fact]
    public async Task Copy_matches_the_tenants_services_and_publishes()
    {
        var world = await PackageDefinitionWorld.CreateAsync(factory);
        var dysport = await world.Owner.CreateAsync("/api/services", Service("Dysport", price: 5_00));

        var response = await world.Owner.PostJsonAsync("/api/package-templates/botox-bank/copy", new { });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var draft = await response.ReadJsonAsync();
        var id = draft.GetProperty("id").GetGuid();

        Assert.True(draft.GetProperty("draft").GetBoolean());
        Assert.Equal("botox-bank", draft.GetProperty("templateKey").GetString());
        Assert.Equal("wallet", draft.GetProperty("type").GetString());
        Assert.Equal("Botox bank $1,000 for $900", draft.GetProperty("name").GetString());
        var services = draft.GetProperty("terms").GetProperty("services").EnumerateArray().Select(s => s.GetProperty("serviceId").GetGuid()).ToList();
        Assert.Equal([world.Botox, dysport], services);
        Assert.Equal(1_000_00, draft.GetProperty("terms").GetProperty("creditValue").GetProperty("amount").GetInt64());

        // The clinic edits its copy, then publishes it.
        await OkAsync(world.Owner.PutJsonAsync($"/api/package-definitions/{id}/basics", Basics("Our Botox bank", "wallet")));
        var published = await OkAsync(world.Owner.PostAsync($"/api/package-definitions/{id}/publish", null));
        Assert.Equal("active", published.GetProperty("status").GetString());
        var preview = await world.Owner.GetJsonAsync($"/api/package-definitions/{id}/preview");
        Assert.Equal("$1,000 to spend on Botox, Dysport", preview.GetProperty("included")[0].GetString());
    }

    [Fact]
    public async Task Copy_without_matching_services_leaves_the_services_step_to_the_admin()
    {
        var world = await PackageDefinitionWorld.CreateAsync(factory);

        var draft = await (await world.Owner.PostJsonAsync("/api/package-templates/laser-buy-5-get-1/copy", new { name = "Laser 5+1" })).ReadJsonAsync();
        var id = draft.GetProperty("id").GetGuid();

        Assert.Equal("Laser 5+1", draft.GetProperty("name").GetString());
        Assert.Empty(draft.GetProperty("terms").GetProperty("services").EnumerateArray());
        Assert.Equal("basics", draft.GetProperty("draftStep").GetString());
        await ProblemAsync(world.Owner.PostAsync($"/api/package-definitions/{id}/publish", null), HttpStatusCode.BadRequest, "validation_failed", "services");

        // The admin names the tenant's own service: it publishes with the template's pricing.
        await OkAsync(world.Owner.PutJsonAsync($"/api/package-definitions/{id}/services", world.Services()));
        var published = await OkAsync(world.Owner.PostAsync($"/api/package-definitions/{id}/publish", null));
        Assert.Equal((5, 1), (published.GetProperty("terms").GetProperty("quantity").GetInt32(), published.GetProperty("terms").GetProperty("freeQuantity").GetInt32()));
    }

    [Fact]
    public async Task Copy_refuses_unknown_templates_other_organisations_clinics_and_duplicate_names()
    {
        var world = await PackageDefinitionWorld.CreateAsync(factory);
        var other = await PackageDefinitionWorld.CreateAsync(factory);

        await ProblemAsync(world.Owner.PostJsonAsync("/api/package-templates/free-money/copy", new { }), HttpStatusCode.NotFound, "not_found");
        await ProblemAsync(world.Owner.PostJsonAsync("/api/package-templates/hydrafacial-x3/copy", new { clinicIds = new[] { other.ClinicId } }),
            HttpStatusCode.BadRequest, "validation_failed", "clinicIds[0]");
        await ProblemAsync(world.Owner.PostJsonAsync("/api/package-templates/hydrafacial-x3/copy", new { name = new string('n', 300) }),
            HttpStatusCode.BadRequest, "validation_failed", "name");
        await world.Owner.CreateAsync("/api/package-templates/hydrafacial-x3/copy", new { });
        await ProblemAsync(world.Owner.PostJsonAsync("/api/package-templates/hydrafacial-x3/copy", new { }), HttpStatusCode.Conflict, "conflict");
        Assert.Equal(1, (await world.Owner.GetJsonAsync("/api/package-definitions?status=draft")).GetProperty("total").GetInt64());
    }
}
