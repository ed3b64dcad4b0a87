using System.Net;
using System.Text.Json;
using MedSpa.GrainInterfaces.Memberships;
using MedSpa.GrainInterfaces.Payments;
using MedSpa.Grains.Domain.Memberships;
using MedSpa.Tests.Payments;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.Memberships.MembershipRequests;

namespace MedSpa.Tests.Memberships;

/// <summary>
/// Enrolment, renewal through the reminder entry point, failure → retries → skip, pause/resume and cancellation, over
/// the HTTP API and the membership grain, on a fake membership clock.
/// </summary>
public sealed partial class MembershipRenewalTests(MembershipFactory factory) : IClassFixture<MembershipFactory>
{
    private sealed record World(TestTenant Tenant, HttpClient Owner, HttpClient Desk, Guid PatientId, string Card, Guid PlanId) : IDisposable
    {
        public void Dispose()
        {
            Owner.Dispose();
            Desk.Dispose();
        }
    }

    private async Task<World> WorldAsync(int minimumTerm = 1, int notice = 0)
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var facial = await owner.CreateServiceAsync("HydraFacial", 15000);
        var planId = await owner.CreatePlanAsync(facial, minimumTerm, notice);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var (patientId, card) = await tenant.CreatePatientWithCardAsync(desk);
        return new World(tenant, owner, desk, patientId, card, planId);
    }

    private static async Task<(Guid Id, DateOnly Start)> EnrolAsync(World w, string? key = null)
    {
        var enrolled = await w.Desk.EnrolAsync(w.Tenant, w.PatientId, w.PlanId, key);
        return (enrolled.GetProperty("id").GetGuid(), enrolled.Date("startDate"));
    }

    private static async Task<JsonElement> GetAsync(World w, Guid id) => await w.Desk.SendAsync(HttpMethod.Get, $"/api/memberships/{id}", null);

    private static DateOnly PeriodStart(DateOnly start, int period) => MembershipCalendar.PeriodStart(start, BillingInterval.Monthly, period);

    private async Task<long> NotificationsAsync(Guid tenantId, Guid membershipId) => await factory.ScalarAsync<long>(
        "SELECT count(*) FROM notifications WHERE tenant_id = @tenantId AND kind = 'membership-charge-failed' AND subject_id = @id",
        new { tenantId, id = membershipId.ToString("D") });

    [Fact]
    public async Task Enrolment_charges_the_first_period_once_and_each_renewal_once_even_when_the_reminder_fires_twice()
    {
        using var w = await WorldAsync();
        var key = Guid.NewGuid().ToString("N");
        var (id, start) = await EnrolAsync(w, key);
        var first = await GetAsync(w, id);
        Assert.Equal("active", first.GetProperty("status").GetString());
        Assert.Equal(0, first.GetProperty("currentPeriod").GetProperty("number").GetInt32());
        Assert.Equal(1, first.GetProperty("currentPeriod").GetProperty("sessions")[0].GetProperty("remaining").GetInt32());
        // The same Idempotency-Key answers the same membership and charges nothing more.
        var replay = await w.Desk.EnrolAsync(w.Tenant, w.PatientId, w.PlanId, key);
        Assert.Equal(id, replay.GetProperty("id").GetGuid());
        var enrolment = Assert.Single(factory.Gateway.ChargesOf(id));
        Assert.Equal((9900L, true, PaymentStatus.Succeeded), (enrolment.Amount, enrolment.OffSession, enrolment.Status));

        // Period 1 is due at the clinic's midnight of its first day; the reminder fires twice (even at once).
        var start1 = PeriodStart(start, 1);
        Assert.Equal(LocalMidnight(start1), first.GetProperty("nextChargeAt").GetDateTimeOffset());
        factory.Clock.MoveTo(LocalMidnight(start1, TimeSpan.FromHours(1)));
        var grain = factory.Membership(w.Tenant.TenantId, id);
        await Task.WhenAll(grain.RunDueAsync(), grain.RunDueAsync());
        await grain.RunDueAsync();

        var charges = factory.Gateway.ChargesOf(id);
        Assert.Equal(2, charges.Count);
        Assert.Equal(2, charges.Select(c => c.IdempotencyKey).Distinct().Count());
        var renewed = await GetAsync(w, id);
        Assert.Equal(1, renewed.GetProperty("currentPeriod").GetProperty("number").GetInt32());
        Assert.Equal(start1, renewed.GetProperty("currentPeriod").Date("start"));
        Assert.Equal(LocalMidnight(PeriodStart(start, 2)), renewed.GetProperty("nextChargeAt").GetDateTimeOffset());

        var history = await w.Desk.SendAsync(HttpMethod.Get, $"/api/memberships/{id}/charges", null);
        Assert.Equal([("succeeded", 0), ("succeeded", 1)],
            history.EnumerateArray().Select(c => (c.GetProperty("status").GetString(), c.GetProperty("period").GetInt32())).ToList());
        // Ledger: two fees; period 0's unused facial ($150) became breakage when it ended; everything balances.
        Assert.Equal(2, (await JournalCountsAsync(factory, w.Tenant.TenantId))["membership-fee"]);
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, w.Tenant.TenantId));
        Assert.Equal(-15000, await factory.AccountBalanceAsync(w.Tenant.TenantId, "revenue:membership-breakage"));
        Assert.Equal(-15000, await factory.AccountBalanceAsync(w.Tenant.TenantId, "membership-liability"));
        Assert.Equal(2 * 9900, await factory.AccountBalanceAsync(w.Tenant.TenantId, "card-clearing"));
    }

    [Fact]
    public async Task A_failed_renewal_is_retried_after_1_3_and_7_days_then_skipped_and_never_charged_later()
    {
        using var w = await WorldAsync();
        var (id, start) = await EnrolAsync(w);
        var grain = factory.Membership(w.Tenant.TenantId, id);
        factory.Gateway.Decline(id);
        var due = LocalMidnight(PeriodStart(start, 1));

        factory.Clock.MoveTo(due + TimeSpan.FromHours(1));
        await grain.RunDueAsync();
        await grain.RunDueAsync(); // a second tick at the same moment tries nothing more
        var pastDue = await GetAsync(w, id);
        Assert.Equal("past-due", pastDue.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, pastDue.GetProperty("currentPeriod").ValueKind); // no benefits while unpaid
        Assert.Equal(due.AddDays(1), pastDue.GetProperty("nextChargeAt").GetDateTimeOffset());
        Assert.Equal(2, factory.Gateway.ChargesOf(id).Count);
        Assert.Equal(1, await NotificationsAsync(w.Tenant.TenantId, id));

        foreach (var (day, next) in new[] { (1, 3), (3, 7) })
        {
            factory.Clock.MoveTo(due.AddDays(day) + TimeSpan.FromHours(1));
            await grain.RunDueAsync();
            Assert.Equal(due.AddDays(next), (await GetAsync(w, id)).GetProperty("nextChargeAt").GetDateTimeOffset());
        }

        factory.Clock.MoveTo(due.AddDays(7) + TimeSpan.FromHours(1));
        await grain.RunDueAsync();
        var skipped = await GetAsync(w, id);
        Assert.Equal("past-due", skipped.GetProperty("status").GetString());
        // The period is skipped: the next charge is period 2's own, on its own day.
        Assert.Equal(LocalMidnight(PeriodStart(start, 2)), skipped.GetProperty("nextChargeAt").GetDateTimeOffset());
        factory.Clock.MoveTo(due.AddDays(8));
        await grain.RunDueAsync();
        Assert.Equal(5, factory.Gateway.ChargesOf(id).Count); // enrolment + 4 attempts
        Assert.Equal(4, await NotificationsAsync(w.Tenant.TenantId, id));

        // The bank says yes again: period 2 is charged once, for one period (nothing of period 1 is caught up).
        factory.Gateway.Heal(id);
        factory.Clock.MoveTo(LocalMidnight(PeriodStart(start, 2), TimeSpan.FromHours(1)));
        await grain.RunDueAsync();
        var charges = factory.Gateway.ChargesOf(id);
        Assert.Equal(6, charges.Count);
        Assert.Equal((9900L, PaymentStatus.Succeeded), (charges[^1].Amount, charges[^1].Status));
        var recovered = await GetAsync(w, id);
        Assert.Equal("active", recovered.GetProperty("status").GetString());
        Assert.Equal(2, recovered.GetProperty("currentPeriod").GetProperty("number").GetInt32());

        Assert.Equal(
            [("succeeded", 0, 9900L), ("declined", 1, 9900L), ("declined", 1, 9900L), ("declined", 1, 9900L), ("declined", 1, 9900L),
                ("skipped", 1, 0L), ("succeeded", 2, 9900L)],
            (await factory.ChargeRowsAsync(w.Tenant.TenantId, id)).Select(r => (r.Status, r.Period, r.Amount)));
        Assert.Equal(2, (await JournalCountsAsync(factory, w.Tenant.TenantId))["membership-fee"]);
        Assert.Equal(2 * 9900, await factory.AccountBalanceAsync(w.Tenant.TenantId, "card-clearing"));
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, w.Tenant.TenantId));
    }

    [Fact]
    public async Task A_paused_membership_is_not_charged_and_resuming_after_its_period_starts_a_new_one_that_day()
    {
        using var w = await WorldAsync();
        var (id, start) = await EnrolAsync(w);
        var paused = await w.Desk.SendAsync(HttpMethod.Post, $"/api/memberships/{id}/pause", new { });
        Assert.Equal("paused", paused.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, paused.GetProperty("nextChargeAt").ValueKind);
        var again = await w.Desk.TrySendAsync(HttpMethod.Post, $"/api/memberships/{id}/pause", new { });
        Assert.Equal(HttpStatusCode.Conflict, again.Status);
        Assert.Equal("membership_invalid_transition", again.Body.GetProperty("code").GetString());
        Assert.Equal("paused", again.Body.GetProperty("currentStatus").GetString());

        var grain = factory.Membership(w.Tenant.TenantId, id);
        factory.Clock.MoveTo(LocalMidnight(PeriodStart(start, 1), TimeSpan.FromHours(1)));
        await grain.RunDueAsync();
        Assert.Single(factory.Gateway.ChargesOf(id));
        Assert.Equal(JsonValueKind.Null, (await GetAsync(w, id)).GetProperty("currentPeriod").ValueKind);

        var resumeDay = PeriodStart(start, 1).AddDays(5);
        factory.Clock.MoveTo(LocalMidnight(resumeDay, TimeSpan.FromHours(10)));
        var resumed = await w.Desk.SendAsync(HttpMethod.Post, $"/api/memberships/{id}/resume", new { });
        Assert.Equal("active", resumed.GetProperty("status").GetString());
        Assert.Equal(resumeDay, resumed.GetProperty("currentPeriod").Date("start"));
        Assert.Equal(resumeDay.AddMonths(1), resumed.GetProperty("currentPeriod").Date("end"));
        Assert.Equal(2, factory.Gateway.ChargesOf(id).Count);
        Assert.Equal(LocalMidnight(resumeDay.AddMonths(1)), resumed.GetProperty("nextChargeAt").GetDateTimeOffset());
    }

    [Fact]
    public async Task Resuming_within_the_paid_period_charges_nothing_until_the_next_renewal()
    {
        using var w = await WorldAsync();
        var (id, start) = await EnrolAsync(w);
        await w.Desk.SendAsync(HttpMethod.Post, $"/api/memberships/{id}/pause", new { });
        var resumed = await w.Desk.SendAsync(HttpMethod.Post, $"/api/memberships/{id}/resume", new { });
        Assert.Equal("active", resumed.GetProperty("status").GetString());
        Assert.Equal(0, resumed.GetProperty("currentPeriod").GetProperty("number").GetInt32());
        Assert.Equal(LocalMidnight(PeriodStart(start, 1)), resumed.GetProperty("nextChargeAt").GetDateTimeOffset());
        Assert.Single(factory.Gateway.ChargesOf(id));
    }

    [Fact]
    public async Task Cancelling_honours_the_minimum_term_bills_until_then_and_ends_the_membership()
    {
        using var w = await WorldAsync(minimumTerm: 3, notice: 0);
        var (id, start) = await EnrolAsync(w);
        var cancelled = await w.Desk.SendAsync(HttpMethod.Post, $"/api/memberships/{id}/cancel", new { reason = "Moving away" });
        Assert.Equal("cancelled", cancelled.GetProperty("status").GetString());
        Assert.Equal(PeriodStart(start, 3), cancelled.Date("endsOn"));
        var twice = await w.Desk.TrySendAsync(HttpMethod.Post, $"/api/memberships/{id}/cancel", new { });
        Assert.Equal(HttpStatusCode.Conflict, twice.Status);

        var grain = factory.Membership(w.Tenant.TenantId, id);
        for (var period = 1; period <= 3; period++)
        {
            factory.Clock.MoveTo(LocalMidnight(PeriodStart(start, period), TimeSpan.FromHours(1)));
            await grain.RunDueAsync();
        }

        // Periods 1 and 2 are within the term and billed; the membership ends where period 3 would start.
        Assert.Equal(3, factory.Gateway.ChargesOf(id).Count);
        var ended = await GetAsync(w, id);
        Assert.Equal("ended", ended.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, ended.GetProperty("nextChargeAt").ValueKind);
        // Three periods' facials went unused: all breakage, nothing left owed.
        Assert.Equal(-45000, await factory.AccountBalanceAsync(w.Tenant.TenantId, "revenue:membership-breakage"));
        Assert.Equal(0, await factory.AccountBalanceAsync(w.Tenant.TenantId, "membership-liability"));
        Assert.Equal("ended", await factory.ScalarAsync<string>(
            "SELECT status FROM memberships WHERE tenant_id = @TenantId AND id = @id", new { w.Tenant.TenantId, id }));
    }

    [Fact]
    public async Task Cancelling_after_the_term_with_notice_runs_to_the_end_of_the_period_the_notice_ends_in()
    {
        using var w = await WorldAsync(minimumTerm: 1, notice: 30);
        var (id, start) = await EnrolAsync(w);
        var cancelled = await w.Desk.SendAsync(HttpMethod.Post, $"/api/memberships/{id}/cancel", new { });
        Assert.Equal(MembershipTermRules.CancellationEffective(
            new MembershipPlanTerms(Guid.Empty, "x", BillingInterval.Monthly, new(9900, "USD"), [], null, false, 0, 0, 1, 30, []),
            start, start), cancelled.Date("endsOn"));
        Assert.True(cancelled.Date("endsOn") > start.AddDays(30));
    }

    [Fact]
    public async Task Enrolment_refusals_change_nothing()
    {
        using var w = await WorldAsync();
        // A card that declines: 402 with the network's code, no membership.
        var (declinedPatient, declinedCard) = await w.Tenant.CreatePatientWithCardAsync(w.Desk, "pm_card_chargeDeclined");
        var declined = await w.Desk.TrySendAsync(HttpMethod.Post, "/api/memberships",
            new { patientId = declinedPatient, planId = w.PlanId, clinicId = w.Tenant.ClinicId, paymentMethodId = declinedCard }, Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.PaymentRequired, declined.Status);
        Assert.Equal("payment_declined", declined.Body.GetProperty("code").GetString());
        Assert.Equal("generic_decline", declined.Body.GetProperty("declineCode").GetString());

        // No saved card.
        var bare = await w.Tenant.CreatePatientAsync("No", "Card");
        var noCard = await w.Desk.TrySendAsync(HttpMethod.Post, "/api/memberships",
            new { patientId = bare, planId = w.PlanId, clinicId = w.Tenant.ClinicId }, Guid.NewGuid().ToString("N"));
        Assert.Equal((HttpStatusCode.UnprocessableEntity, "no_saved_card"), (noCard.Status, noCard.Body.GetProperty("code").GetString()));

        // Another organisation's plan is not found; a missing field is named; the Idempotency-Key is required.
        var other = await TestTenant.CreateAsync(factory);
        using var otherOwner = other.ClientFor(other.Owner);
        var otherPlan = await otherOwner.CreatePlanAsync(await otherOwner.CreateServiceAsync("HydraFacial", 15000));
        var foreign = await w.Desk.TrySendAsync(HttpMethod.Post, "/api/memberships",
            new { patientId = w.PatientId, planId = otherPlan, clinicId = w.Tenant.ClinicId }, Guid.NewGuid().ToString("N"));
        Assert.Equal((HttpStatusCode.BadRequest, "membership_plan_not_found"), (foreign.Status, foreign.Body.GetProperty("code").GetString()));
        Assert.True(foreign.Body.GetProperty("errors").TryGetProperty("planId", out _));
        var missing = await w.Desk.TrySendAsync(HttpMethod.Post, "/api/memberships", new { planId = w.PlanId, clinicId = w.Tenant.ClinicId },
            Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.BadRequest, missing.Status);
        Assert.True(missing.Body.GetProperty("errors").TryGetProperty("patientId", out _));
        var noKey = await w.Desk.TrySendAsync(HttpMethod.Post, "/api/memberships",
            new { patientId = w.PatientId, planId = w.PlanId, clinicId = w.Tenant.ClinicId });
        Assert.Equal(HttpStatusCode.BadRequest, noKey.Status);

        Assert.Equal(0, await factory.ScalarAsync<long>("SELECT count(*) FROM memberships WHERE tenant_id = @TenantId", new { w.Tenant.TenantId }));
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, w.Tenant.TenantId));
        Assert.False((await JournalCountsAsync(factory, w.Tenant.TenantId)).ContainsKey("membership-fee"));

        // Enrolled once, the patient cannot enrol in the same plan again.
        await EnrolAsync(w);
        var twice = await w.Desk.TrySendAsync(HttpMethod.Post, "/api/memberships",
            new { patientId = w.PatientId, planId = w.PlanId, clinicId = w.Tenant.ClinicId }, Guid.NewGuid().ToString("N"));
        Assert.Equal((HttpStatusCode.Conflict, "already_member"), (twice.Status, twice.Body.GetProperty("code").GetString()));
    }

    [Fact]
    public async Task Memberships_are_seen_only_within_their_organisation_and_by_their_patient()
    {
        using var w = await WorldAsync();
        var (id, _) = await EnrolAsync(w);

        var other = await TestTenant.CreateAsync(factory);
        using var stranger = other.ClientFor(other.Owner);
        var foreign = await stranger.TrySendAsync(HttpMethod.Get, $"/api/memberships/{id}", null);
        Assert.Equal((HttpStatusCode.NotFound, "membership_not_found"), (foreign.Status, foreign.Body.GetProperty("code").GetString()));
        Assert.Equal(HttpStatusCode.NotFound, (await stranger.TrySendAsync(HttpMethod.Post, $"/api/memberships/{id}/pause", new { })).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await stranger.TrySendAsync(HttpMethod.Get, $"/api/memberships/{id}/charges", null)).Status);

        using var patient = w.Tenant.ClientFor(await w.Tenant.CreatePatientUserAsync(w.PatientId));
        var mine = await patient.SendAsync(HttpMethod.Get, "/api/me/memberships", null);
        Assert.Equal(id, Assert.Single(mine.EnumerateArray()).GetProperty("id").GetGuid());
        await patient.SendAsync(HttpMethod.Get, $"/api/memberships/{id}", null);
        Assert.Equal(HttpStatusCode.Forbidden, (await patient.TrySendAsync(HttpMethod.Post, $"/api/memberships/{id}/cancel", new { })).Status);

        using var otherPatient = w.Tenant.ClientFor(await w.Tenant.CreatePatientUserAsync(await w.Tenant.CreatePatientAsync("Other", "One")));
        Assert.Equal(HttpStatusCode.NotFound, (await otherPatient.TrySendAsync(HttpMethod.Get, $"/api/memberships/{id}", null)).Status);
        Assert.Empty((await otherPatient.SendAsync(HttpMethod.Get, "/api/me/memberships", null)).EnumerateArray());

        var list = await w.Desk.SendAsync(HttpMethod.Get, $"/api/patients/{w.PatientId}/memberships", null);
        Assert.Equal(id, Assert.Single(list.EnumerateArray()).GetProperty("id").GetGuid());
        Assert.Empty((await stranger.SendAsync(HttpMethod.Get, $"/api/patients/{w.PatientId}/memberships", null)).EnumerateArray());
    }
}
