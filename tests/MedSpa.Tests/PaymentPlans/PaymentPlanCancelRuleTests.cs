using System.Net;
using System.Text.Json;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Tests.Payments;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.PaymentPlans.PaymentPlanRequests;
using static MedSpa.Tests.PaymentPlans.PlanPackageWorld;

namespace MedSpa.Tests.PaymentPlans;

/// <summary>
/// Packages on a plan where the clinic lets 25% of a package's value be redeemed beyond what was paid, and the clinic's
/// cancel rule "refund of unused value" (issue 18 §1). The ledger is the proof: the receivable and the package liability
/// end at zero (never below), the cards are refunded at the gateway exactly what was paid and not used, and what was
/// used is revenue — nothing lost, nothing created.
/// </summary>
public sealed class PaymentPlanCancelRuleTests(AllowancePaymentPlanFactory factory) : IClassFixture<AllowancePaymentPlanFactory>
{
    private static async Task<Guid> PlanAsync(World w, DateOnly first)
    {
        var plan = await w.Desk.SendAsync(HttpMethod.Post, "/api/payment-plans", Terms(w.InvoiceId, first, installments: 3, percent: 25m),
            HttpStatusCode.Created, Guid.NewGuid().ToString("N"));
        Assert.Equal(100_00, plan.Amount("paid"));
        return plan.GetProperty("id").GetGuid();
    }

    [Fact]
    public async Task A_write_off_after_redeeming_into_the_allowance_leaves_the_package_liability_at_zero_and_books_the_rest_as_a_bad_debt()
    {
        using var w = await factory.WorldAsync();
        var planId = await PlanAsync(w, factory.Clock.ClinicToday().AddDays(10));
        // $100 paid and an allowance of 25% of $400: two sessions ($200) redeem, a third does not.
        await RedeemedAsync(w);
        await RedeemedAsync(w);
        await RefusedUnpaidAsync(w, 0);

        // The owner writes the unpaid $300 off. Its share of the package ($300) is more than the package still holds
        // ($200): the $100 redeemed beyond what was paid is a bad debt, not package liability released twice.
        await w.Owner.SendAsync(HttpMethod.Post, $"/api/payment-plans/{planId}/write-off", new { reason = "Hardship" });
        Assert.Equal(0, (await factory.Package(w).GetAsync()).Package!.LiabilityLeft.Amount);
        Assert.Equal(0, await factory.LedgerPackageLiabilityAsync(w));
        Assert.Equal(-100_00, await factory.LedgerAsync(w, "write-offs"));
        Assert.Equal(0, await factory.LedgerAsync(w, "accounts-receivable"));
        // Cash in ($100 on the card) = revenue ($200 redeemed) − the $100 bad debt.
        Assert.Equal(-100_00, await factory.LedgerAsync(w, "card-clearing"));
        Assert.Equal(200_00, await factory.LedgerAsync(w, "revenue"));
        await RefusedUnpaidAsync(w, 0);
    }

    [Fact]
    public async Task Cancelling_under_refund_of_unused_value_writes_the_rest_off_refunds_what_was_paid_and_not_used_on_the_cards_and_closes_everything()
    {
        using var w = await factory.WorldAsync();
        var settings = $"/api/clinics/{w.Tenant.ClinicId}/payment-plan-settings";
        Assert.Equal("balance-stays-due", (await w.Desk.SendAsync(HttpMethod.Get, settings, null)).GetProperty("cancelRule").GetString());
        var (forbidden, _) = await w.Desk.TrySendAsync(HttpMethod.Put, settings, new { cancelRule = "refund-unused" });
        Assert.Equal(HttpStatusCode.Forbidden, forbidden);
        var (bad, problem) = await w.Owner.TrySendAsync(HttpMethod.Put, settings, new { cancelRule = "refund-everything" });
        Assert.Equal(HttpStatusCode.BadRequest, bad);
        Assert.True(problem.GetProperty("errors").TryGetProperty("cancelRule", out _), problem.ToString());
        await w.Owner.SendAsync(HttpMethod.Put, settings, new { cancelRule = "refund-unused" });

        var first = factory.Clock.ClinicToday().AddDays(10);
        var planId = await PlanAsync(w, first);
        var plan = await w.Desk.SendAsync(HttpMethod.Get, $"/api/payment-plans/{planId}", null);
        await factory.TickAsync(w, planId, plan.DueDate(1));
        await factory.TickAsync(w, planId, plan.DueDate(2));
        Assert.Equal(300_00, (await w.Desk.SendAsync(HttpMethod.Get, $"/api/payment-plans/{planId}", null)).Amount("paid"));
        await RedeemedAsync(w); // $100 of the $300 paid is used

        // The desk cancels; the clinic's rule applies: the unpaid $100 is written off and the unused $200 refunded.
        var cancelled = await w.Desk.SendAsync(HttpMethod.Post, $"/api/payment-plans/{planId}/cancel", new { reason = "Moving away" });
        Assert.Equal("cancelled", cancelled.Status());
        Assert.Equal("refund-unused", cancelled.GetProperty("cancelRule").GetString());
        Assert.Equal(200_00, cancelled.GetProperty("refunded").GetProperty("amount").GetInt64());

        // At the gateway: the two installments' payments refunded whole (newest first), the down payment kept.
        var calls = factory.Gateway.Recording.CallsFor(w.InvoiceId);
        var refunds = calls.Where(c => c is { Operation: "refund", Error: null }).ToList();
        Assert.Equal([100_00L, 100_00L], refunds.Select(r => r.Amount!.Value));
        Assert.Equal(2, refunds.Select(r => r.PaymentId).Distinct().Count());
        var downPayment = calls.First(c => c is { Operation: "capture", Error: null }).PaymentId;
        Assert.DoesNotContain(refunds, r => r.PaymentId == downPayment);

        // The invoice is settled, the package closed as refunded with nothing left, and no more can be redeemed.
        var invoice = await w.Desk.GetInvoiceAsync(w.InvoiceId);
        Assert.Equal(0, invoice.Total("balanceDue"));
        var package = (await factory.Package(w).GetAsync()).Package!;
        Assert.Equal(PackageStatus.Refunded, package.Status);
        Assert.Equal(0, package.LiabilityLeft.Amount);
        Assert.NotEqual(HttpStatusCode.Created, (await RedeemAsync(w)).Status);

        // The ledger: receivable and package liability at zero; $300 charged − $200 refunded = the $100 used, as revenue.
        Assert.Equal(0, await factory.LedgerAsync(w, "accounts-receivable"));
        Assert.Equal(0, await factory.LedgerPackageLiabilityAsync(w));
        Assert.Equal(-100_00, await factory.LedgerAsync(w, "card-clearing"));
        Assert.Equal(100_00, await factory.LedgerAsync(w, "revenue"));

        // Closed: a second cancel is refused, and the last installment's day charges nothing.
        var (again, closed) = await w.Desk.TrySendAsync(HttpMethod.Post, $"/api/payment-plans/{planId}/cancel", new { });
        Assert.Equal(HttpStatusCode.Conflict, again);
        Assert.Equal("payment_plan_invalid_transition", closed.GetProperty("code").GetString());
        var captures = calls.Count(c => c.Operation == "capture");
        await factory.TickAsync(w, planId, plan.DueDate(3));
        Assert.Equal(captures, factory.Gateway.Recording.CallsFor(w.InvoiceId).Count(c => c.Operation == "capture"));
        Assert.Equal(2, factory.Gateway.Recording.CallsFor(w.InvoiceId).Count(c => c.Operation == "refund"));
    }

    [Fact]
    public async Task Refund_of_unused_value_is_refused_for_services_already_sold_and_the_balance_then_stays_due_by_the_cancels_own_rule()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var owner = tenant.ClientFor(tenant.Owner);
        await owner.SendAsync(HttpMethod.Put, $"/api/clinics/{tenant.ClinicId}/payment-plan-settings", new { cancelRule = "refund-unused" });
        var (invoiceId, _) = await tenant.OpenInvoiceWithCardAsync(owner, 300_00);
        var plan = await owner.SendAsync(HttpMethod.Post, "/api/payment-plans", Terms(invoiceId, factory.Clock.ClinicToday().AddDays(5), percent: 10m),
            HttpStatusCode.Created, Guid.NewGuid().ToString("N"));
        var cancel = $"/api/payment-plans/{plan.GetProperty("id").GetGuid()}/cancel";

        var (status, problem) = await owner.TrySendAsync(HttpMethod.Post, cancel, new { });
        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Equal("payment_plan_refund_not_possible", problem.GetProperty("code").GetString());
        var (bad, invalid) = await owner.TrySendAsync(HttpMethod.Post, cancel, new { rule = "refund-all" });
        Assert.Equal(HttpStatusCode.BadRequest, bad);
        Assert.True(invalid.GetProperty("errors").TryGetProperty("rule", out _), invalid.ToString());
        Assert.Equal("active", (await owner.SendAsync(HttpMethod.Get, $"/api/payment-plans/{plan.GetProperty("id").GetGuid()}", null)).Status());

        var cancelled = await owner.SendAsync(HttpMethod.Post, cancel, new { rule = "balance-stays-due" });
        Assert.Equal("cancelled", cancelled.Status());
        Assert.Equal("balance-stays-due", cancelled.GetProperty("cancelRule").GetString());
        Assert.Equal(270_00, (await owner.GetInvoiceAsync(invoiceId)).Total("balanceDue"));
        Assert.DoesNotContain(factory.Gateway.Recording.CallsFor(invoiceId), c => c.Operation == "refund");
    }
}
