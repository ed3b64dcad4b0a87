using System.Net;
using System.Text.Json;
using MedSpa.Grains.Packages;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;
using static MedSpa.Tests.Packages.Definitions.PackageDefinitionWorld;
using static MedSpa.Tests.ReferenceData.ReferenceDataRequests;

namespace MedSpa.Tests.Packages.Definitions;

/// <summary>
/// The creation flow as the admin front end drives it over HTTP (basics → services → pricing → restrictions →
/// publish), then what a published definition may still do: be edited (a new version), change status, be previewed;
/// and what the checkout reads of it through <see cref="IPackageCatalog"/> (only published, active definitions sell).
/// </summary>
public sealed class PackageDefinitionFlowTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    private IPackageCatalog Catalog => factory.Services.GetRequiredService<IPackageCatalog>();

    [Fact]
    public async Task Whole_creation_flow_step_by_step_then_publish()
    {
        var world = await PackageDefinitionWorld.CreateAsync(factory);
        var owner = world.Owner;

        var created = await owner.PostJsonAsync("/api/package-definitions", Basics(clinicIds: [world.ClinicId]));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var draft = await created.ReadJsonAsync();
        var id = draft.GetProperty("id").GetGuid();
        Assert.Equal($"/api/package-definitions/{id}", created.Headers.Location?.ToString());
        Assert.True(draft.GetProperty("draft").GetBoolean());
        Assert.Equal("basics", draft.GetProperty("draftStep").GetString());
        Assert.Equal("standard", draft.GetProperty("type").GetString());
        Assert.Equal("USD", draft.GetProperty("price").GetProperty("currency").GetString());
        Assert.Equal([world.ClinicId], draft.GetProperty("terms").GetProperty("clinicIds").EnumerateArray().Select(c => c.GetGuid()));
        // A draft is never sold.
        Assert.False((await Catalog.FindAsync(world.Tenant.TenantId, id))!.Sellable);

        var services = await OkAsync(owner.PutJsonAsync($"/api/package-definitions/{id}/services", world.Services()));
        Assert.Equal("services", services.GetProperty("draftStep").GetString());
        var service = Assert.Single(services.GetProperty("terms").GetProperty("services").EnumerateArray());
        Assert.Equal(world.HydraFacial, service.GetProperty("serviceId").GetGuid());
        // The name comes from the catalog, not from the request.
        Assert.Equal("HydraFacial", service.GetProperty("serviceName").GetString());
        Assert.Equal(200_00, service.GetProperty("sessionValue").GetProperty("amount").GetInt64());
        Assert.Equal(40_00, service.GetProperty("staffCompensation").GetProperty("amount").GetInt64());

        var pricing = await OkAsync(owner.PutJsonAsync($"/api/package-definitions/{id}/pricing", Pricing()));
        Assert.Equal("pricing", pricing.GetProperty("draftStep").GetString());
        Assert.Equal(600_00, pricing.GetProperty("price").GetProperty("amount").GetInt64());
        Assert.Equal(3, pricing.GetProperty("terms").GetProperty("quantity").GetInt32());
        Assert.Equal(365, pricing.GetProperty("terms").GetProperty("expiresAfterDays").GetInt32());

        var restricted = await OkAsync(owner.PutJsonAsync($"/api/package-definitions/{id}/restrictions", world.Restrictions()));
        Assert.Equal("restrictions", restricted.GetProperty("draftStep").GetString());
        var r = restricted.GetProperty("terms").GetProperty("restrictions");
        Assert.Equal("2027-12-25", Assert.Single(r.GetProperty("blackoutDates").EnumerateArray()).GetString());
        Assert.Equal("tuesday", Assert.Single(r.GetProperty("timeWindows").EnumerateArray()).GetProperty("day").GetString());
        Assert.Equal(world.Provider, Assert.Single(r.GetProperty("providerIds").EnumerateArray()).GetGuid());
        Assert.Equal(2, restricted.GetProperty("terms").GetProperty("maxMembers").GetInt32());

        // Going back a step keeps the draft at the furthest step saved.
        var again = await OkAsync(owner.PutJsonAsync($"/api/package-definitions/{id}/pricing", Pricing(price: 550_00)));
        Assert.Equal("restrictions", again.GetProperty("draftStep").GetString());
        Assert.DoesNotContain(id, (await owner.GetJsonAsync("/api/package-definitions?status=active")).Ids());
        Assert.Contains(id, (await owner.GetJsonAsync("/api/package-definitions?status=draft")).Ids());

        var published = await OkAsync(owner.PostAsync($"/api/package-definitions/{id}/publish", null));
        Assert.False(published.GetProperty("draft").GetBoolean());
        Assert.Equal(JsonValueKind.Null, published.GetProperty("draftStep").ValueKind);
        Assert.Equal("active", published.GetProperty("status").GetString());
        Assert.Equal(1, published.GetProperty("version").GetInt32());
        Assert.Contains(id, (await owner.GetJsonAsync("/api/package-definitions?status=active&type=standard")).Ids());
        Assert.DoesNotContain(id, (await owner.GetJsonAsync("/api/package-definitions?type=wallet")).Ids());
        Assert.DoesNotContain(id, (await owner.GetJsonAsync("/api/package-definitions?status=draft")).Ids());

        // What checkout sells: the published terms, version stamped.
        var entry = (await Catalog.FindAsync(world.Tenant.TenantId, id))!;
        Assert.True(entry.Sellable);
        Assert.Equal(550_00, entry.Terms.Price.Amount);
        Assert.Equal("HydraFacial", Assert.Single(entry.Terms.Services).ServiceName);
        Assert.Equal(1, entry.Terms.DefinitionVersion);

        // Published: the steps are closed (edits version the definition instead), and it is not published twice.
        await ProblemAsync(owner.PutJsonAsync($"/api/package-definitions/{id}/pricing", Pricing()), HttpStatusCode.Conflict, "conflict");
        await ProblemAsync(owner.PostAsync($"/api/package-definitions/{id}/publish", null), HttpStatusCode.Conflict, "conflict");
    }

    [Fact]
    public async Task Publishing_checks_the_whole_definition_and_names_the_first_missing_field()
    {
        var world = await PackageDefinitionWorld.CreateAsync(factory);
        var id = await world.Owner.CreateAsync("/api/package-definitions", Basics());

        await ProblemAsync(world.Owner.PostAsync($"/api/package-definitions/{id}/publish", null), HttpStatusCode.BadRequest, "validation_failed", "services");
        await OkAsync(world.Owner.PutJsonAsync($"/api/package-definitions/{id}/services", world.Services()));
        // Services saved, pricing not: a standard package needs its sessions.
        await ProblemAsync(world.Owner.PostAsync($"/api/package-definitions/{id}/publish", null), HttpStatusCode.BadRequest, "validation_failed", "quantity");

        // A service retired after its step was saved stops the publish too.
        await OkAsync(world.Owner.PutJsonAsync($"/api/package-definitions/{id}/pricing", Pricing()));
        Assert.Equal(HttpStatusCode.NoContent, (await world.Owner.DeleteAsync($"/api/services/{world.HydraFacial}")).StatusCode);
        await ProblemAsync(world.Owner.PostAsync($"/api/package-definitions/{id}/publish", null), HttpStatusCode.BadRequest, "validation_failed",
            "services[0].serviceId");
        Assert.True((await world.Owner.GetJsonAsync($"/api/package-definitions/{id}")).GetProperty("draft").GetBoolean());
    }

    [Fact]
    public async Task Editing_a_published_definition_makes_a_new_version_and_the_old_terms_stay_with_what_was_copied()
    {
        var world = await PackageDefinitionWorld.CreateAsync(factory);
        var id = await world.PublishedAsync();
        var sold = (await Catalog.FindAsync(world.Tenant.TenantId, id))!.Terms;

        var edited = await OkAsync(world.Owner.PutJsonAsync($"/api/package-definitions/{id}", Whole(world, price: 650_00, quantity: 4)));

        Assert.Equal(2, edited.GetProperty("version").GetInt32());
        Assert.Equal(2, edited.GetProperty("terms").GetProperty("definitionVersion").GetInt32());
        Assert.Equal(650_00, edited.GetProperty("price").GetProperty("amount").GetInt64());
        Assert.Equal("active", edited.GetProperty("status").GetString());
        var now = (await Catalog.FindAsync(world.Tenant.TenantId, id))!.Terms;
        Assert.Equal((2, 650_00L, 4), (now.DefinitionVersion, now.Price.Amount, now.Quantity));
        // A sale snapshots the terms it read: the copy taken before the edit still says version 1 at $600 for 3.
        Assert.Equal((1, 600_00L, 3), (sold.DefinitionVersion, sold.Price.Amount, sold.Quantity));

        // An invalid edit changes nothing.
        await ProblemAsync(world.Owner.PutJsonAsync($"/api/package-definitions/{id}", Whole(world, price: -5, quantity: 4)),
            HttpStatusCode.BadRequest, "validation_failed", "price.amount");
        var unchanged = await world.Owner.GetJsonAsync($"/api/package-definitions/{id}");
        Assert.Equal(2, unchanged.GetProperty("version").GetInt32());
        Assert.Equal(650_00, unchanged.GetProperty("price").GetProperty("amount").GetInt64());
    }

    [Fact]
    public async Task Status_inactive_stops_sales_archived_hides_it_and_a_draft_must_be_published_first()
    {
        var world = await PackageDefinitionWorld.CreateAsync(factory);
        var id = await world.PublishedAsync();
        var draft = await world.DraftAsync("Still a draft");

        var inactive = await OkAsync(world.Owner.PatchAsync($"/api/package-definitions/{id}/status", Json(new { status = "inactive" })));
        Assert.Equal("inactive", inactive.GetProperty("status").GetString());
        Assert.False((await Catalog.FindAsync(world.Tenant.TenantId, id))!.Sellable);

        await OkAsync(world.Owner.PatchAsync($"/api/package-definitions/{id}/status", Json(new { status = "archived" })));
        Assert.DoesNotContain(id, (await world.Owner.GetJsonAsync("/api/package-definitions")).Ids());
        Assert.Contains(id, (await world.Owner.GetJsonAsync("/api/package-definitions?status=archived")).Ids());
        await ProblemAsync(world.Owner.PutJsonAsync($"/api/package-definitions/{id}", Whole(world)), HttpStatusCode.Conflict, "conflict");
        // Archived frees the name for a new definition.
        await world.Owner.CreateAsync("/api/package-definitions", Basics());

        var reactivated = await world.Owner.PatchAsync($"/api/package-definitions/{id}/status", Json(new { status = "active" }));
        // ...so reactivating the archived one now collides with the new one's name.
        Assert.Equal(HttpStatusCode.Conflict, reactivated.StatusCode);

        var refused = await ProblemAsync(
            world.Owner.PatchAsync($"/api/package-definitions/{draft}/status", Json(new { status = "active" })), HttpStatusCode.Conflict, "conflict");
        Assert.Equal("draft", refused.GetProperty("currentStatus").GetString());
        await ProblemAsync(world.Owner.PatchAsync($"/api/package-definitions/{id}/status", Json(new { status = "sold-out" })),
            HttpStatusCode.BadRequest, "validation_failed", "status");
        await ProblemAsync(world.Owner.PatchAsync($"/api/package-definitions/{id}/status", Json(new { })),
            HttpStatusCode.BadRequest, "validation_failed", "status");
    }

    [Fact]
    public async Task Reactivating_checks_the_terms_again()
    {
        var world = await PackageDefinitionWorld.CreateAsync(factory);
        var id = await world.PublishedAsync();
        await OkAsync(world.Owner.PatchAsync($"/api/package-definitions/{id}/status", Json(new { status = "inactive" })));
        Assert.Equal(HttpStatusCode.NoContent, (await world.Owner.DeleteAsync($"/api/services/{world.HydraFacial}")).StatusCode);

        await ProblemAsync(world.Owner.PatchAsync($"/api/package-definitions/{id}/status", Json(new { status = "active" })),
            HttpStatusCode.BadRequest, "validation_failed", "services[0].serviceId");
        Assert.Equal("inactive", (await world.Owner.GetJsonAsync($"/api/package-definitions/{id}")).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Names_are_unique_per_organisation_409()
    {
        var world = await PackageDefinitionWorld.CreateAsync(factory);
        await world.Owner.CreateAsync("/api/package-definitions", Basics("Glow Club"));

        await ProblemAsync(world.Owner.PostJsonAsync("/api/package-definitions", Basics("glow club")), HttpStatusCode.Conflict, "conflict");
        var other = await world.Owner.CreateAsync("/api/package-definitions", Basics("Another"));
        await ProblemAsync(world.Owner.PutJsonAsync($"/api/package-definitions/{other}/basics", Basics("GLOW CLUB")), HttpStatusCode.Conflict, "conflict");
        // Another organisation may use the name.
        var elsewhere = await PackageDefinitionWorld.CreateAsync(factory);
        await elsewhere.Owner.CreateAsync("/api/package-definitions", Basics("Glow Club"));
    }

    [Fact]
    public async Task Preview_says_how_the_patient_will_see_it()
    {
        var world = await PackageDefinitionWorld.CreateAsync(factory);
        var id = await world.DraftAsync();
        var frontDesk = world.Tenant.ClientFor(await world.Tenant.CreateUserAsync("front-desk"));

        var preview = await frontDesk.GetJsonAsync($"/api/package-definitions/{id}/preview");

        Assert.Equal("HydraFacial x3", preview.GetProperty("name").GetString());
        Assert.Equal(["3 sessions of HydraFacial"], preview.GetProperty("included").EnumerateArray().Select(i => i.GetString()));
        Assert.Equal("$600", preview.GetProperty("priceText").GetString());
        Assert.Equal("$750", preview.GetProperty("valueText").GetString());
        Assert.Equal("You save $150 (20%)", preview.GetProperty("savingsText").GetString());
        Assert.Equal(20, preview.GetProperty("savingsPercent").GetInt32());
        Assert.Equal("Expires 1 year after purchase", preview.GetProperty("expiry").GetString());
        Assert.Equal(
        [
            "Not valid on Dec 25, 2027",
            "Only on Tuesdays 09:00–12:00",
            "Only with Ana Rivera",
            "At most 1 booking a week",
            "Book online at least 24 hours ahead",
            "At most 1 per visit",
            "Can be shared with up to 2 family members",
            "Applied automatically when you book online",
        ], preview.GetProperty("restrictions").EnumerateArray().Select(i => i.GetString()));
    }

    [Fact]
    public async Task Every_type_goes_through_the_flow()
    {
        var world = await PackageDefinitionWorld.CreateAsync(factory);
        var services = new { services = new[] { new { serviceId = world.Botox }, new { serviceId = world.HydraFacial } } };
        var bundle = new { services = new[] { new { serviceId = world.Botox, quantity = 20 }, new { serviceId = world.HydraFacial, quantity = 1 } } };
        var zero = Usd(0);
        (string Type, object Services, object Pricing, string Included)[] cases =
        [
            ("wallet", services, new { price = Usd(900_00), creditValue = Usd(1_000_00) }, "$1,000 to spend on Botox, HydraFacial"),
            ("buy-get-free", services, new { price = Usd(1_000_00), regularValue = Usd(1_250_00), quantity = 4, freeQuantity = 1 },
                "Buy 4 Botox or HydraFacial sessions, get 1 free"),
            ("multi-service", bundle, new { price = Usd(500_00) }, "20 sessions of Botox"),
            ("threshold", services,
                new { price = zero, threshold = new { measure = "spend", target = 2_000_00, reward = "free-service", rewardServiceId = world.HydraFacial } },
                "Spend $2,000 on Botox, HydraFacial and get a free HydraFacial"),
            ("no-upfront", services, new { price = zero, quantity = 6 }, "6 sessions of Botox or HydraFacial, paid as you go"),
        ];

        foreach (var (type, body, pricing, included) in cases)
        {
            var id = await world.Owner.CreateAsync("/api/package-definitions", Basics($"A {type} package", type));
            await OkAsync(world.Owner.PutJsonAsync($"/api/package-definitions/{id}/services", body));
            await OkAsync(world.Owner.PutJsonAsync($"/api/package-definitions/{id}/pricing", pricing));
            var published = await OkAsync(world.Owner.PostAsync($"/api/package-definitions/{id}/publish", null));
            Assert.Equal(type, published.GetProperty("type").GetString());
            var preview = await world.Owner.GetJsonAsync($"/api/package-definitions/{id}/preview");
            Assert.Equal(included, preview.GetProperty("included")[0].GetString());
        }
    }

    /// <summary>The whole definition as PUT {id} takes it: every step's fields together.</summary>
    private static object Whole(PackageDefinitionWorld world, long price = 600_00, int quantity = 3) => new
    {
        name = "HydraFacial x3",
        type = "standard",
        description = "Three facials, prepaid.",
        clinicIds = Array.Empty<Guid>(),
        services = new[] { new { serviceId = world.HydraFacial, sessionValue = Usd(200_00), quantity = 0 } },
        price = Usd(price),
        regularValue = Usd(750_00),
        quantity,
        expiresAfterDays = 365,
        incomeCategory = "facials",
    };

    private static StringContent Json(object body) =>
        new(JsonSerializer.Serialize(body, MedSpaApiFactory.Json), System.Text.Encoding.UTF8, "application/json");
}
