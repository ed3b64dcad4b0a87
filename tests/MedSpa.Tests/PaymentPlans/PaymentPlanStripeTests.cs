using MedSpa.Grains.PaymentPlans;
using MedSpa.GrainInterfaces.PaymentPlans;
using MedSpa.Tests.Payments.StripeMock;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using System.Net;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.PaymentPlans.PaymentPlanRequests;

namespace MedSpa.Tests.PaymentPlans;

/// <summary>The server on Stripe (Stripe.net against the loopback mock) with the payment plan grains on a fake clock.</summary>
public sealed class PaymentPlanStripeFactory : StripeMockApiFactory
{
    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);

    public IPaymentPlanGrain Plan(Guid tenantId, Guid id) =>
        Services.GetRequiredService<IGrainFactory>().GetGrain<IPaymentPlanGrain>(PaymentPlanKeys.For(tenantId, id));

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureTestServices(services => services.AddSingleton(new PaymentPlanClock(Clock)));
    }
}

/// <summary>
/// Installments charged on Stripe under its failures: the connection dropped after Stripe charged (the answer lost), and
/// Stripe down for a while. What Stripe recorded is the proof: one succeeded PaymentIntent per installment, never two.
/// </summary>
public sealed class PaymentPlanStripeTests(PaymentPlanStripeFactory factory) : IClassFixture<PaymentPlanStripeFactory>
{
    [Fact]
    public async Task A_lost_answer_and_an_outage_never_charge_an_installment_twice_at_stripe()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(tenant.Owner);
        var (invoiceId, _) = await tenant.OpenInvoiceWithCardAsync(desk, 150_01);
        var first = factory.Clock.ClinicToday().AddDays(1);
        var plan = await desk.SendAsync(HttpMethod.Post, "/api/payment-plans", Terms(invoiceId, first, installments: 2, frequency: "weekly"),
            HttpStatusCode.Created, Guid.NewGuid().ToString("N"));
        var grain = factory.Plan(tenant.TenantId, plan.GetProperty("id").GetGuid());

        // Installment 1: Stripe creates the PaymentIntent, then the connection drops before the answer arrives; the
        // same key is sent again and Stripe replays its answer. The reminder fires twice.
        factory.Clock.MoveTo(LocalMidnight(first, TimeSpan.FromHours(1)));
        factory.Stripe.FailNext(1, StripeMockFailure.DropConnectionAfterProcessing);
        await Task.WhenAll(grain.RunDueAsync(), grain.RunDueAsync());
        var afterFirst = factory.Stripe.Requests.Count;

        // Installment 2: Stripe is down (every retry of the adapter fails): nothing is applied, the plan keeps the
        // charge and repeats the same operation on its next tick, when Stripe is back.
        factory.Clock.MoveTo(LocalMidnight(first.AddDays(7), TimeSpan.FromHours(1)));
        factory.Stripe.FailNext(4, StripeMockFailure.ServiceUnavailable);
        await grain.RunDueAsync();
        Assert.Equal(["paid", "due"], (await grain.GetAsync()).Plan!.Installments.Select(i => i.Status)); // its charge is kept, not declined
        factory.Clock.MoveTo(LocalMidnight(first.AddDays(7), TimeSpan.FromHours(3)));
        await grain.RunDueAsync();
        await grain.RunDueAsync();

        var done = (await grain.GetAsync()).Plan!;
        Assert.Equal(PaymentPlanStatus.Completed, done.Status);
        // What Stripe charged: the PaymentIntents anything was captured on, each once, for exactly the two installments.
        var captured = factory.Stripe.Requests.Where(r => r.Path.EndsWith("/capture", StringComparison.Ordinal) && r.StatusCode == 200)
            .Select(r => r.Path.Split('/')[3]).Distinct().ToList();
        Assert.Equal(2, captured.Count);
        Assert.All(captured, id => Assert.Equal("succeeded", factory.Stripe.Find(id)!["status"]!.GetValue<string>()));
        Assert.Equal([75_00L, 75_01L], captured.Select(id => factory.Stripe.Find(id)!["amount_received"]!.GetValue<long>()).Order());
        Assert.Equal(0, (await desk.GetInvoiceAsync(invoiceId)).Total("balanceDue"));
        Assert.Equal(2, (await desk.GetInvoiceAsync(invoiceId)).GetProperty("tenders").GetArrayLength());
        // The lost answer was replayed under the same key: installment 1's PaymentIntent was created under one key, sent twice.
        var firstCreates = factory.Stripe.Requests.Take(afterFirst)
            .Where(r => r.Path == "/v1/payment_intents" && r.IdempotencyKey?.StartsWith($"inv_{invoiceId:N}_", StringComparison.Ordinal) == true)
            .ToList();
        Assert.Equal(2, firstCreates.Count);
        Assert.Single(firstCreates.Select(r => r.IdempotencyKey).Distinct());
    }
}
