using System.Net;
using System.Text.Json;
using MedSpa.GrainInterfaces.Payments;
using MedSpa.Grains.Domain.Memberships;
using MedSpa.GrainInterfaces.Memberships;
using MedSpa.Tests.Payments;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.Memberships.MembershipRequests;

namespace MedSpa.Tests.Memberships;

/// <summary>
/// Changing the card a membership bills (<c>PUT /api/memberships/{id}/card</c>): only a saved card of the membership's
/// own patient in this organisation; a membership whose renewal the sandbox's decline card refused is charged the
/// missed period at once on the new card when the clinic asks (<c>chargeNow</c>), once however often it is asked.
/// </summary>
public sealed class MembershipCardTests(MembershipFactory factory) : IClassFixture<MembershipFactory>
{
    private sealed record World(TestTenant Tenant, HttpClient Owner, HttpClient Desk, Guid PatientId, string Card, Guid PlanId) : IDisposable
    {
        public void Dispose()
        {
            Owner.Dispose();
            Desk.Dispose();
        }
    }

    private async Task<World> WorldAsync()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var facial = await owner.CreateServiceAsync("HydraFacial", 15000);
        var planId = await owner.CreatePlanAsync(facial);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var (patientId, card) = await tenant.CreatePatientWithCardAsync(desk);
        return new World(tenant, owner, desk, patientId, card, planId);
    }

    private static async Task<string> SaveCardAsync(HttpClient desk, Guid patientId, string method) =>
        (await desk.SendAsync(HttpMethod.Post, $"/api/patients/{patientId}/cards", new { paymentMethodId = method }, HttpStatusCode.Created))
        .GetProperty("paymentMethodId").GetString()!;

    private static Task<(HttpStatusCode Status, JsonElement Body)> ChangeCardAsync(HttpClient client, Guid id, string? paymentMethodId, bool? chargeNow = null) =>
        client.TrySendAsync(HttpMethod.Put, $"/api/memberships/{id}/card", new { paymentMethodId, chargeNow });

    private static DateOnly PeriodStart(DateOnly start, int period) => MembershipCalendar.PeriodStart(start, BillingInterval.Monthly, period);

    [Fact]
    public async Task A_declined_renewal_is_charged_at_once_on_the_new_card_when_the_clinic_asks_and_only_once()
    {
        using var w = await WorldAsync();
        var enrolled = await w.Desk.EnrolAsync(w.Tenant, w.PatientId, w.PlanId);
        var id = enrolled.GetProperty("id").GetGuid();
        var start = enrolled.Date("startDate");

        // The membership now bills the sandbox's decline card: its renewal is refused.
        var declining = await SaveCardAsync(w.Desk, w.PatientId, "pm_card_chargeDeclined");
        var toDeclining = await ChangeCardAsync(w.Desk, id, declining);
        Assert.Equal(HttpStatusCode.OK, toDeclining.Status);
        Assert.Equal(declining, toDeclining.Body.GetProperty("paymentMethodId").GetString());
        var due = LocalMidnight(PeriodStart(start, 1));
        factory.Clock.MoveTo(due + TimeSpan.FromHours(1));
        var grain = factory.Membership(w.Tenant.TenantId, id);
        await grain.RunDueAsync();
        var pastDue = await w.Desk.SendAsync(HttpMethod.Get, $"/api/memberships/{id}", null);
        Assert.Equal("past-due", pastDue.GetProperty("status").GetString());
        Assert.Equal(1, pastDue.GetProperty("failedAttempts").GetInt32());
        Assert.Equal(due.AddDays(1), pastDue.GetProperty("nextChargeAt").GetDateTimeOffset());
        Assert.Equal(PaymentStatus.Declined, factory.Gateway.ChargesOf(id)[^1].Status);

        // Asking to charge now on a card that declines again: 402 with the network's code; the scheduled retries
        // keep their days (the desk's attempt used none of them).
        var stillDeclining = await ChangeCardAsync(w.Desk, id, declining, chargeNow: true);
        Assert.Equal(HttpStatusCode.PaymentRequired, stillDeclining.Status);
        Assert.Equal("payment_declined", stillDeclining.Body.GetProperty("code").GetString());
        Assert.Equal("generic_decline", stillDeclining.Body.GetProperty("declineCode").GetString());
        var unchanged = await w.Desk.SendAsync(HttpMethod.Get, $"/api/memberships/{id}", null);
        Assert.Equal((1, due.AddDays(1)), (unchanged.GetProperty("failedAttempts").GetInt32(), unchanged.GetProperty("nextChargeAt").GetDateTimeOffset()));

        // A good card, charged now: the missed period is paid, its benefits are there, the membership is active.
        var good = await SaveCardAsync(w.Desk, w.PatientId, "pm_card_mastercard");
        var paid = await ChangeCardAsync(w.Desk, id, good, chargeNow: true);
        Assert.Equal(HttpStatusCode.OK, paid.Status);
        Assert.Equal("active", paid.Body.GetProperty("status").GetString());
        Assert.Equal(good, paid.Body.GetProperty("paymentMethodId").GetString());
        Assert.Equal(1, paid.Body.GetProperty("currentPeriod").GetProperty("number").GetInt32());
        Assert.Equal(1, paid.Body.GetProperty("currentPeriod").GetProperty("sessions")[0].GetProperty("remaining").GetInt32());
        Assert.Equal(0, paid.Body.GetProperty("failedAttempts").GetInt32());
        Assert.Equal(LocalMidnight(PeriodStart(start, 2)), paid.Body.GetProperty("nextChargeAt").GetDateTimeOffset());
        var charges = factory.Gateway.ChargesOf(id);
        Assert.Equal(4, charges.Count); // enrolment, the declined renewal, the declined charge-now, the paid charge-now
        Assert.Equal((9900L, true, PaymentStatus.Succeeded), (charges[^1].Amount, charges[^1].OffSession, charges[^1].Status));

        // Asked again (a double click, a retry after a timeout), and the day's retry tick: nothing more is charged.
        var again = await ChangeCardAsync(w.Desk, id, good, chargeNow: true);
        Assert.Equal(HttpStatusCode.OK, again.Status);
        factory.Clock.MoveTo(due.AddDays(1) + TimeSpan.FromHours(1));
        await grain.RunDueAsync();
        Assert.Equal(4, factory.Gateway.ChargesOf(id).Count);

        Assert.Equal(
            [("succeeded", 0), ("declined", 1), ("declined", 1), ("succeeded", 1)],
            (await factory.ChargeRowsAsync(w.Tenant.TenantId, id)).Select(r => (r.Status, r.Period)));
        Assert.Equal(2, (await JournalCountsAsync(factory, w.Tenant.TenantId))["membership-fee"]);
        Assert.Equal(2 * 9900, await factory.AccountBalanceAsync(w.Tenant.TenantId, "card-clearing"));
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, w.Tenant.TenantId));

        // The next renewal bills the new card, on its own day.
        factory.Clock.MoveTo(LocalMidnight(PeriodStart(start, 2), TimeSpan.FromHours(1)));
        await grain.RunDueAsync();
        Assert.Equal(PaymentStatus.Succeeded, factory.Gateway.ChargesOf(id)[^1].Status);
        Assert.Equal(2, (await w.Desk.SendAsync(HttpMethod.Get, $"/api/memberships/{id}", null))
            .GetProperty("currentPeriod").GetProperty("number").GetInt32());
    }

    [Fact]
    public async Task Charge_now_with_nothing_due_charges_nothing()
    {
        using var w = await WorldAsync();
        var id = (await w.Desk.EnrolAsync(w.Tenant, w.PatientId, w.PlanId)).GetProperty("id").GetGuid();
        var other = await SaveCardAsync(w.Desk, w.PatientId, "pm_card_mastercard");
        var changed = await ChangeCardAsync(w.Desk, id, other, chargeNow: true);
        Assert.Equal(HttpStatusCode.OK, changed.Status);
        Assert.Equal(other, changed.Body.GetProperty("paymentMethodId").GetString());
        Assert.Single(factory.Gateway.ChargesOf(id));
    }

    [Fact]
    public async Task Only_a_saved_card_of_the_memberships_own_patient_in_this_organisation_is_accepted()
    {
        using var w = await WorldAsync();
        var id = (await w.Desk.EnrolAsync(w.Tenant, w.PatientId, w.PlanId)).GetProperty("id").GetGuid();

        // Another patient's card of the same clinic, another organisation's card, an unknown one, none at all: 400
        // naming the field, and the membership keeps billing its card.
        var (_, neighboursCard) = await w.Tenant.CreatePatientWithCardAsync(w.Desk);
        var otherTenant = await TestTenant.CreateAsync(factory);
        using var otherDesk = otherTenant.ClientFor(otherTenant.Owner);
        var (_, foreignCard) = await otherTenant.CreatePatientWithCardAsync(otherDesk);
        foreach (var card in new[] { neighboursCard, foreignCard, "pm_does_not_exist", null })
        {
            var refused = await ChangeCardAsync(w.Desk, id, card);
            Assert.Equal(HttpStatusCode.BadRequest, refused.Status);
            Assert.True(refused.Body.GetProperty("errors").TryGetProperty("paymentMethodId", out _));
        }

        Assert.Equal(w.Card, (await w.Desk.SendAsync(HttpMethod.Get, $"/api/memberships/{id}", null)).GetProperty("paymentMethodId").GetString());

        // Another organisation's staff do not see the membership; a provider may not change it.
        var foreign = await ChangeCardAsync(otherDesk, id, foreignCard);
        Assert.Equal((HttpStatusCode.NotFound, "membership_not_found"), (foreign.Status, foreign.Body.GetProperty("code").GetString()));
        using var provider = w.Tenant.ClientFor(await w.Tenant.CreateUserAsync("provider"));
        Assert.Equal(HttpStatusCode.Forbidden, (await ChangeCardAsync(provider, id, w.Card)).Status);

        // The patient changes the card of their own membership, but cannot ask for the immediate charge; another
        // patient does not see it.
        var second = await SaveCardAsync(w.Desk, w.PatientId, "pm_card_mastercard");
        using var patient = w.Tenant.ClientFor(await w.Tenant.CreatePatientUserAsync(w.PatientId));
        var own = await ChangeCardAsync(patient, id, second);
        Assert.Equal(HttpStatusCode.OK, own.Status);
        Assert.Equal(second, own.Body.GetProperty("paymentMethodId").GetString());
        var chargeNow = await ChangeCardAsync(patient, id, second, chargeNow: true);
        Assert.Equal((HttpStatusCode.Forbidden, "forbidden"), (chargeNow.Status, chargeNow.Body.GetProperty("code").GetString()));
        using var otherPatient = w.Tenant.ClientFor(await w.Tenant.CreatePatientUserAsync(await w.Tenant.CreatePatientAsync("Other", "One")));
        Assert.Equal(HttpStatusCode.NotFound, (await ChangeCardAsync(otherPatient, id, second)).Status);
        Assert.Single(factory.Gateway.ChargesOf(id));
    }
}
