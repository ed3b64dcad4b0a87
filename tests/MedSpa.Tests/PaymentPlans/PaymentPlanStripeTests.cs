using MedSpa.Grains.PaymentPlans;
using MedSpa.GrainInterfaces.PaymentPlans;
using MedSpa.Tests.Payments.StripeMock;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Dapper;
using MedSpa.Tests.Payments;
using Npgsql;
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

    /// <summary>What both Stripe tests start from: a new tenant, an open invoice of <paramref name="cents"/> for a patient
    /// with a saved card, put on a plan of two weekly installments from tomorrow (clinic time).</summary>
    public async Task<WeeklyPlan> WeeklyPlanAsync(long cents)
    {
        var tenant = await TestTenant.CreateAsync(this);
        var desk = tenant.ClientFor(tenant.Owner);
        var (invoiceId, _) = await tenant.OpenInvoiceWithCardAsync(desk, cents);
        var first = Clock.ClinicToday().AddDays(1);
        var plan = await desk.SendAsync(HttpMethod.Post, "/api/payment-plans", Terms(invoiceId, first, installments: 2, frequency: "weekly"),
            HttpStatusCode.Created, Guid.NewGuid().ToString("N"));
        return new WeeklyPlan(tenant, desk, invoiceId, first, Plan(tenant.TenantId, plan.GetProperty("id").GetGuid()));
    }
}

public sealed record WeeklyPlan(TestTenant Tenant, HttpClient Desk, Guid InvoiceId, DateOnly First, IPaymentPlanGrain Grain) : IDisposable
{
    public void Dispose() => Desk.Dispose();
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
        using var setUp = await factory.WeeklyPlanAsync(150_01);
        var (_, desk, invoiceId, first, grain) = setUp;

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

/// <summary>Its own server and Stripe mock: what Stripe recorded is asserted whole by the tests above.</summary>
public sealed class PaymentPlanStripeWebhookTests(PaymentPlanStripeFactory factory) : IClassFixture<PaymentPlanStripeFactory>
{
    /// <summary>Stripe captures an installment and sends <c>payment_intent.succeeded</c> while its answer to the capture
    /// is still on the way: the webhook lands first (acknowledged, once), then the answer. The installment is charged
    /// once, the payment ends succeeded (the late answer does not move it back), and later ticks charge nothing.</summary>
    [Fact]
    public async Task A_webhook_arriving_before_the_charges_answer_never_charges_an_installment_twice()
    {
        using var setUp = await factory.WeeklyPlanAsync(90_00);
        var (tenant, desk, invoiceId, first, grain) = setUp;

        factory.Clock.MoveTo(LocalMidnight(first, TimeSpan.FromHours(1)));
        var hold = factory.Stripe.HoldNextAnswer("/capture");
        var tick = grain.RunDueAsync();
        var captured = JsonNode.Parse(await hold.Processed.Task.WaitAsync(TimeSpan.FromSeconds(60)))!;
        var paymentIntentId = captured["id"]!.GetValue<string>();
        Assert.Equal("succeeded", captured["status"]!.GetValue<string>());
        Assert.False(tick.IsCompleted); // the plan is still waiting for Stripe's answer

        // Stripe's event, signed as Stripe signs it, delivered while the capture's answer is held (and redelivered).
        var payload = $$"""
            {"id":"evt_{{Guid.NewGuid():N}}","object":"event","api_version":"2025-10-29.clover","created":{{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}},
             "data":{"object":{{factory.Stripe.Find(paymentIntentId)!.ToJsonString()}}},"livemode":false,"pending_webhooks":1,
             "request":{"id":null,"idempotency_key":null},"type":"payment_intent.succeeded"}
            """;
        var delivered = await DeliverAsync(payload);
        Assert.Equal(HttpStatusCode.OK, delivered.Status);
        Assert.False(delivered.Body.GetProperty("duplicate").GetBoolean());
        hold.Release();
        var answer = await tick.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Null(answer.Refusal);
        var redelivered = await DeliverAsync(payload);
        Assert.True(redelivered.Body.GetProperty("duplicate").GetBoolean());

        // Later ticks (the reminder firing again) and a flush change nothing.
        await grain.RunDueAsync();
        await grain.RunDueAsync();
        var view = (await grain.GetAsync()).Plan!;
        Assert.Equal(["paid", "scheduled"], view.Installments.Select(i => i.Status));
        Assert.Equal(45_00, view.Paid.Amount);
        var captures = factory.Stripe.Requests.Where(r => r.Path.EndsWith("/capture", StringComparison.Ordinal) && r.StatusCode == 200)
            .Select(r => r.Path.Split('/')[3]).Distinct().ToList();
        Assert.Equal([paymentIntentId], captures);
        Assert.Equal(45_00, factory.Stripe.Find(paymentIntentId)!["amount_received"]!.GetValue<long>());
        var invoice = await desk.GetInvoiceAsync(invoiceId);
        Assert.Equal(45_00, invoice.Total("balanceDue"));
        Assert.Equal(1, invoice.GetProperty("tenders").GetArrayLength());
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        var statuses = (await conn.QueryAsync<string>(
            "SELECT status FROM card_payments WHERE tenant_id = @TenantId AND invoice_id = @invoiceId", new { tenant.TenantId, invoiceId })).ToList();
        Assert.Equal(["succeeded"], statuses);
    }

    private async Task<(HttpStatusCode Status, System.Text.Json.JsonElement Body)> DeliverAsync(string payload)
    {
        using var client = factory.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/webhooks/stripe") { Content = new StringContent(payload, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Stripe-Signature", PaymentApiTestSupport.StripeSignature(payload, factory.WebhookSecret, DateTimeOffset.UtcNow));
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
        return (response.StatusCode, System.Text.Json.JsonDocument.Parse(text).RootElement.Clone());
    }
}
