using System.Net;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.Packages.Definitions.PackageDefinitionWorld;
using static MedSpa.Tests.ReferenceData.ReferenceDataRequests;

namespace MedSpa.Tests.Packages.Definitions;

/// <summary>
/// Each step refuses bad input server-side with 400 <c>validation_failed</c> naming the field, and changes nothing;
/// ids of another organisation are refused like unknown ones (400 in a body, 404 in the URL); malformed bodies
/// never reach a 500; roles: owners and admins write, staff read, patients and wall screens get 403.
/// </summary>
public sealed class PackageDefinitionValidationTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    /// <summary>(case, step below the definition ("" = create), JSON body, the field the 400 names). The draft is a
    /// standard package whose four steps are filled when the case runs.</summary>
    public static TheoryData<string, string, string, string> Cases => new()
    {
        { "basics: no name", "", """{"type":"standard"}""", "name" },
        { "basics: name too long", "", $$"""{"name":"{{new string('x', 201)}}","type":"standard"}""", "name" },
        { "basics: no type", "", """{"name":"X"}""", "type" },
        { "basics: unknown type", "", """{"name":"X","type":"subscription"}""", "type" },
        { "basics: description too long", "", $$"""{"name":"X","type":"standard","description":"{{new string('d', 2001)}}"}""", "description" },
        { "basics: duplicate clinic", "/basics", """{"name":"X","type":"standard","clinicIds":["{clinic}","{clinic}"]}""", "clinicIds[1]" },
        { "basics: unknown clinic", "/basics", """{"name":"X","type":"standard","clinicIds":["{unknown}"]}""", "clinicIds[0]" },
        { "services: none", "/services", """{"services":[]}""", "services" },
        { "services: missing", "/services", """{}""", "services" },
        { "services: null entry", "/services", """{"services":[null]}""", "services[0]" },
        { "services: no id", "/services", """{"services":[{"quantity":0}]}""", "services[0].serviceId" },
        { "services: unknown id", "/services", """{"services":[{"serviceId":"{unknown}"}]}""", "services[0].serviceId" },
        { "services: duplicate", "/services", """{"services":[{"serviceId":"{hydra}"},{"serviceId":"{hydra}"}]}""", "services[1].serviceId" },
        { "services: negative session value", "/services", """{"services":[{"serviceId":"{hydra}","sessionValue":{"amount":-1,"currency":"USD"}}]}""",
            "services[0].sessionValue.amount" },
        { "services: negative additional charge", "/services",
            """{"services":[{"serviceId":"{hydra}","additionalCharge":{"amount":-100,"currency":"USD"}}]}""", "services[0].additionalCharge.amount" },
        { "services: other currency", "/services", """{"services":[{"serviceId":"{hydra}","sessionValue":{"amount":100,"currency":"EUR"}}]}""",
            "services[0].sessionValue.currency" },
        { "services: quantity outside a bundle", "/services", """{"services":[{"serviceId":"{hydra}","quantity":3}]}""", "services[0].quantity" },
        { "pricing: no price", "/pricing", """{"quantity":3}""", "price" },
        { "pricing: negative price", "/pricing", """{"price":{"amount":-100,"currency":"USD"},"quantity":3}""", "price.amount" },
        { "pricing: price in another currency", "/pricing", """{"price":{"amount":100,"currency":"EUR"},"quantity":3}""", "price.currency" },
        { "pricing: negative quantity", "/pricing", """{"price":{"amount":100,"currency":"USD"},"quantity":-3}""", "quantity" },
        { "pricing: no sessions", "/pricing", """{"price":{"amount":100,"currency":"USD"}}""", "quantity" },
        { "pricing: free sessions on a standard package", "/pricing", """{"price":{"amount":100,"currency":"USD"},"quantity":3,"freeQuantity":1}""",
            "freeQuantity" },
        { "pricing: credit on a standard package", "/pricing",
            """{"price":{"amount":100,"currency":"USD"},"quantity":3,"creditValue":{"amount":100,"currency":"USD"}}""", "creditValue" },
        { "pricing: expiry in the past", "/pricing", """{"price":{"amount":100,"currency":"USD"},"quantity":3,"expiresOn":"2020-01-01"}""", "expiresOn" },
        { "pricing: expiry days zero", "/pricing", """{"price":{"amount":100,"currency":"USD"},"quantity":3,"expiresAfterDays":0}""", "expiresAfterDays" },
        { "pricing: expiry both ways", "/pricing", """{"price":{"amount":100,"currency":"USD"},"quantity":3,"expiresAfterDays":30,"expiresOn":"2099-01-01"}""",
            "expiresOn" },
        { "pricing: price includes tax, no rate", "/pricing", """{"price":{"amount":100,"currency":"USD"},"quantity":3,"taxable":true,"priceIncludesTax":true}""",
            "taxRateIds" },
        { "pricing: unknown tax rate", "/pricing", """{"price":{"amount":100,"currency":"USD"},"quantity":3,"taxable":true,"taxRateIds":["{unknown}"]}""",
            "taxRateIds[0]" },
        { "pricing: income category", "/pricing", """{"price":{"amount":100,"currency":"USD"},"quantity":3,"incomeCategory":"Facials!"}""", "incomeCategory" },
        { "pricing: threshold on a standard package", "/pricing",
            """{"price":{"amount":100,"currency":"USD"},"quantity":3,"threshold":{"measure":"spend","target":100,"reward":"percent-off","rewardPercent":10}}""",
            "threshold" },
        { "pricing: threshold without measure", "/pricing", """{"price":{"amount":100,"currency":"USD"},"quantity":3,"threshold":{"target":5}}""",
            "threshold.measure" },
        { "restrictions: window backwards", "/restrictions",
            """{"restrictions":{"timeWindows":[{"day":"monday","from":"12:00:00","to":"09:00:00"}]}}""", "restrictions.timeWindows[0].to" },
        { "restrictions: window without day", "/restrictions", """{"restrictions":{"timeWindows":[{"from":"09:00:00","to":"12:00:00"}]}}""",
            "restrictions.timeWindows[0].day" },
        { "restrictions: null window", "/restrictions", """{"restrictions":{"timeWindows":[null]}}""", "restrictions.timeWindows[0]" },
        { "restrictions: unknown provider", "/restrictions", """{"restrictions":{"providerIds":["{unknown}"]}}""", "restrictions.providerIds[0]" },
        { "restrictions: weekly limit 0", "/restrictions", """{"restrictions":{"maxBookingsPerWeek":0}}""", "restrictions.maxBookingsPerWeek" },
        { "restrictions: negative notice", "/restrictions", """{"restrictions":{"minimumNoticeHours":-2}}""", "restrictions.minimumNoticeHours" },
        { "restrictions: per-visit 0", "/restrictions", """{"restrictions":{"maxRedemptionsPerVisit":0}}""", "restrictions.maxRedemptionsPerVisit" },
        { "restrictions: sharing with no members", "/restrictions", """{"familySharing":true,"maxMembers":0}""", "maxMembers" },
        { "restrictions: members without sharing", "/restrictions", """{"familySharing":false,"maxMembers":3}""", "maxMembers" },
        { "restrictions: duplicate blackout", "/restrictions", """{"restrictions":{"blackoutDates":["2027-01-01","2027-01-01"]}}""",
            "restrictions.blackoutDates[1]" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Each_step_refuses_bad_input_naming_the_field_and_changes_nothing(string label, string step, string body, string field)
    {
        var world = await PackageDefinitionWorld.CreateAsync(factory);
        var id = await world.DraftAsync();
        var before = (await world.Owner.GetJsonAsync($"/api/package-definitions/{id}")).GetRawText();
        var json = body.Replace("{clinic}", world.ClinicId.ToString(), StringComparison.Ordinal)
            .Replace("{hydra}", world.HydraFacial.ToString(), StringComparison.Ordinal)
            .Replace("{unknown}", Guid.NewGuid().ToString(), StringComparison.Ordinal);
        var (method, url) = step.Length == 0 ? (HttpMethod.Post, "/api/package-definitions") : (HttpMethod.Put, $"/api/package-definitions/{id}{step}");

        var problem = await ProblemAsync(world.Owner.SendRawAsync(method, url, json), HttpStatusCode.BadRequest, "validation_failed", field);

        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("detail").GetString()), label);
        Assert.Equal(before, (await world.Owner.GetJsonAsync($"/api/package-definitions/{id}")).GetRawText());
        Assert.Equal(1, (await world.Owner.GetJsonAsync("/api/package-definitions?status=draft")).GetProperty("total").GetInt64());
    }

    [Fact]
    public async Task Ids_of_another_organisation_are_refused_naming_the_field()
    {
        var mine = await PackageDefinitionWorld.CreateAsync(factory);
        var theirs = await PackageDefinitionWorld.CreateAsync(factory);
        var id = await mine.DraftAsync();
        var before = (await mine.Owner.GetJsonAsync($"/api/package-definitions/{id}")).GetRawText();

        await ProblemAsync(mine.Owner.PostJsonAsync("/api/package-definitions", Basics(clinicIds: [theirs.ClinicId])),
            HttpStatusCode.BadRequest, "validation_failed", "clinicIds[0]");
        await ProblemAsync(mine.Owner.PutJsonAsync($"/api/package-definitions/{id}/services", theirs.Services()),
            HttpStatusCode.BadRequest, "validation_failed", "services[0].serviceId");
        await ProblemAsync(mine.Owner.PutJsonAsync($"/api/package-definitions/{id}/pricing", new
            {
                price = Usd(600_00), quantity = 3, taxable = true, taxRateIds = new[] { theirs.TaxRate },
            }),
            HttpStatusCode.BadRequest, "validation_failed", "taxRateIds[0]");
        await ProblemAsync(mine.Owner.PutJsonAsync($"/api/package-definitions/{id}/restrictions", theirs.Restrictions()),
            HttpStatusCode.BadRequest, "validation_failed", "restrictions.providerIds[0]");
        var loyalty = await mine.Owner.CreateAsync("/api/package-definitions", Basics("Loyalty", "threshold"));
        await OkAsync(mine.Owner.PutJsonAsync($"/api/package-definitions/{loyalty}/services", mine.Services()));
        await ProblemAsync(mine.Owner.PutJsonAsync($"/api/package-definitions/{loyalty}/pricing", new
            {
                price = Usd(0), threshold = new { measure = "spend", target = 100, reward = "free-service", rewardServiceId = theirs.HydraFacial },
            }),
            HttpStatusCode.BadRequest, "validation_failed", "threshold.rewardServiceId");
        Assert.Equal(before, (await mine.Owner.GetJsonAsync($"/api/package-definitions/{id}")).GetRawText());

        // A tax rate of my own organisation, but of a clinic the package is not honoured at.
        var uptown = await mine.Owner.CreateAsync("/api/clinics", Clinic("Uptown"));
        var uptownTax = await mine.Owner.CreateAsync($"/api/clinics/{uptown}/tax-rates", TaxRate("Uptown tax"));
        await OkAsync(mine.Owner.PutJsonAsync($"/api/package-definitions/{id}/basics", Basics(clinicIds: [mine.ClinicId])));
        await ProblemAsync(mine.Owner.PutJsonAsync($"/api/package-definitions/{id}/pricing", new
            {
                price = Usd(600_00), quantity = 3, taxable = true, taxRateIds = new[] { uptownTax },
            }),
            HttpStatusCode.BadRequest, "validation_failed", "taxRateIds[0]");
        // ...and of its own clinic: accepted.
        var priced = await OkAsync(mine.Owner.PutJsonAsync($"/api/package-definitions/{id}/pricing", new
        {
            price = Usd(600_00), quantity = 3, taxable = true, priceIncludesTax = true, taxRateIds = new[] { mine.TaxRate },
        }));
        Assert.Equal(mine.TaxRate, Assert.Single(priced.GetProperty("terms").GetProperty("taxRateIds").EnumerateArray()).GetGuid());
    }

    [Fact]
    public async Task Another_organisations_definition_is_not_found()
    {
        var mine = await PackageDefinitionWorld.CreateAsync(factory);
        var theirs = await PackageDefinitionWorld.CreateAsync(factory);
        var draft = await theirs.DraftAsync();
        var published = await theirs.PublishedAsync("Theirs live");
        var before = (await theirs.Owner.GetJsonAsync($"/api/package-definitions/{published}")).GetRawText();

        foreach (var id in new[] { draft, published })
        {
            var url = $"/api/package-definitions/{id}";
            await ProblemAsync(mine.Owner.GetAsync(url), HttpStatusCode.NotFound, "not_found");
            await ProblemAsync(mine.Owner.GetAsync($"{url}/preview"), HttpStatusCode.NotFound, "not_found");
            await ProblemAsync(mine.Owner.PutJsonAsync($"{url}/basics", Basics()), HttpStatusCode.NotFound, "not_found");
            await ProblemAsync(mine.Owner.PutJsonAsync($"{url}/services", mine.Services()), HttpStatusCode.NotFound, "not_found");
            await ProblemAsync(mine.Owner.PutJsonAsync($"{url}/pricing", Pricing()), HttpStatusCode.NotFound, "not_found");
            await ProblemAsync(mine.Owner.PutJsonAsync($"{url}/restrictions", mine.Restrictions()), HttpStatusCode.NotFound, "not_found");
            await ProblemAsync(mine.Owner.PostAsync($"{url}/publish", null), HttpStatusCode.NotFound, "not_found");
            await ProblemAsync(mine.Owner.SendRawAsync(HttpMethod.Patch, $"{url}/status", """{"status":"archived"}"""), HttpStatusCode.NotFound, "not_found");
            await ProblemAsync(mine.Owner.SendRawAsync(HttpMethod.Put, url, """{"name":"Mine now","type":"standard","price":{"amount":1,"currency":"USD"}}"""),
                HttpStatusCode.NotFound, "not_found");
        }

        Assert.Empty((await mine.Owner.GetJsonAsync("/api/package-definitions")).Ids());
        Assert.Equal(before, (await theirs.Owner.GetJsonAsync($"/api/package-definitions/{published}")).GetRawText());
    }

    [Theory]
    [InlineData("owner", true, true)]
    [InlineData("admin", true, true)]
    [InlineData("front-desk", true, false)]
    [InlineData("provider", true, false)]
    [InlineData("patient", false, false)]
    [InlineData("display", false, false)]
    public async Task Owners_and_admins_write_staff_read_patients_get_nothing(string role, bool reads, bool writes)
    {
        var world = await PackageDefinitionWorld.CreateAsync(factory);
        var id = await world.DraftAsync();
        var client = world.Tenant.ClientFor(await world.Tenant.CreateUserAsync(role));
        var readStatus = reads ? HttpStatusCode.OK : HttpStatusCode.Forbidden;
        var writeStatus = writes ? HttpStatusCode.OK : HttpStatusCode.Forbidden;

        Assert.Equal(readStatus, (await client.GetAsync("/api/package-definitions")).StatusCode);
        Assert.Equal(readStatus, (await client.GetAsync($"/api/package-definitions/{id}")).StatusCode);
        Assert.Equal(readStatus, (await client.GetAsync($"/api/package-definitions/{id}/preview")).StatusCode);
        Assert.Equal(readStatus, (await client.GetAsync("/api/package-templates")).StatusCode);

        Assert.Equal(writes ? HttpStatusCode.Created : HttpStatusCode.Forbidden,
            (await client.PostJsonAsync("/api/package-definitions", Basics($"By {role}"))).StatusCode);
        Assert.Equal(writeStatus, (await client.PutJsonAsync($"/api/package-definitions/{id}/pricing", Pricing(price: 500_00))).StatusCode);
        Assert.Equal(writeStatus, (await client.PostAsync($"/api/package-definitions/{id}/publish", null)).StatusCode);
        Assert.Equal(writeStatus, (await client.SendRawAsync(HttpMethod.Patch, $"/api/package-definitions/{id}/status", """{"status":"inactive"}""")).StatusCode);
        Assert.Equal(writes ? HttpStatusCode.Created : HttpStatusCode.Forbidden,
            (await client.PostJsonAsync("/api/package-templates/hydrafacial-x3/copy", new { name = $"Copy by {role}" })).StatusCode);

        var definition = await world.Owner.GetJsonAsync($"/api/package-definitions/{id}");
        Assert.Equal(writes ? 500_00 : 600_00, definition.GetProperty("price").GetProperty("amount").GetInt64());
        // Published then set inactive by a writer; a draft (stored inactive) otherwise.
        Assert.Equal("inactive", definition.GetProperty("status").GetString());
        Assert.Equal(!writes, definition.GetProperty("draft").GetBoolean());
    }

    [Fact]
    public async Task Anonymous_callers_get_401()
    {
        using var anonymous = factory.CreateClient();

        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/package-definitions")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/package-templates")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostJsonAsync("/api/package-definitions", Basics())).StatusCode);
    }

    public static TheoryData<string, string, string> Malformed => new()
    {
        { "truncated", "POST", """{"name":"X","type":""" },
        { "not JSON", "POST", "<xml/>" },
        { "array", "POST", "[1,2]" },
        { "null", "POST", "null" },
        { "type as number", "POST", """{"name":"X","type":1}""" },
        { "clinic ids not guids", "POST", """{"name":"X","type":"standard","clinicIds":["nope"]}""" },
        { "clinic ids null entry", "POST", """{"name":"X","type":"standard","clinicIds":[null]}""" },
        { "services not a list", "/services", """{"services":{"serviceId":"x"}}""" },
        { "money as string", "/pricing", """{"price":"600","quantity":3}""" },
        { "money without currency", "/pricing", """{"price":{"amount":600},"quantity":3}""" },
        { "money lowercase currency", "/pricing", """{"price":{"amount":600,"currency":"usd"},"quantity":3}""" },
        { "money huge", "/pricing", """{"price":{"amount":1e400,"currency":"USD"},"quantity":3}""" },
        { "quantity too big for int", "/pricing", """{"price":{"amount":600,"currency":"USD"},"quantity":99999999999}""" },
        { "date out of range", "/pricing", """{"price":{"amount":600,"currency":"USD"},"quantity":3,"expiresOn":"9999-12-31"}""" },
        { "date not a date", "/pricing", """{"price":{"amount":600,"currency":"USD"},"quantity":3,"expiresOn":"tomorrow"}""" },
        { "percent huge", "/pricing", """{"price":{"amount":0,"currency":"USD"},"threshold":{"measure":"spend","target":1,"reward":"percent-off","rewardPercent":1e30}}""" },
        { "time not a time", "/restrictions", """{"restrictions":{"timeWindows":[{"day":"monday","from":"9am","to":"noon"}]}}""" },
        { "day unknown", "/restrictions", """{"restrictions":{"timeWindows":[{"day":"funday","from":"09:00:00","to":"10:00:00"}]}}""" },
        { "day as number", "/restrictions", """{"restrictions":{"timeWindows":[{"day":1,"from":"09:00:00","to":"10:00:00"}]}}""" },
        { "many blackout dates", "/restrictions", ManyBlackoutDates() },
        { "whole edit empty", "", "{}" },
        { "status as number", "/status", """{"status":0}""" },
    };

    private static string ManyBlackoutDates() =>
        "{\"restrictions\":{\"blackoutDates\":["
        + string.Join(",", Enumerable.Range(0, 400).Select(i => "\"" + new DateOnly(2027, 1, 1).AddDays(i).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture) + "\""))
        + "]}}";

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task Malformed_bodies_get_a_4xx_never_a_500_and_change_nothing(string label, string route, string body)
    {
        var world = await PackageDefinitionWorld.CreateAsync(factory);
        var id = await world.DraftAsync();
        var before = (await world.Owner.GetJsonAsync($"/api/package-definitions/{id}")).GetRawText();
        var (method, url) = route switch
        {
            "POST" => (HttpMethod.Post, "/api/package-definitions"),
            "" => (HttpMethod.Put, $"/api/package-definitions/{id}"),
            "/status" => (HttpMethod.Patch, $"/api/package-definitions/{id}/status"),
            _ => (HttpMethod.Put, $"/api/package-definitions/{id}{route}"),
        };

        using var response = await world.Owner.SendRawAsync(method, url, body);
        var text = await response.Content.ReadAsStringAsync();

        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{label}: {(int)response.StatusCode} {text}");
        Assert.Contains("\"code\":\"validation_failed\"", text, StringComparison.Ordinal);
        Assert.Equal(before, (await world.Owner.GetJsonAsync($"/api/package-definitions/{id}")).GetRawText());
        Assert.Equal(1, (await world.Owner.GetJsonAsync("/api/package-definitions?status=draft")).GetProperty("total").GetInt64());
    }

    [Fact]
    public async Task List_filters_are_validated()
    {
        var world = await PackageDefinitionWorld.CreateAsync(factory);

        await ProblemAsync(world.Owner.GetAsync("/api/package-definitions?status=sold"), HttpStatusCode.BadRequest, "validation_failed", "status");
        await ProblemAsync(world.Owner.GetAsync("/api/package-definitions?type=bank"), HttpStatusCode.BadRequest, "validation_failed", "type");
        await ProblemAsync(world.Owner.GetAsync("/api/package-definitions?pageSize=1000"), HttpStatusCode.BadRequest, "validation_failed", "pageSize");
    }

    [Fact]
    public async Task List_pages_with_the_shared_envelope()
    {
        var world = await PackageDefinitionWorld.CreateAsync(factory);
        foreach (var name in new[] { "C package", "A package", "B package" })
        {
            await world.Owner.CreateAsync("/api/package-definitions", Basics(name));
        }

        var page = await world.Owner.GetJsonAsync("/api/package-definitions?page=2&pageSize=2");

        Assert.Equal(3, page.GetProperty("total").GetInt64());
        Assert.Equal(2, page.GetProperty("page").GetInt32());
        Assert.Equal("C package", Assert.Single(page.GetProperty("items").EnumerateArray()).GetProperty("name").GetString());
    }
}
