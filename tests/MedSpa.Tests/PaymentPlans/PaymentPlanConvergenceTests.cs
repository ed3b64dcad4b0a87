using System.Net;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.PaymentPlans;
using MedSpa.Tests.Cluster;
using Orleans.Runtime;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.PaymentPlans.PaymentPlanRequests;

namespace MedSpa.Tests.PaymentPlans;

/// <summary>
/// Issue 19 §1 for payment plans: accepting a plan changes the plan and its invoice (the down payment), writing it off
/// changes the invoice then the plan. A failure between the steps (an answer lost as a dying silo loses it, the reminder
/// table refusing a row) converges: the api's re-execution reaches the same plan, the reminder is registered before
/// anything is saved, and a write-off's intent is saved before the invoice is told.
/// </summary>
public sealed partial class PaymentPlanTests
{
    private static SiloUnavailableException SiloDied() => new("The silo died after the grain's work, before its answer (injected).");

    [Fact]
    public async Task A_plan_whose_create_answer_was_lost_is_answered_201_with_the_one_plan_made_and_its_down_payment_charged_once()
    {
        using var w = await WorldAsync(1000_00);
        var terms = Terms(w.InvoiceId, factory.Clock.ClinicToday().AddDays(10), installments: 3, percent: 20m);
        factory.GrainCalls.LoseNextAnswers(w.Tenant.TenantId, nameof(IPaymentPlanGrain.CreateAsync), SiloDied());

        // The plan was made and the down payment charged, then the answer lost: the api executes the keyed request again.
        var plan = await w.Desk.SendAsync(HttpMethod.Post, "/api/payment-plans", terms, HttpStatusCode.Created, Guid.NewGuid().ToString("N"));

        Assert.Equal(2, factory.GrainCalls.Passed(w.Tenant.TenantId, nameof(IPaymentPlanGrain.CreateAsync)));
        var id = plan.GetProperty("id").GetGuid();
        Assert.Equal(20000, plan.Amount("paid"));
        Assert.Equal((1, 1, 0), factory.Gateway.CountsFor(w.InvoiceId));
        Assert.Equal(80000, await BalanceAsync(w));
        var listed = await w.Desk.SendAsync(HttpMethod.Get, $"/api/patients/{w.PatientId}/payment-plans", null);
        Assert.Equal(id, Assert.Single(listed.EnumerateArray()).GetProperty("id").GetGuid());
    }

    [Fact]
    public async Task A_plan_whose_reminder_cannot_be_registered_is_not_made_and_its_retry_makes_it_with_its_reminder()
    {
        using var w = await WorldAsync(600_00);
        var id = Guid.NewGuid();
        var grain = factory.Plan(w.Tenant.TenantId, id);
        var command = new CreatePaymentPlanCommand(w.InvoiceId, null, 10m, 3, PlanFrequency.Monthly, factory.Clock.ClinicToday().AddDays(10),
            null, Guid.NewGuid());

        await using (await RemindersRefused.ForAsync(factory.ConnectionString, id))
        {
            await Assert.ThrowsAnyAsync<Exception>(() => grain.CreateAsync(command));
        }

        // Nothing saved nor charged: a plan without its reminder would never charge an installment.
        Assert.Equal(PaymentPlanRefusals.NotFound, (await grain.GetAsync()).Refusal?.Code);
        Assert.Equal((0, 0, 0), factory.Gateway.CountsFor(w.InvoiceId));
        Assert.Equal(0, await RemindersRefused.CountAsync(factory.ConnectionString, id));

        var made = await grain.CreateAsync(command);
        Assert.Equal(id, made.Plan?.Id);
        Assert.Equal(1, await RemindersRefused.CountAsync(factory.ConnectionString, id));
        Assert.Equal((1, 1, 0), factory.Gateway.CountsFor(w.InvoiceId));
    }

    [Fact]
    public async Task A_plan_whose_silo_died_after_its_down_payment_is_accepted_by_its_reminder_with_the_down_payment_charged_once()
    {
        using var w = await WorldAsync(500_00);
        var id = Guid.NewGuid();
        var grain = factory.Plan(w.Tenant.TenantId, id);
        var command = new CreatePaymentPlanCommand(w.InvoiceId, null, 20m, 2, PlanFrequency.Monthly, factory.Clock.ClinicToday().AddDays(10),
            null, Guid.NewGuid());
        // The invoice charged the down payment; its answer to the plan was lost.
        factory.GrainCalls.LoseNextAnswers(w.Tenant.TenantId, "PayAsync", SiloDied());

        await Assert.ThrowsAnyAsync<Exception>(() => grain.CreateAsync(command));

        // Nobody calls the plan again: the reminder registered before the down payment is what finishes it.
        Assert.Equal(1, await RemindersRefused.CountAsync(factory.ConnectionString, id));
        var ticked = await grain.RunDueAsync();
        Assert.Equal(PaymentPlanStatus.Active, ticked.Plan?.Status);
        Assert.Equal(10000, ticked.Plan!.Paid.Amount);
        Assert.Equal((1, 1, 0), factory.Gateway.CountsFor(w.InvoiceId));
        Assert.Equal(400_00, await BalanceAsync(w));
        Assert.Equal(1, await RemindersRefused.CountAsync(factory.ConnectionString, id));
    }

    [Fact]
    public async Task A_write_off_whose_invoice_answer_was_lost_ends_the_plan_written_off_not_completed()
    {
        using var w = await WorldAsync(300_00);
        var (id, _) = await CreateAsync(w, Terms(w.InvoiceId, factory.Clock.ClinicToday().AddDays(10), installments: 3));
        // The invoice wrote its balance off; its answer to the plan was lost (the plan's own call comes back first).
        factory.GrainCalls.LoseNextAnswers(w.Tenant.TenantId, nameof(IPaymentPlanGrain.WriteOffAsync), SiloDied());

        var (status, _) = await w.Owner.TrySendAsync(HttpMethod.Post, $"/api/payment-plans/{id}/write-off", new { reason = "Hardship" });

        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal(0, await BalanceAsync(w));
        // The plan's tick finishes the write-off it saved first (without it the plan stays active, its installments
        // settled by the zero balance, and it ends "completed").
        await TickAsync(w, id, factory.Clock.ClinicToday().AddDays(10));
        var plan = await GetAsync(w, id);
        Assert.Equal("written-off", plan.Status());
        Assert.Equal("Hardship", plan.GetProperty("closeReason").GetString());
        Assert.Equal((0, 0, 0), factory.Gateway.CountsFor(w.InvoiceId));
    }
}
