using System.Net;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.Payments;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.Packages.Api.PackageApiWorld;

namespace MedSpa.Tests.Packages.Api;

/// <summary>Family sharing, auto-redeem and a definition's redemption rate, through the HTTP API.</summary>
public sealed class PackageSharingAndAutoRedeemApiTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task A_member_uses_the_package_within_their_limit_until_removed()
    {
        var world = await CreateAsync(factory);
        var id = await world.SellAsync(world.Facials());

        var shared = await world.Desk.SendAsync(HttpMethod.Post, $"/api/packages/{id}/members", new { patientId = world.Relative, sessionLimit = 1 });
        var member = Assert.Single(shared.GetProperty("members").EnumerateArray());
        Assert.Equal(world.Relative, member.GetProperty("patientId").GetGuid());
        Assert.Equal(1, member.GetProperty("sessionLimit").GetInt32());

        Assert.Equal(HttpStatusCode.Created, (await RedeemAsync(world.Desk, id, world.Redemption(patientId: world.Relative), Key())).Status);
        var (status, problem) = await RedeemAsync(world.Desk, id, world.Redemption(patientId: world.Relative), Key());
        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Equal("member_limit", problem.GetProperty("code").GetString());

        // Usage is tracked per member; the owner still has the rest.
        var package = await world.Desk.SendAsync(HttpMethod.Get, $"/api/packages/{id}", null);
        Assert.Equal(1, Assert.Single(package.GetProperty("members").EnumerateArray()).GetProperty("sessionsUsed").GetInt32());
        Assert.Equal(HttpStatusCode.Created, (await RedeemAsync(world.Desk, id, world.Redemption(), Key())).Status);

        var removed = await world.Desk.SendAsync(HttpMethod.Delete, $"/api/packages/{id}/members/{world.Relative}", null);
        Assert.Empty(removed.GetProperty("members").EnumerateArray());
        await world.Desk.SendAsync(HttpMethod.Delete, $"/api/packages/{id}/members/{world.Relative}", null, HttpStatusCode.NotFound);
        var afterRemoval = await RedeemAsync(world.Desk, id, world.Redemption(patientId: world.Relative), Key());
        Assert.Equal(HttpStatusCode.UnprocessableEntity, afterRemoval.Status);
        Assert.Equal("not_member", afterRemoval.Body.GetProperty("code").GetString());
    }

    [Fact]
    public async Task Sharing_refuses_unknown_patients_the_owner_and_packages_that_do_not_allow_it()
    {
        var world = await CreateAsync(factory);
        var id = await world.SellAsync(world.Facials());
        var privateOne = await world.SellAsync(world.Facials(sharing: false));

        var unknown = await world.Desk.TrySendAsync(HttpMethod.Post, $"/api/packages/{id}/members", new { patientId = Guid.NewGuid() });
        Assert.Equal(HttpStatusCode.BadRequest, unknown.Status);
        Assert.True(unknown.Body.GetProperty("errors").TryGetProperty("patientId", out _));
        await world.Desk.SendAsync(HttpMethod.Post, $"/api/packages/{id}/members", new { patientId = world.Owner }, HttpStatusCode.BadRequest);
        await world.Desk.SendAsync(HttpMethod.Post, $"/api/packages/{id}/members", new { }, HttpStatusCode.BadRequest);
        await world.Desk.SendAsync(HttpMethod.Post, $"/api/packages/{id}/members", new { patientId = world.Relative, sessionLimit = 0 },
            HttpStatusCode.BadRequest);

        var refused = await world.Desk.TrySendAsync(HttpMethod.Post, $"/api/packages/{privateOne}/members", new { patientId = world.Relative });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.Status);
        Assert.Equal("sharing_not_allowed", refused.Body.GetProperty("code").GetString());
        Assert.Empty((await world.Desk.SendAsync(HttpMethod.Get, $"/api/packages/{id}", null)).GetProperty("members").EnumerateArray());
    }

    [Fact]
    public async Task Auto_redeem_uses_the_soonest_expiring_package_then_the_next_then_refuses()
    {
        var world = await CreateAsync(factory);
        var later = await world.SellAsync(world.Facials(quantity: 1, price: 10000, expiresAfterDays: 365));
        var sooner = await world.SellAsync(world.Facials(quantity: 1, price: 10000, expiresAfterDays: 30));
        await world.SellAsync(world.BotoxBank());
        var url = $"/api/patients/{world.Owner}/packages/auto-redeem";
        object Ask() => new { serviceId = world.Facial, clinicId = world.ClinicId, providerId = world.ProviderId };

        var first = await world.Desk.SendAsync(HttpMethod.Post, url, Ask(), HttpStatusCode.Created, Key());
        Assert.Equal(sooner, first.GetProperty("purchaseId").GetGuid());
        Assert.Equal(0, first.GetProperty("remaining").GetProperty("sessionsLeft").GetInt32());
        var second = await world.Desk.SendAsync(HttpMethod.Post, url, Ask(), HttpStatusCode.Created, Key());
        Assert.Equal(later, second.GetProperty("purchaseId").GetGuid());

        var none = await world.Desk.TrySendAsync(HttpMethod.Post, url, Ask(), Key());
        Assert.Equal(HttpStatusCode.UnprocessableEntity, none.Status);
        Assert.Equal("not_eligible", none.Body.GetProperty("code").GetString());
        Assert.False(string.IsNullOrWhiteSpace(none.Body.GetProperty("detail").GetString()));

        // The bank pays Botox at its session value ($400 of $1,000 credit bought for $900: $360 of liability).
        var botox = await world.Desk.SendAsync(HttpMethod.Post, url,
            new { serviceId = world.Botox, clinicId = world.ClinicId }, HttpStatusCode.Created, Key());
        Assert.Equal(36000, botox.GetProperty("redemption").Amount("value"));
        Assert.Equal(60000, botox.GetProperty("remaining").Amount("creditLeft"));
    }

    [Fact]
    public async Task Auto_redeem_of_several_sessions_from_a_bank_takes_their_full_value()
    {
        var world = await CreateAsync(factory);
        var bank = await world.SellAsync(world.BotoxBank(partial: false));

        var two = await world.Desk.SendAsync(HttpMethod.Post, $"/api/patients/{world.Owner}/packages/auto-redeem",
            new { serviceId = world.Botox, clinicId = world.ClinicId, quantity = 2 }, HttpStatusCode.Created, Key());

        Assert.Equal(bank, two.GetProperty("purchaseId").GetGuid());
        Assert.Equal(2, two.GetProperty("redemption").GetProperty("quantity").GetInt32());
        Assert.Equal(20000, two.GetProperty("remaining").Amount("creditLeft"));
        // $200 left is less than a whole Botox session, and the bank takes no part payments: nothing to auto-redeem.
        var none = await world.Desk.TrySendAsync(HttpMethod.Post, $"/api/patients/{world.Owner}/packages/auto-redeem",
            new { serviceId = world.Botox, clinicId = world.ClinicId }, Key());
        Assert.Equal(HttpStatusCode.UnprocessableEntity, none.Status);
        Assert.Equal("insufficient_balance", none.Body.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Auto_redeem_checks_its_input_and_the_patient()
    {
        var world = await CreateAsync(factory);
        await world.SellAsync(world.Facials());
        var url = $"/api/patients/{world.Owner}/packages/auto-redeem";

        var noKey = await world.Desk.TrySendAsync(HttpMethod.Post, url, new { serviceId = world.Facial, clinicId = world.ClinicId });
        Assert.Equal(HttpStatusCode.BadRequest, noKey.Status);
        await world.Desk.SendAsync(HttpMethod.Post, url, new { clinicId = world.ClinicId }, HttpStatusCode.BadRequest, Key());
        await world.Desk.SendAsync(HttpMethod.Post, $"/api/patients/{Guid.NewGuid()}/packages/auto-redeem",
            new { serviceId = world.Facial, clinicId = world.ClinicId }, HttpStatusCode.NotFound, Key());
        var other = await CreateAsync(factory);
        await world.Desk.SendAsync(HttpMethod.Post, url, new { serviceId = other.Facial, clinicId = world.ClinicId }, HttpStatusCode.BadRequest, Key());
        await world.Desk.SendAsync(HttpMethod.Post, url, new { serviceId = world.Facial, clinicId = other.ClinicId }, HttpStatusCode.NotFound, Key());
        var patient = world.Tenant.ClientFor(await world.Tenant.CreatePatientUserAsync(world.Owner));
        await patient.SendAsync(HttpMethod.Post, url, new { serviceId = world.Facial, clinicId = world.ClinicId }, HttpStatusCode.Forbidden, Key());
        Assert.Equal(3, (await world.Desk.SendAsync(HttpMethod.Get, $"/api/patients/{world.Owner}/packages", null))[0]
            .GetProperty("sessionsLeft").GetInt32());
    }

    [Fact]
    public async Task Redemption_rate_of_a_definition_counts_sold_and_used_value_and_sessions()
    {
        var world = await CreateAsync(factory);
        var definition = await world.DefineAsync(world.Facials());
        var terms = world.Facials(definitionId: definition);
        var a = await world.SellAsync(terms);
        var b = await world.SellAsync(terms, owner: world.Relative);
        await world.SellAsync(world.Facials()); // another definition: not counted
        Assert.Equal(HttpStatusCode.Created, (await RedeemAsync(world.Desk, a, world.Redemption(quantity: 2), Key())).Status);
        Assert.Equal(HttpStatusCode.Created, (await RedeemAsync(world.Desk, b, world.Redemption(patientId: world.Relative), Key())).Status);
        var reversedOp = Key();
        Assert.Equal(HttpStatusCode.Created, (await RedeemAsync(world.Desk, b, world.Redemption(patientId: world.Relative), reversedOp)).Status);
        await world.Desk.SendAsync(HttpMethod.Post, $"/api/packages/{b}/redemptions/{reversedOp}/reversal", null);
        await world.FlushAsync(a);
        await world.FlushAsync(b);

        var rate = await world.Admin.SendAsync(HttpMethod.Get, $"/api/package-definitions/{definition}/redemption-rate", null);
        Assert.Equal(2, rate.GetProperty("sold").GetInt32());
        Assert.Equal(60000, rate.Amount("soldValue"));
        Assert.Equal(30000, rate.Amount("redeemedValue"));
        Assert.Equal(3, rate.GetProperty("sessionsUsed").GetInt64());
        Assert.Equal(6, rate.GetProperty("sessionsTotal").GetInt64());
        Assert.Equal(0.5m, rate.GetProperty("rate").GetDecimal());

        await world.Desk.SendAsync(HttpMethod.Get, $"/api/package-definitions/{definition}/redemption-rate", null, HttpStatusCode.Forbidden);
        var other = await CreateAsync(factory);
        await other.Admin.SendAsync(HttpMethod.Get, $"/api/package-definitions/{definition}/redemption-rate", null, HttpStatusCode.NotFound);
    }
}
