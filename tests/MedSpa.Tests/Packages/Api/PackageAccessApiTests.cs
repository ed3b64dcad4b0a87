using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.Payments;
using MedSpa.Tests.TestHost;
using Npgsql;
using static MedSpa.Tests.Packages.Api.PackageApiWorld;

namespace MedSpa.Tests.Packages.Api;

/// <summary>Who may see and use which package: lists, the patient's own view, roles, clinics and organisations.</summary>
public sealed class PackageAccessApiTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    private static List<Guid> Ids(JsonElement list) => [.. list.EnumerateArray().Select(p => p.GetProperty("purchaseId").GetGuid()).Order()];

    private static List<Guid> Set(params Guid[] ids) => [.. ids.Order()];

    [Fact]
    public async Task A_patients_list_has_their_own_and_shared_packages_with_balances_and_filters_by_status()
    {
        var world = await CreateAsync(factory);
        var own = await world.SellAsync(world.Facials());
        var used = await world.SellAsync(world.Facials(quantity: 1, price: 10000));
        Assert.Equal(HttpStatusCode.Created, (await RedeemAsync(world.Desk, used, world.Redemption(), Key())).Status);
        var relatives = await world.SellAsync(world.Facials(), owner: world.Relative);
        await world.Desk.SendAsync(HttpMethod.Post, $"/api/packages/{relatives}/members", new { patientId = world.Owner });
        await world.FlushAsync(relatives);
        await world.FlushAsync(used);

        var list = await world.Desk.SendAsync(HttpMethod.Get, $"/api/patients/{world.Owner}/packages", null);
        Assert.Equal(Set(own, used, relatives), Ids(list));
        var ownView = list.EnumerateArray().Single(p => p.GetProperty("purchaseId").GetGuid() == own);
        Assert.Equal(3, ownView.GetProperty("sessionsLeft").GetInt32());

        var active = await world.Desk.SendAsync(HttpMethod.Get, $"/api/patients/{world.Owner}/packages?status=active", null);
        Assert.Equal(Set(own, relatives), Ids(active));
        var depleted = await world.Desk.SendAsync(HttpMethod.Get, $"/api/patients/{world.Owner}/packages?status=depleted", null);
        Assert.Equal(Set(used), Ids(depleted));
        await world.Desk.SendAsync(HttpMethod.Get, $"/api/patients/{world.Owner}/packages?status=bogus", null, HttpStatusCode.BadRequest);

        // The relative's list: only their own package (the owner's are not shared with them).
        Assert.Equal(Set(relatives), Ids(await world.Desk.SendAsync(HttpMethod.Get, $"/api/patients/{world.Relative}/packages", null)));
        await world.Desk.SendAsync(HttpMethod.Get, $"/api/patients/{Guid.NewGuid()}/packages", null, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task A_patient_reads_only_their_own_packages_and_redeems_nothing()
    {
        var world = await CreateAsync(factory);
        var own = await world.SellAsync(world.Facials());
        var others = await world.SellAsync(world.Facials(), owner: world.Relative);
        var patientUser = await world.Tenant.CreatePatientUserAsync(world.Owner);
        var patient = world.Tenant.ClientFor(patientUser);

        Assert.Equal(Set(own), Ids(await patient.SendAsync(HttpMethod.Get, "/api/me/packages", null)));
        await patient.SendAsync(HttpMethod.Get, $"/api/packages/{own}", null);
        await patient.SendAsync(HttpMethod.Get, $"/api/packages/{own}/history", null);
        await patient.SendAsync(HttpMethod.Get, $"/api/packages/{others}", null, HttpStatusCode.NotFound);
        await patient.SendAsync(HttpMethod.Get, $"/api/packages/{others}/history", null, HttpStatusCode.NotFound);
        await patient.SendAsync(HttpMethod.Get, $"/api/patients/{world.Owner}/packages", null, HttpStatusCode.Forbidden);
        Assert.Equal(HttpStatusCode.Forbidden, (await RedeemAsync(patient, own, world.Redemption(), Key())).Status);
        await patient.SendAsync(HttpMethod.Post, $"/api/packages/{own}/members", new { patientId = world.Relative }, HttpStatusCode.Forbidden);

        // Shared with them later: now it is in their list too.
        await world.Desk.SendAsync(HttpMethod.Post, $"/api/packages/{others}/members", new { patientId = world.Owner });
        await world.FlushAsync(others);
        Assert.Equal(Set(own, others), Ids(await patient.SendAsync(HttpMethod.Get, "/api/me/packages", null)));
        await patient.SendAsync(HttpMethod.Get, $"/api/packages/{others}", null);

        // Staff have no "own" list.
        await world.Desk.SendAsync(HttpMethod.Get, "/api/me/packages", null, HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task Another_organisations_package_and_ids_look_absent()
    {
        var world = await CreateAsync(factory);
        var id = await world.SellAsync(world.Facials());
        var other = await CreateAsync(factory);
        var otherId = await other.SellAsync(other.Facials());

        // Their purchase id from our side: 404 everywhere, and their package keeps every session.
        await world.Desk.SendAsync(HttpMethod.Get, $"/api/packages/{otherId}", null, HttpStatusCode.NotFound);
        await world.Desk.SendAsync(HttpMethod.Get, $"/api/packages/{otherId}/history", null, HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.NotFound, (await RedeemAsync(world.Desk, otherId, world.Redemption(), Key())).Status);
        await world.Desk.SendAsync(HttpMethod.Post, $"/api/packages/{otherId}/members", new { patientId = world.Relative }, HttpStatusCode.NotFound);
        await world.Desk.SendAsync(HttpMethod.Get, $"/api/patients/{other.Owner}/packages", null, HttpStatusCode.NotFound);
        Assert.Equal(3, (await other.Desk.SendAsync(HttpMethod.Get, $"/api/packages/{otherId}", null)).GetProperty("sessionsLeft").GetInt32());

        // Their clinic: 404; their patient, service, provider, or visit in our redemption: 400 naming the field.
        Assert.Equal(HttpStatusCode.NotFound, (await RedeemAsync(world.Admin, id, world.Redemption(clinicId: other.ClinicId), Key())).Status);
        await AssertFieldAsync(world, id, world.Redemption(patientId: other.Owner), "patientId");
        await AssertFieldAsync(world, id, world.Redemption(service: other.Facial), "serviceId");
        await AssertFieldAsync(world, id, world.Redemption(providerId: other.ProviderId), "providerId");
        await AssertFieldAsync(world, id, world.Redemption(visitId: Guid.NewGuid()), "visitId");
        await world.Desk.SendAsync(HttpMethod.Post, $"/api/packages/{id}/members", new { patientId = other.Owner }, HttpStatusCode.BadRequest);
        Assert.Equal(3, (await world.Desk.SendAsync(HttpMethod.Get, $"/api/packages/{id}", null)).GetProperty("sessionsLeft").GetInt32());
    }

    private static async Task AssertFieldAsync(PackageApiWorld world, Guid id, object body, string field)
    {
        var (status, problem) = await RedeemAsync(world.Desk, id, body, Key());
        Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status}: {problem}");
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
    }

    [Fact]
    public async Task Staff_of_another_clinic_do_not_see_a_package_only_honoured_elsewhere()
    {
        var world = await CreateAsync(factory);
        var secondClinic = Guid.NewGuid();
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            await conn.ExecuteAsync(
                "INSERT INTO clinics (tenant_id, id, name, time_zone, currency) VALUES (@TenantId, @secondClinic, 'Uptown', 'America/New_York', 'USD')",
                new { world.Tenant.TenantId, secondClinic });
        }

        var here = world.Facials() with { ClinicIds = [world.ClinicId] };
        var id = await world.SellAsync(here);
        var everywhere = await world.SellAsync(world.Facials());
        var uptownDesk = world.Tenant.ClientFor(await world.Tenant.CreateUserAsync("front-desk", secondClinic));

        await uptownDesk.SendAsync(HttpMethod.Get, $"/api/packages/{id}", null, HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.NotFound, (await RedeemAsync(uptownDesk, id, world.Redemption(clinicId: secondClinic), Key())).Status);
        Assert.Equal(Set(everywhere), Ids(await uptownDesk.SendAsync(HttpMethod.Get, $"/api/patients/{world.Owner}/packages", null)));

        // Honoured everywhere: Uptown redeems it at Uptown, but not at a clinic it is not assigned to.
        Assert.Equal(HttpStatusCode.Created, (await RedeemAsync(uptownDesk, everywhere, world.Redemption(clinicId: secondClinic), Key())).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await RedeemAsync(uptownDesk, everywhere, world.Redemption(), Key())).Status);

        // A package honoured only at the main clinic, redeemed by an admin at Uptown: the grain's clinic restriction.
        var (status, problem) = await RedeemAsync(world.Admin, id, world.Redemption(clinicId: secondClinic), Key());
        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Equal("restricted_clinic", problem.GetProperty("code").GetString());
    }

    [Fact]
    public async Task A_provider_redeems_and_reads_but_does_not_manage_sharing_or_read_rates()
    {
        var world = await CreateAsync(factory);
        var id = await world.SellAsync(world.Facials());
        var provider = world.Tenant.ClientFor(await world.Tenant.CreateUserAsync("provider"));

        Assert.Equal(HttpStatusCode.Created, (await RedeemAsync(provider, id, world.Redemption(), Key())).Status);
        await provider.SendAsync(HttpMethod.Get, $"/api/patients/{world.Owner}/packages", null);
        await provider.SendAsync(HttpMethod.Post, $"/api/packages/{id}/members", new { patientId = world.Relative }, HttpStatusCode.Forbidden);
        await provider.SendAsync(HttpMethod.Get, $"/api/package-definitions/{Guid.NewGuid()}/redemption-rate", null, HttpStatusCode.Forbidden);
        var anonymous = factory.CreateClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync($"/api/packages/{id}")).StatusCode);
    }
}
