using System.Net;
using MedSpa.Tests.TestHost;
using MedSpa.Tests.Payments.StripeMock;
using static MedSpa.Tests.Checkout.CheckoutRequests;

namespace MedSpa.Tests.Checkout;

/// <summary>Checkout with the server's gateway on Stripe (Stripe.net), against the loopback Stripe mock: what reaches
/// Stripe for split tenders, declines, outages and refunds, with the idempotency keys the invoice derives.</summary>
public sealed class StripeCheckoutTests(StripeMockApiFactory factory) : IClassFixture<StripeMockApiFactory>
{
    private static object Card(long cents, string method = "pm_card_visa") => new { kind = "credit", amount = Usd(cents), paymentMethodId = method };

    private async Task<(TestTenant Tenant, HttpClient Desk, Guid InvoiceId)> OpenInvoiceAsync(long cents)
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var invoiceId = await desk.CreateInvoiceAsync(tenant.ClinicId);
        await desk.AddLineAsync(invoiceId, Line(cents));
        await desk.OpenAsync(invoiceId);
        return (tenant, desk, invoiceId);
    }

    private List<StripeMockRequest> RequestsFor(Guid invoiceId) =>
        factory.Stripe.Requests.Where(r => r.IdempotencyKey?.StartsWith($"inv_{invoiceId:N}_", StringComparison.Ordinal) == true).ToList();

    [Fact]
    public async Task A_decline_after_a_reservation_cancels_the_reserved_payment_intent_at_stripe()
    {
        var (tenant, desk, invoiceId) = await OpenInvoiceAsync(10000);
        var (status, problem) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments",
            new { tenders = new[] { Card(6000), Card(4000, "pm_card_chargeDeclined") } }, Guid.NewGuid().ToString("N"));

        Assert.Equal(HttpStatusCode.PaymentRequired, status);
        Assert.Equal("generic_decline", problem.GetProperty("declineCode").GetString());
        Assert.Equal(1, problem.GetProperty("tenderIndex").GetInt32());
        var sent = RequestsFor(invoiceId);
        var creates = sent.Where(r => r.Path == "/v1/payment_intents").ToList();
        Assert.Equal(2, creates.Count);
        Assert.All(creates, r => Assert.Equal("manual", r.Fields.Single(f => f.Key == "capture_method").Value));
        Assert.EndsWith("_0:reserve", creates[0].IdempotencyKey);
        Assert.EndsWith("_1:reserve", creates[1].IdempotencyKey);
        var cancel = Assert.Single(sent, r => r.Path.EndsWith("/cancel", StringComparison.Ordinal));
        var reserved = cancel.Path.Split('/')[3];
        Assert.Equal("canceled", factory.Stripe.Find(reserved)!["status"]!.GetValue<string>());
        Assert.DoesNotContain(sent, r => r.Path.EndsWith("/capture", StringComparison.Ordinal));

        var invoice = await desk.GetInvoiceAsync(invoiceId);
        Assert.Empty(invoice.GetProperty("tenders").EnumerateArray());
        Assert.Equal(new Dictionary<string, int> { ["sale"] = 1 }, await JournalCountsAsync(factory, tenant.TenantId, invoiceId));
    }

    [Fact]
    public async Task Stripe_down_answers_503_with_nothing_applied_and_the_retry_pays_with_fresh_keys()
    {
        var (tenant, desk, invoiceId) = await OpenInvoiceAsync(10000);
        // Every attempt of the first reservation (the adapter retries 3 times) gets a 503.
        factory.Stripe.FailNext(4, StripeMockFailure.ServiceUnavailable);
        var key = Guid.NewGuid().ToString("N");
        var body = new { tenders = new object[] { new { kind = "cash", amount = Usd(1000) }, Card(9000) } };
        var (status, problem) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments", body, key);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("payment_gateway_unavailable", problem.GetProperty("code").GetString());
        // Whether Stripe made the payment is unknown after the failures, so undoing the payment asks again with the same
        // key once Stripe answers, and cancels what that answer names: nothing is left authorised.
        var attempts = RequestsFor(invoiceId);
        Assert.Equal(6, attempts.Count);
        Assert.Single(attempts.Take(5).Select(a => a.IdempotencyKey).Distinct());
        Assert.EndsWith("/cancel", attempts[5].Path);
        Assert.Equal("canceled", factory.Stripe.Find(attempts[5].Path.Split('/')[3])!["status"]!.GetValue<string>());
        var invoice = await desk.GetInvoiceAsync(invoiceId);
        Assert.Empty(invoice.GetProperty("tenders").EnumerateArray());
        Assert.Equal(new Dictionary<string, int> { ["sale"] = 1 }, await JournalCountsAsync(factory, tenant.TenantId, invoiceId));

        var paid = await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments", body, idempotencyKey: key);
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        var retry = RequestsFor(invoiceId).Skip(6).ToList();
        Assert.Equal(
            ["/v1/payment_intents", "capture"], retry.Select(r => r.Path.EndsWith("/capture", StringComparison.Ordinal) ? "capture" : r.Path));
        Assert.NotEqual(attempts[0].IdempotencyKey, retry[0].IdempotencyKey);
        var paymentId = paid.GetProperty("tenders")[1].GetProperty("card").GetProperty("paymentId").GetString()!;
        Assert.Equal("succeeded", factory.Stripe.Find(paymentId)!["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_partial_card_refund_reaches_stripe_once()
    {
        var (_, desk, invoiceId) = await OpenInvoiceAsync(8000);
        var paid = await desk.PayAsync(invoiceId, new[] { Card(8000, "pm_card_mastercard") });
        var tender = paid.GetProperty("tenders")[0];
        var paymentId = tender.GetProperty("card").GetProperty("paymentId").GetString()!;
        Assert.Equal("mastercard", tender.GetProperty("card").GetProperty("card").GetProperty("brand").GetString());
        Assert.Equal("pass", tender.GetProperty("card").GetProperty("card").GetProperty("cvcCheck").GetString());

        var refundKey = Guid.NewGuid().ToString("N");
        var refund = new { tenderId = tender.GetProperty("id").GetGuid(), amount = Usd(3000) };
        var refunded = await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds", refund, idempotencyKey: refundKey);
        await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds", refund, idempotencyKey: refundKey);

        var refunds = RequestsFor(invoiceId).Where(r => r.Path == "/v1/refunds").ToList();
        var sent = Assert.Single(refunds);
        Assert.Equal(paymentId, sent.Fields.Single(f => f.Key == "payment_intent").Value);
        Assert.Equal("3000", sent.Fields.Single(f => f.Key == "amount").Value);
        Assert.Contains("_refund_", sent.IdempotencyKey);
        var stripeRefund = factory.Stripe.Find(refunded.GetProperty("refunds")[0].GetProperty("gatewayRefundId").GetString()!)!;
        Assert.Equal((3000L, paymentId), (stripeRefund["amount"]!.GetValue<long>(), stripeRefund["payment_intent"]!.GetValue<string>()));
        Assert.Equal(3000, (await desk.GetInvoiceAsync(invoiceId)).Total("refunded"));
    }

    /// <summary>
    /// Tip adjustment on Stripe: lowering refunds the difference on the card's PaymentIntent; raising charges the
    /// difference as a new PaymentIntent on the same payment method (reserved with manual capture, then captured).
    /// </summary>
    [Fact]
    public async Task A_lowered_tip_is_refunded_and_a_raised_tip_charged_at_stripe()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var provider = await Receipts.ReceiptRequests.CreateProviderAsync(tenant, "Dr. Ana Rivera");
        var invoiceId = await desk.CreateInvoiceAsync(tenant.ClinicId);
        await desk.AddLineAsync(invoiceId, Line(20000, providerId: provider));
        object Tip(int percent) => new { kind = "percent", percent, split = new { kind = "single-provider", providerId = provider } };
        await desk.SendAsync(HttpMethod.Put, $"/api/invoices/{invoiceId}/tip", Tip(20));
        await desk.OpenAsync(invoiceId);
        var paid = await desk.PayAsync(invoiceId, new[] { Card(24000) });
        var paymentId = paid.GetProperty("tenders")[0].GetProperty("card").GetProperty("paymentId").GetString()!;

        var lowered = await desk.SendAsync(
            HttpMethod.Post, $"/api/invoices/{invoiceId}/tip-adjustments", Tip(15), idempotencyKey: Guid.NewGuid().ToString("N"));
        Assert.Equal((3000L, 1000L, "paid"), (lowered.Total("tips"), lowered.Total("tipRefunded"), lowered.GetProperty("status").GetString()));
        var refund = Assert.Single(RequestsFor(invoiceId), r => r.Path == "/v1/refunds");
        Assert.Equal(
            (paymentId, "1000"), (refund.Fields.Single(f => f.Key == "payment_intent").Value, refund.Fields.Single(f => f.Key == "amount").Value));

        var raised = await desk.SendAsync(
            HttpMethod.Post, $"/api/invoices/{invoiceId}/tip-adjustments", Tip(25), idempotencyKey: Guid.NewGuid().ToString("N"));
        Assert.Equal((5000L, "paid", 0L), (raised.Total("tips"), raised.GetProperty("status").GetString(), raised.Total("balanceDue")));
        var extra = raised.GetProperty("tenders")[1];
        Assert.Equal(2000, extra.Amount("amount"));
        var extraId = extra.GetProperty("card").GetProperty("paymentId").GetString()!;
        Assert.NotEqual(paymentId, extraId);
        var intent = factory.Stripe.Find(extraId)!;
        Assert.Equal(("succeeded", 2000L), (intent["status"]!.GetValue<string>(), intent["amount"]!.GetValue<long>()));
        Assert.Single(RequestsFor(invoiceId), r => r.Path == $"/v1/payment_intents/{extraId}/capture");
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, tenant.TenantId));
    }
}
