using System.Net;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.Memberships.MembershipRequests;

namespace MedSpa.Tests.Memberships;

/// <summary>Membership plans: CRUD for owners/admins, reads for staff, validation naming the field, templates.</summary>
public sealed class MembershipPlansApiTests(MembershipFactory factory) : IClassFixture<MembershipFactory>
{
    [Fact]
    public async Task An_owner_creates_reads_updates_and_archives_a_plan_and_staff_only_read()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var owner = tenant.ClientFor(tenant.Owner);
        var facial = await owner.CreateServiceAsync("HydraFacial", 15000);
        var created = await owner.SendAsync(HttpMethod.Post, "/api/membership-plans", new
        {
            name = "Glow Club", interval = "monthly", price = Usd(9900), sessions = new[] { new { serviceId = facial, quantity = 1 } },
            credit = Usd(2500), productsDiscountPercent = 10, minimumTermPeriods = 3, cancellationNoticeDays = 30,
        }, HttpStatusCode.Created);
        var id = created.GetProperty("id").GetGuid();
        Assert.Equal("active", created.GetProperty("status").GetString());
        // A session without a value is worth the service's catalog price.
        Assert.Equal(15000, created.GetProperty("sessions")[0].Amount("value"));
        Assert.Equal("HydraFacial", created.GetProperty("sessions")[0].GetProperty("serviceName").GetString());
        Assert.Equal(17500, created.Amount("benefitsValue"));

        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        Assert.Equal(id, (await desk.SendAsync(HttpMethod.Get, $"/api/membership-plans/{id}", null)).GetProperty("id").GetGuid());
        Assert.Equal(1, (await desk.SendAsync(HttpMethod.Get, "/api/membership-plans", null)).GetProperty("total").GetInt64());
        Assert.Equal(HttpStatusCode.Forbidden, (await desk.TrySendAsync(HttpMethod.Post, "/api/membership-plans",
            new { name = "X", interval = "monthly", price = Usd(100) })).Status);

        var updated = await owner.SendAsync(HttpMethod.Put, $"/api/membership-plans/{id}", new
        {
            name = "Glow Club", interval = "annual", price = Usd(99000), servicesDiscountPercent = 12.5m, status = "inactive",
        });
        Assert.Equal(("annual", "inactive", 12.5m), (updated.GetProperty("interval").GetString(), updated.GetProperty("status").GetString(),
            updated.GetProperty("servicesDiscountPercent").GetDecimal()));
        Assert.Equal(0, updated.GetProperty("sessions").GetArrayLength());

        await owner.SendAsync(HttpMethod.Delete, $"/api/membership-plans/{id}", null, HttpStatusCode.NoContent);
        Assert.Equal("archived", (await owner.SendAsync(HttpMethod.Get, $"/api/membership-plans/{id}", null)).GetProperty("status").GetString());

        var other = await TestTenant.CreateAsync(factory);
        using var stranger = other.ClientFor(other.Owner);
        Assert.Equal(HttpStatusCode.NotFound, (await stranger.TrySendAsync(HttpMethod.Get, $"/api/membership-plans/{id}", null)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await stranger.TrySendAsync(HttpMethod.Delete, $"/api/membership-plans/{id}", null)).Status);
    }

    [Theory]
    [InlineData("""{"interval":"monthly","price":{"amount":9900,"currency":"USD"}}""", "name")]
    [InlineData("""{"name":"P","interval":"weekly","price":{"amount":9900,"currency":"USD"}}""", "interval")]
    [InlineData("""{"name":"P","interval":"monthly","price":{"amount":0,"currency":"USD"}}""", "price.amount")]
    [InlineData("""{"name":"P","interval":"monthly","price":{"amount":9900,"currency":"USD"},"servicesDiscountPercent":120}""", "servicesDiscountPercent")]
    [InlineData("""{"name":"P","interval":"monthly","price":{"amount":9900,"currency":"USD"},"minimumTermPeriods":0}""", "minimumTermPeriods")]
    [InlineData("""{"name":"P","interval":"monthly","price":{"amount":9900,"currency":"USD"},"cancellationNoticeDays":-1}""", "cancellationNoticeDays")]
    [InlineData("""{"name":"P","interval":"monthly","price":{"amount":9900,"currency":"USD"},"credit":{"amount":500,"currency":"EUR"}}""", "credit.currency")]
    [InlineData("""{"name":"P","interval":"monthly","price":{"amount":9900,"currency":"USD"},"sessions":[{"serviceId":"SERVICE","quantity":-1}]}""", "sessions[0].quantity")]
    [InlineData("""{"name":"P","interval":"monthly","price":{"amount":9900,"currency":"USD"},"sessions":[{"serviceId":"0b6c1a2e-0000-4000-8000-000000000001","quantity":1}]}""", "sessions[0].serviceId")]
    [InlineData("""{"name":"P","interval":"monthly","price":{"amount":9900,"currency":"USD"},"sessions":[{"serviceId":"FOREIGN","quantity":1}]}""", "sessions[0].serviceId")]
    [InlineData("""{"name":"P","interval":"monthly","price":{"amount":9900,"currency":"USD"},"clinicIds":["0b6c1a2e-0000-4000-8000-000000000002"]}""", "clinicIds[0]")]
    public async Task Bad_plans_are_refused_naming_the_field_and_nothing_is_written(string body, string field)
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var owner = tenant.ClientFor(tenant.Owner);
        var service = await owner.CreateServiceAsync("HydraFacial", 15000);
        var other = await TestTenant.CreateAsync(factory);
        using var otherOwner = other.ClientFor(other.Owner);
        var foreign = await otherOwner.CreateServiceAsync("HydraFacial", 15000);
        using var content = new StringContent(body.Replace("SERVICE", service.ToString()).Replace("FOREIGN", foreign.ToString()),
            System.Text.Encoding.UTF8, "application/json");
        using var response = await owner.PostAsync("/api/membership-plans", content);
        var problem = await response.ReadJsonAsync();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.GetRawText());
        Assert.Equal(0, (await owner.SendAsync(HttpMethod.Get, "/api/membership-plans", null)).GetProperty("total").GetInt64());
    }

    [Fact]
    public async Task Templates_match_the_clinics_services_by_name_and_a_copy_creates_a_plan()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var owner = tenant.ClientFor(tenant.Owner);
        var facial = await owner.CreateServiceAsync("HydraFacial", 15000);
        var templates = await owner.SendAsync(HttpMethod.Get, "/api/membership-plans/templates", null);
        var glow = templates.EnumerateArray().Single(t => t.GetProperty("key").GetString() == "monthly-glow-club");
        var plan = glow.GetProperty("plan");
        Assert.Equal(facial, plan.GetProperty("sessions")[0].GetProperty("serviceId").GetGuid());
        Assert.Empty(glow.GetProperty("unmatchedServices").EnumerateArray());
        var peel = templates.EnumerateArray().Single(t => t.GetProperty("key").GetString() == "annual-skin-plan");
        Assert.Equal("Chemical Peel", Assert.Single(peel.GetProperty("unmatchedServices").EnumerateArray()).GetString());

        var copy = await owner.SendAsync(HttpMethod.Post, "/api/membership-plans", plan, HttpStatusCode.Created);
        Assert.Equal(("Monthly Glow Club", "monthly-glow-club", 9900L),
            (copy.GetProperty("name").GetString(), copy.GetProperty("templateKey").GetString(), copy.Amount("price")));
    }
}
