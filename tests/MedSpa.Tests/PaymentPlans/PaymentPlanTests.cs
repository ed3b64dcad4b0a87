using System.Globalization;
using System.Net;
using System.Text.Json;
using MedSpa.Tests.Payments;
using MedSpa.Tests.TestHost;
using Orleans.Runtime;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.PaymentPlans.PaymentPlanRequests;

namespace MedSpa.Tests.PaymentPlans;

/// <summary>
/// Payment plans over the HTTP API and the plan grain's reminder entry point, on a fake plan clock: the previewed
/// schedule, the down payment, installments charged once each (reminder firing twice, a crash mid-charge), declines
/// retried after 1, 3 and 7 days then past-due, pay now with a new card, payoff, cancel, write-off, and every plan
/// ending closed with no reminder left.
/// </summary>
public sealed partial class PaymentPlanTests(PaymentPlanFactory factory) : IClassFixture<PaymentPlanFactory>
{
    private sealed record World(TestTenant Tenant, HttpClient Owner, HttpClient Desk, Guid InvoiceId, Guid PatientId) : IDisposable
    {
        public void Dispose()
        {
            Owner.Dispose();
            Desk.Dispose();
        }
    }

    private async Task<World> WorldAsync(long cents)
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var (invoiceId, patientId) = await tenant.OpenInvoiceWithCardAsync(desk, cents);
        return new World(tenant, owner, desk, invoiceId, patientId);
    }

    private static async Task<(Guid Id, JsonElement Plan)> CreateAsync(World w, object terms, string? key = null)
    {
        var plan = await w.Desk.SendAsync(HttpMethod.Post, "/api/payment-plans", terms, HttpStatusCode.Created, key ?? Guid.NewGuid().ToString("N"));
        return (plan.GetProperty("id").GetGuid(), plan);
    }

    private static async Task<JsonElement> GetAsync(World w, Guid id) => await w.Desk.SendAsync(HttpMethod.Get, $"/api/payment-plans/{id}", null);

    private static async Task<long> BalanceAsync(World w) => (await w.Desk.GetInvoiceAsync(w.InvoiceId)).Total("balanceDue");

    private async Task<long> StaffNoticesAsync(World w, Guid planId) => await factory.ScalarAsync<long>(
        "SELECT count(*) FROM notifications WHERE tenant_id = @TenantId AND kind = 'payment-plan-installment-failed' AND subject_id = @id",
        new { w.Tenant.TenantId, id = planId.ToString("D") });

    /// <summary>Moves the plan clock to an hour after a clinic-local day begins and runs the reminder's work.</summary>
    private async Task TickAsync(World w, Guid id, DateOnly day, int times = 1)
    {
        factory.Clock.MoveTo(LocalMidnight(day, TimeSpan.FromHours(1)));
        var grain = factory.Plan(w.Tenant.TenantId, id);
        await Task.WhenAll(Enumerable.Range(0, times).Select(_ => grain.RunDueAsync()));
    }

    [Fact]
    public async Task The_preview_shows_the_exact_schedule_and_accepting_charges_the_down_payment_once()
    {
        using var w = await WorldAsync(1000_00);
        var first = factory.Clock.ClinicToday().AddDays(10);
        var terms = Terms(w.InvoiceId, first, installments: 3, percent: 20m);
        var preview = await w.Desk.SendAsync(HttpMethod.Post, "/api/payment-plans/preview", terms);
        Assert.Equal(20000, preview.Amount("downPayment"));
        Assert.Equal([20000L, 26666L, 26666L, 26668L],
            preview.GetProperty("installments").EnumerateArray().Select(i => i.Amount("amount")));
        Assert.Equal(first.AddMonths(2), preview.DueDate(3));
        // The preview charged and saved nothing.
        Assert.Equal((0, 0, 0), factory.Gateway.CountsFor(w.InvoiceId));
        Assert.Equal(1000_00, await BalanceAsync(w));

        var key = Guid.NewGuid().ToString("N");
        var (id, plan) = await CreateAsync(w, terms, key);
        Assert.Equal("active", plan.Status());
        Assert.Equal(20000, plan.Amount("paid"));
        Assert.Equal(80000, plan.Amount("remaining"));
        Assert.Equal(["paid", "scheduled", "scheduled", "scheduled"], plan.InstallmentStatuses());
        Assert.Equal(LocalMidnight(first), plan.GetProperty("nextChargeAt").GetDateTimeOffset());
        Assert.Equal(80000, await BalanceAsync(w));
        // The same Idempotency-Key answers the same plan and charges nothing more; a second plan for the invoice is refused.
        var replay = await w.Desk.SendAsync(HttpMethod.Post, "/api/payment-plans", terms, HttpStatusCode.Created, key);
        Assert.Equal(id, replay.GetProperty("id").GetGuid());
        var (status, second) = await w.Desk.TrySendAsync(HttpMethod.Post, "/api/payment-plans", terms, Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Equal("payment_plan_exists", second.GetProperty("code").GetString());
        Assert.Equal((1, 1, 0), factory.Gateway.CountsFor(w.InvoiceId));
        var listed = await w.Desk.SendAsync(HttpMethod.Get, $"/api/patients/{w.PatientId}/payment-plans", null);
        Assert.Equal(id, Assert.Single(listed.EnumerateArray()).GetProperty("id").GetGuid());
    }

    [Fact]
    public async Task Each_installment_is_charged_once_on_its_day_even_when_the_reminder_fires_twice_and_the_plan_completes()
    {
        using var w = await WorldAsync(300_01);
        var first = factory.Clock.ClinicToday().AddDays(3);
        var (id, _) = await CreateAsync(w, Terms(w.InvoiceId, first, installments: 3, frequency: "every-two-weeks"));
        Assert.Equal((0, 0, 0), factory.Gateway.CountsFor(w.InvoiceId)); // no down payment

        // The day before: nothing is due.
        await TickAsync(w, id, first.AddDays(-1));
        Assert.Equal((0, 0, 0), factory.Gateway.CountsFor(w.InvoiceId));

        await TickAsync(w, id, first, times: 2);
        await factory.Plan(w.Tenant.TenantId, id).RunDueAsync();
        Assert.Equal((1, 1, 0), factory.Gateway.CountsFor(w.InvoiceId));
        Assert.Equal(300_01 - 100_00, await BalanceAsync(w));
        var after1 = await GetAsync(w, id);
        Assert.Equal(["paid", "scheduled", "scheduled"], after1.InstallmentStatuses());
        Assert.Equal(LocalMidnight(first.AddDays(14)), after1.GetProperty("nextChargeAt").GetDateTimeOffset());

        await TickAsync(w, id, first.AddDays(14));
        await TickAsync(w, id, first.AddDays(28), times: 2);
        var done = await GetAsync(w, id);
        Assert.Equal("completed", done.Status());
        Assert.Equal(JsonValueKind.Null, done.GetProperty("nextChargeAt").ValueKind);
        Assert.Equal(300_01, done.Amount("paid"));
        Assert.Equal((3, 3, 0), factory.Gateway.CountsFor(w.InvoiceId));
        var invoice = await w.Desk.GetInvoiceAsync(w.InvoiceId);
        Assert.Equal("paid", invoice.GetProperty("status").GetString());
        Assert.Equal([10000L, 10000L, 10001L], invoice.GetProperty("tenders").EnumerateArray().Select(t => t.Amount("amount")));

        // Ledger: the installments are the invoice's card tenders (Dr card clearing, Cr receivable); everything balances.
        Assert.Equal(3, (await JournalCountsAsync(factory, w.Tenant.TenantId, w.InvoiceId))["tender"]);
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, w.Tenant.TenantId));
        var charges = await w.Desk.SendAsync(HttpMethod.Get, $"/api/payment-plans/{id}/charges", null);
        Assert.Equal([("succeeded", 1), ("succeeded", 2), ("succeeded", 3)],
            charges.EnumerateArray().Select(c => (c.GetProperty("status").GetString(), c.GetProperty("installment").GetInt32())));

        // A closed plan: nothing more is charged, whatever fires.
        await TickAsync(w, id, first.AddDays(60), times: 2);
        Assert.Equal((3, 3, 0), factory.Gateway.CountsFor(w.InvoiceId));
    }

    [Fact]
    public async Task A_declined_installment_is_retried_after_1_3_and_7_days_then_past_due_and_a_new_card_pays_it_at_once()
    {
        using var w = await WorldAsync(900_00);
        var first = factory.Clock.ClinicToday().AddDays(2);
        var (id, _) = await CreateAsync(w, Terms(w.InvoiceId, first, installments: 3));
        factory.Gateway.Decline(w.InvoiceId);
        var due = LocalMidnight(first);

        await TickAsync(w, id, first, times: 2);
        var failed = await GetAsync(w, id);
        Assert.Equal("active", failed.Status());
        Assert.Equal(["failed", "scheduled", "scheduled"], failed.InstallmentStatuses());
        Assert.Equal(due.AddDays(1), failed.GetProperty("nextChargeAt").GetDateTimeOffset());
        Assert.Equal(1, factory.Gateway.CountsFor(w.InvoiceId).Declined);
        Assert.Equal(1, await StaffNoticesAsync(w, id));
        Assert.True(await factory.ScalarAsync<long>(
            "SELECT count(*) FROM notification_messages WHERE tenant_id = @TenantId AND patient_id = @PatientId AND kind = 'installment-failed'",
            new { w.Tenant.TenantId, w.PatientId }) >= 1);

        foreach (var (day, next) in new[] { (1, 3), (3, 7) })
        {
            await TickAsync(w, id, first.AddDays(day));
            Assert.Equal(due.AddDays(next), (await GetAsync(w, id)).GetProperty("nextChargeAt").GetDateTimeOffset());
        }

        await TickAsync(w, id, first.AddDays(7));
        var pastDue = await GetAsync(w, id);
        Assert.Equal("past-due", pastDue.Status());
        // A past-due plan charges nothing by itself: its next wake-up is the end of the grace (then it is cancelled).
        await TickAsync(w, id, first.AddDays(8));
        Assert.Equal((0, 0, 4), factory.Gateway.CountsFor(w.InvoiceId));
        Assert.Equal(4, await StaffNoticesAsync(w, id));
        Assert.Equal(900_00, await BalanceAsync(w));

        // The patient's bank says no to this card: a new card, charged at once for the missed installment.
        factory.Gateway.Heal(w.InvoiceId);
        var card = await w.Desk.SendAsync(HttpMethod.Post, $"/api/patients/{w.PatientId}/cards", new { paymentMethodId = "pm_card_mastercard" },
            HttpStatusCode.Created);
        var mastercard = card.GetProperty("paymentMethodId").GetString();
        var recovered = await w.Desk.SendAsync(HttpMethod.Put, $"/api/payment-plans/{id}/card",
            new { paymentMethodId = mastercard, chargeNow = true }, HttpStatusCode.OK, Guid.NewGuid().ToString("N"));
        Assert.Equal("active", recovered.Status());
        Assert.Equal(["paid", "scheduled", "scheduled"], recovered.InstallmentStatuses());
        Assert.Equal(mastercard, recovered.GetProperty("paymentMethodId").GetString());
        Assert.Equal(600_00, await BalanceAsync(w));
        // Asking again charges nothing: nothing is due any more.
        await w.Desk.SendAsync(HttpMethod.Put, $"/api/payment-plans/{id}/card", new { paymentMethodId = mastercard, chargeNow = true },
            HttpStatusCode.OK, Guid.NewGuid().ToString("N"));
        var (nothing, problem) = await w.Desk.TrySendAsync(HttpMethod.Post, $"/api/payment-plans/{id}/pay-now", null, Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.Conflict, nothing);
        Assert.Equal("payment_plan_invalid_transition", problem.GetProperty("code").GetString());
        Assert.Equal((1, 1, 4), factory.Gateway.CountsFor(w.InvoiceId));

        var history = await w.Desk.SendAsync(HttpMethod.Get, $"/api/payment-plans/{id}/charges", null);
        Assert.Equal(["declined", "declined", "declined", "declined", "succeeded"],
            history.EnumerateArray().Select(c => c.GetProperty("status").GetString()));
        Assert.Equal("insufficient_funds", history[0].GetProperty("declineCode").GetString());
    }

    [Fact]
    public async Task A_crash_in_the_middle_of_a_charge_is_finished_after_reactivation_without_charging_twice()
    {
        using var w = await WorldAsync(200_00);
        var first = factory.Clock.ClinicToday().AddDays(1);
        var (id, _) = await CreateAsync(w, Terms(w.InvoiceId, first, installments: 2, frequency: "weekly"));
        // The silo "dies" as the card is captured: the grain calls fail, the plan and the invoice have saved their intent.
        factory.Gateway.Recording.FailWhen(w.InvoiceId, (op, _) => op == "capture" ? new InvalidOperationException("silo crashed") : null);
        await Assert.ThrowsAnyAsync<Exception>(() => TickAsync(w, id, first));
        factory.Gateway.Heal(w.InvoiceId);
        await factory.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);

        // The reminder fires again (twice): the same operation is finished, not repeated.
        await TickAsync(w, id, first, times: 2);
        var plan = await GetAsync(w, id);
        Assert.Equal(["paid", "scheduled"], plan.InstallmentStatuses());
        Assert.Equal(100_00, await BalanceAsync(w));
        var (created, captured, _) = factory.Gateway.CountsFor(w.InvoiceId);
        Assert.Equal((1, 1), (created, captured));
        Assert.Single((await w.Desk.GetInvoiceAsync(w.InvoiceId)).GetProperty("tenders").EnumerateArray());
    }

    [Fact]
    public async Task Every_plan_ends_closed_payoff_cancel_write_off_and_a_past_due_plan_after_its_grace()
    {
        // Payoff: the rest in one charge, completed.
        using var payoff = await WorldAsync(500_00);
        var first = factory.Clock.ClinicToday().AddDays(5);
        var (paidOff, _) = await CreateAsync(payoff, Terms(payoff.InvoiceId, first, installments: 4, down: 100_00));
        var done = await payoff.Desk.SendAsync(HttpMethod.Post, $"/api/payment-plans/{paidOff}/payoff", null, HttpStatusCode.OK, Guid.NewGuid().ToString("N"));
        Assert.Equal("completed", done.Status());
        Assert.Equal(0, await BalanceAsync(payoff));
        Assert.Equal((2, 2, 0), factory.Gateway.CountsFor(payoff.InvoiceId));

        // Cancel: nothing more is charged; the unpaid rest stays due on the invoice.
        using var cancel = await WorldAsync(300_00);
        var (cancelled, _) = await CreateAsync(cancel, Terms(cancel.InvoiceId, first, installments: 3));
        var c = await cancel.Desk.SendAsync(HttpMethod.Post, $"/api/payment-plans/{cancelled}/cancel", new { reason = "Patient asked" });
        Assert.Equal("cancelled", c.Status());
        Assert.Equal(300_00, await BalanceAsync(cancel));

        // Write-off: owner or admin only; the invoice's balance is written off and the plan closed.
        using var writeOff = await WorldAsync(400_00);
        var (written, _) = await CreateAsync(writeOff, Terms(writeOff.InvoiceId, first, installments: 2, percent: 25m));
        var (deskStatus, _) = await writeOff.Desk.TrySendAsync(HttpMethod.Post, $"/api/payment-plans/{written}/write-off", new { reason = "Hardship" });
        Assert.Equal(HttpStatusCode.Forbidden, deskStatus);
        var (missing, missingReason) = await writeOff.Owner.TrySendAsync(HttpMethod.Post, $"/api/payment-plans/{written}/write-off", new { });
        Assert.Equal(HttpStatusCode.BadRequest, missing);
        Assert.True(missingReason.GetProperty("errors").TryGetProperty("reason", out _));
        var wo = await writeOff.Owner.SendAsync(HttpMethod.Post, $"/api/payment-plans/{written}/write-off", new { reason = "Hardship" });
        Assert.Equal("written-off", wo.Status());
        Assert.Equal(0, await BalanceAsync(writeOff));
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, writeOff.Tenant.TenantId));

        // Past due, then the grace (30 days) ends: cancelled by the plan's own reminder.
        using var late = await WorldAsync(200_00);
        var (lateId, _) = await CreateAsync(late, Terms(late.InvoiceId, first, installments: 2));
        factory.Gateway.Decline(late.InvoiceId);
        foreach (var day in new[] { 0, 1, 3, 7 })
        {
            await TickAsync(late, lateId, first.AddDays(day));
        }

        var pastDue = await GetAsync(late, lateId);
        Assert.Equal("past-due", pastDue.Status());
        Assert.Equal(JsonValueKind.Null, pastDue.GetProperty("nextChargeAt").ValueKind);
        await TickAsync(late, lateId, first.AddDays(7 + 31));
        Assert.Equal("cancelled", (await GetAsync(late, lateId)).Status());
        factory.Gateway.Heal(late.InvoiceId);

        // Closed is closed: no action changes it, no tick charges anything, the grain holds no reminder.
        foreach (var (w, id) in new[] { (payoff, paidOff), (cancel, cancelled), (writeOff, written), (late, lateId) })
        {
            var counts = factory.Gateway.CountsFor(w.InvoiceId);
            await TickAsync(w, id, first.AddDays(90));
            var closed = await GetAsync(w, id);
            Assert.Contains(closed.Status(), new[] { "completed", "cancelled", "written-off" });
            Assert.Equal(JsonValueKind.Null, closed.GetProperty("nextChargeAt").ValueKind);
            Assert.NotEqual(JsonValueKind.Null, closed.GetProperty("closedAt").ValueKind);
            var (status, problem) = await w.Desk.TrySendAsync(HttpMethod.Post, $"/api/payment-plans/{id}/payoff", null, Guid.NewGuid().ToString("N"));
            Assert.Equal(HttpStatusCode.Conflict, status);
            Assert.Equal(closed.Status(), problem.GetProperty("currentStatus").GetString());
            Assert.Equal(counts, factory.Gateway.CountsFor(w.InvoiceId));
            Assert.Equal(0L, await factory.ScalarAsync<long>(
                "SELECT count(*) FROM payment_plans WHERE tenant_id = @TenantId AND id = @id AND status IN ('active', 'past-due')",
                new { w.Tenant.TenantId, id }));
        }
    }

    [Fact]
    public async Task Bad_terms_are_400s_naming_the_field_and_another_organisations_plan_or_invoice_is_not_found()
    {
        using var w = await WorldAsync(100_00);
        var today = factory.Clock.ClinicToday();
        foreach (var (terms, field) in new (object, string)[]
        {
            (new { invoiceId = w.InvoiceId, installments = 3, frequency = "fortnightly", firstDate = today.AddDays(3).ToString("O", CultureInfo.InvariantCulture) }, "frequency"),
            (new { invoiceId = w.InvoiceId, installments = 0, frequency = "monthly", firstDate = today.AddDays(3).ToString("O", CultureInfo.InvariantCulture) }, "installments"),
            (new { invoiceId = w.InvoiceId, installments = 3, frequency = "monthly", firstDate = today.ToString("O", CultureInfo.InvariantCulture) }, "firstDate"),
            (new { invoiceId = w.InvoiceId, installments = 3, frequency = "monthly", firstDate = today.AddDays(3).ToString("O", CultureInfo.InvariantCulture),
                downPayment = Usd(100_00) }, "downPayment"),
        })
        {
            var (status, problem) = await w.Desk.TrySendAsync(HttpMethod.Post, "/api/payment-plans/preview", terms);
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"{field}: {problem}");
        }

        var (_, plan) = await CreateAsync(w, Terms(w.InvoiceId, today.AddDays(3)));
        var id = plan.GetProperty("id").GetGuid();

        using var other = await WorldAsync(100_00);
        var (getStatus, notFound) = await other.Desk.TrySendAsync(HttpMethod.Get, $"/api/payment-plans/{id}", null);
        Assert.Equal(HttpStatusCode.NotFound, getStatus);
        Assert.Equal("payment_plan_not_found", notFound.GetProperty("code").GetString());
        var (payStatus, _) = await other.Desk.TrySendAsync(HttpMethod.Post, $"/api/payment-plans/{id}/payoff", null, Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.NotFound, payStatus);
        var (invoiceStatus, _) = await other.Desk.TrySendAsync(HttpMethod.Post, "/api/payment-plans",
            Terms(w.InvoiceId, today.AddDays(3)), Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.NotFound, invoiceStatus);
        Assert.Equal(100_00, await BalanceAsync(w));
        Assert.Equal((0, 0, 0), factory.Gateway.CountsFor(w.InvoiceId));
    }
}
