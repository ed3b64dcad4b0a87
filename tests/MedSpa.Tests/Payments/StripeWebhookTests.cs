using System.Net;
using System.Text;
using System.Text.Json;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;

namespace MedSpa.Tests.Payments;

/// <summary>
/// The Stripe webhook against payloads shaped like Stripe's own events (API reference, "The Event object" and the
/// objects it carries), signed the way Stripe signs them.
/// </summary>
public sealed class StripeWebhookTests(WebhookApiFactory factory) : IClassFixture<WebhookApiFactory>
{
    private const string Url = "/api/webhooks/stripe";

    private static string NewId(string prefix) => prefix + "_" + Guid.NewGuid().ToString("N")[..24];

    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    private static string Event(string id, string type, string dataObject, string previousAttributes = "") => $$"""
        {
          "id": "{{id}}",
          "object": "event",
          "api_version": "2025-10-29.clover",
          "created": {{Now}},
          "data": {
            "object": {{dataObject}}{{(previousAttributes.Length > 0 ? ",\n    \"previous_attributes\": " + previousAttributes : "")}}
          },
          "livemode": false,
          "pending_webhooks": 1,
          "request": { "id": "req_{{Guid.NewGuid():N}}", "idempotency_key": "{{Guid.NewGuid()}}" },
          "type": "{{type}}"
        }
        """;

    private static string PaymentIntent(string id, string status, long amountReceived = 0, string lastPaymentError = "null",
        string? cancellationReason = null) => $$"""
        {
          "id": "{{id}}",
          "object": "payment_intent",
          "amount": 12500,
          "amount_capturable": 0,
          "amount_received": {{amountReceived}},
          "canceled_at": {{(cancellationReason is null ? "null" : Now.ToString(System.Globalization.CultureInfo.InvariantCulture))}},
          "cancellation_reason": {{(cancellationReason is null ? "null" : "\"" + cancellationReason + "\"")}},
          "capture_method": "automatic",
          "client_secret": "{{id}}_secret_abc",
          "confirmation_method": "automatic",
          "created": {{Now}},
          "currency": "usd",
          "customer": "cus_Pq1x2y3z",
          "description": "Invoice payment",
          "last_payment_error": {{lastPaymentError}},
          "latest_charge": "ch_3Q{{id[3..]}}",
          "livemode": false,
          "metadata": { "tenant_id": "t", "invoice_id": "i" },
          "payment_method": "pm_1QabcDEF",
          "payment_method_types": ["card"],
          "status": "{{status}}"
        }
        """;

    private static string Charge(string paymentIntentId, long amountRefunded) => $$"""
        {
          "id": "ch_{{Guid.NewGuid():N}}",
          "object": "charge",
          "amount": 12500,
          "amount_captured": 12500,
          "amount_refunded": {{amountRefunded}},
          "captured": true,
          "created": {{Now}},
          "currency": "usd",
          "paid": true,
          "payment_intent": "{{paymentIntentId}}",
          "payment_method": "pm_1QabcDEF",
          "payment_method_details": {
            "type": "card",
            "card": { "brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030, "funding": "credit" }
          },
          "refunded": {{(amountRefunded == 12500 ? "true" : "false")}},
          "status": "succeeded"
        }
        """;

    private static string Dispute(string disputeId, string paymentIntentId) => $$"""
        {
          "id": "{{disputeId}}",
          "object": "dispute",
          "amount": 12500,
          "balance_transactions": [],
          "charge": "ch_3QxyzDispute",
          "created": {{Now}},
          "currency": "usd",
          "evidence_details": { "due_by": {{Now + 7 * 86400}}, "has_evidence": false, "past_due": false, "submission_count": 0 },
          "is_charge_refundable": false,
          "livemode": false,
          "metadata": {},
          "payment_intent": "{{paymentIntentId}}",
          "reason": "fraudulent",
          "status": "needs_response"
        }
        """;

    private static string Card(string id, string? customer, string brand, string last4, int expMonth, int expYear, string funding = "credit") => $$"""
        {
          "id": "{{id}}",
          "object": "payment_method",
          "billing_details": { "address": { "city": null, "country": null, "line1": null, "line2": null, "postal_code": "42424", "state": null },
                               "email": null, "name": null, "phone": null },
          "card": {
            "brand": "{{brand}}",
            "checks": { "address_line1_check": null, "address_postal_code_check": "pass", "cvc_check": "pass" },
            "country": "US",
            "display_brand": "{{brand}}",
            "exp_month": {{expMonth}},
            "exp_year": {{expYear}},
            "fingerprint": "Xt5EWLLDS7FJjR1c",
            "funding": "{{funding}}",
            "last4": "{{last4}}",
            "networks": { "available": ["{{brand}}"], "preferred": null },
            "three_d_secure_usage": { "supported": true },
            "wallet": null
          },
          "created": {{Now}},
          "customer": {{(customer is null ? "null" : "\"" + customer + "\"")}},
          "livemode": false,
          "metadata": {},
          "type": "card"
        }
        """;

    private static string SetupIntent(string customer, string paymentMethod) => $$"""
        {
          "id": "seti_{{Guid.NewGuid():N}}",
          "object": "setup_intent",
          "cancellation_reason": null,
          "client_secret": "seti_x_secret_y",
          "created": {{Now}},
          "customer": "{{customer}}",
          "description": null,
          "last_setup_error": null,
          "livemode": false,
          "metadata": {},
          "payment_method": {{paymentMethod}},
          "payment_method_types": ["card"],
          "status": "succeeded",
          "usage": "off_session"
        }
        """;

    private async Task<(HttpStatusCode Status, JsonElement Body)> DeliverAsync(string payload, string? signature = null)
    {
        using var client = factory.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, Url) { Content = new StringContent(payload, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Stripe-Signature",
            signature ?? PaymentApiTestSupport.StripeSignature(payload, WebhookApiFactory.WebhookSecret, DateTimeOffset.UtcNow));
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    private async Task<JsonElement> DeliverOkAsync(string payload)
    {
        var (status, body) = await DeliverAsync(payload);
        Assert.True(status == HttpStatusCode.OK, $"{(int)status}: {body.GetRawText()}");
        return body;
    }

    /// <summary>A card payment as the invoice projection writes it, waiting for Stripe's word.</summary>
    private async Task<string> CardPaymentAsync(TestTenant tenant, string status = "processing")
    {
        var paymentId = NewId("pi");
        await factory.ExecuteAsync(
            """
            INSERT INTO card_payments (tenant_id, payment_id, gateway, clinic_id, invoice_id, tender_id, tender_kind, status, currency, amount)
            VALUES (@TenantId, @paymentId, 'stripe', @ClinicId, @invoiceId, @tenderId, 'card', @status, 'USD', 12500)
            """,
            new { tenant.TenantId, paymentId, tenant.ClinicId, invoiceId = Guid.NewGuid(), tenderId = Guid.NewGuid(), status });
        return paymentId;
    }

    private async Task<PaymentRow> PaymentAsync(string paymentId)
    {
        await using var conn = new Npgsql.NpgsqlConnection(factory.ConnectionString);
        return await Dapper.SqlMapper.QuerySingleAsync<PaymentRow>(conn,
            "SELECT status, failure_code, amount_captured, amount_refunded, dispute_status FROM card_payments WHERE payment_id = @paymentId",
            new { paymentId });
    }

    private sealed class PaymentRow
    {
        public string Status { get; init; } = "";
        public string? FailureCode { get; init; }
        public long AmountCaptured { get; init; }
        public long AmountRefunded { get; init; }
        public string? DisputeStatus { get; init; }
    }

    private async Task<long> EventRowsAsync(string eventId) =>
        await factory.ScalarAsync<long>("SELECT count(*) FROM gateway_events WHERE event_id = @eventId", new { eventId });

    [Fact]
    public async Task Wrong_stale_missing_or_mismatched_signatures_are_refused_and_change_nothing()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var paymentId = await CardPaymentAsync(tenant);
        var eventId = NewId("evt");
        var payload = Event(eventId, "payment_intent.succeeded", PaymentIntent(paymentId, "succeeded", 12500));

        var attempts = new[]
        {
            PaymentApiTestSupport.StripeSignature(payload, "whsec_someone_else", DateTimeOffset.UtcNow),
            PaymentApiTestSupport.StripeSignature(payload, WebhookApiFactory.WebhookSecret, DateTimeOffset.UtcNow.AddMinutes(-10)),
            PaymentApiTestSupport.StripeSignature(
                payload.Replace("12500", "1", StringComparison.Ordinal), WebhookApiFactory.WebhookSecret, DateTimeOffset.UtcNow),
            "",
            "t=1,v1=00",
        };
        foreach (var signature in attempts)
        {
            var (status, body) = await DeliverAsync(payload, signature);
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.Equal("invalid_signature", body.GetProperty("code").GetString());
        }

        Assert.Equal(0, await EventRowsAsync(eventId));
        Assert.Equal("processing", (await PaymentAsync(paymentId)).Status);

        // The same payload, properly signed and recent, is accepted: the refusals were about the signature alone.
        await DeliverOkAsync(payload);
        Assert.Equal("succeeded", (await PaymentAsync(paymentId)).Status);
    }

    [Fact]
    public async Task Payment_intent_events_set_status_failure_code_and_captured_amount()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var succeeded = await CardPaymentAsync(tenant);
        var declined = await CardPaymentAsync(tenant);
        var canceled = await CardPaymentAsync(tenant, "requires-capture");

        var body = await DeliverOkAsync(Event(NewId("evt"), "payment_intent.succeeded", PaymentIntent(succeeded, "succeeded", 12500)));
        Assert.True(body.GetProperty("applied").GetBoolean());
        Assert.False(body.GetProperty("duplicate").GetBoolean());
        await DeliverOkAsync(Event(NewId("evt"), "payment_intent.payment_failed", PaymentIntent(declined, "requires_payment_method",
            lastPaymentError: """
                {
                  "code": "card_declined", "decline_code": "insufficient_funds",
                  "doc_url": "https://stripe.com/docs/error-codes/card-declined",
                  "message": "Your card has insufficient funds.", "type": "card_error"
                }
                """)));
        await DeliverOkAsync(Event(NewId("evt"), "payment_intent.canceled", PaymentIntent(canceled, "canceled", cancellationReason: "abandoned")));

        var s = await PaymentAsync(succeeded);
        Assert.Equal(("succeeded", 12500L, (string?)null), (s.Status, s.AmountCaptured, s.FailureCode));
        var d = await PaymentAsync(declined);
        Assert.Equal(("declined", "insufficient_funds"), (d.Status, d.FailureCode));
        var c = await PaymentAsync(canceled);
        Assert.Equal(("canceled", "abandoned"), (c.Status, c.FailureCode));

        // Stripe does not promise order: a failure reported after success does not undo it.
        await DeliverOkAsync(Event(NewId("evt"), "payment_intent.payment_failed", PaymentIntent(succeeded, "requires_payment_method",
            lastPaymentError: """
                { "code": "processing_error", "message": "An error occurred while processing your card.", "type": "card_error" }
                """)));
        Assert.Equal("succeeded", (await PaymentAsync(succeeded)).Status);

        Assert.Equal(tenant.TenantId, await factory.ScalarAsync<Guid>(
            "SELECT tenant_id FROM gateway_events WHERE event_type = 'payment_intent.canceled' AND tenant_id = @TenantId", new { tenant.TenantId }));
    }

    [Fact]
    public async Task A_redelivered_event_is_acknowledged_and_ignored()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var paymentId = await CardPaymentAsync(tenant);
        var eventId = NewId("evt");
        var payload = Event(eventId, "payment_intent.payment_failed", PaymentIntent(paymentId, "requires_payment_method",
            lastPaymentError: """
                { "code": "card_declined", "decline_code": "generic_decline", "message": "Your card was declined.", "type": "card_error" }
                """));

        await DeliverOkAsync(payload);
        Assert.Equal("declined", (await PaymentAsync(paymentId)).Status);

        // Meanwhile the payment moved on (the front desk retried with another card)...
        await factory.ExecuteAsync(
            "UPDATE card_payments SET status = 'succeeded', failure_code = NULL WHERE payment_id = @paymentId", new { paymentId });
        // ...and Stripe delivers the old event again, freshly signed: it must not be applied a second time.
        var again = await DeliverOkAsync(payload);
        Assert.True(again.GetProperty("duplicate").GetBoolean());
        Assert.False(again.GetProperty("applied").GetBoolean());
        var row = await PaymentAsync(paymentId);
        Assert.Equal(("succeeded", (string?)null), (row.Status, row.FailureCode));
        Assert.Equal(1, await EventRowsAsync(eventId));
    }

    [Fact]
    public async Task Concurrent_deliveries_of_one_dispute_apply_it_once()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var paymentId = await CardPaymentAsync(tenant, "succeeded");
        var payload = Event(NewId("evt"), "charge.dispute.created", Dispute(NewId("dp"), paymentId));

        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => DeliverAsync(payload)));

        Assert.All(results, r => Assert.Equal(HttpStatusCode.OK, r.Status));
        Assert.Single(results, r => !r.Body.GetProperty("duplicate").GetBoolean());
        Assert.Equal("needs_response", (await PaymentAsync(paymentId)).DisputeStatus);

        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var notifications = await desk.SendAsync(HttpMethod.Get, "/api/notifications", null);
        var disputed = Assert.Single(notifications.GetProperty("items").EnumerateArray());
        Assert.Equal("payment-disputed", disputed.GetProperty("kind").GetString());
        Assert.Equal(paymentId, disputed.GetProperty("subjectId").GetString());
        Assert.Equal(tenant.ClinicId, disputed.GetProperty("clinicId").GetGuid());
        Assert.Contains("125.00 USD", disputed.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Contains("fraudulent", disputed.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Refund_events_only_raise_the_refunded_amount()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var paymentId = await CardPaymentAsync(tenant, "succeeded");

        await DeliverOkAsync(Event(NewId("evt"), "charge.refunded", Charge(paymentId, 5000)));
        Assert.Equal(5000, (await PaymentAsync(paymentId)).AmountRefunded);
        await DeliverOkAsync(Event(NewId("evt"), "charge.refunded", Charge(paymentId, 12500)));
        // An older partial refund event arriving late does not lower it.
        await DeliverOkAsync(Event(NewId("evt"), "charge.refunded", Charge(paymentId, 5000)));
        Assert.Equal(12500, (await PaymentAsync(paymentId)).AmountRefunded);
    }

    [Fact]
    public async Task Card_events_keep_the_patients_saved_cards_in_step()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var patientId = await tenant.CreatePatientAsync();
        var customer = NewId("cus");
        await factory.ExecuteAsync(
            "INSERT INTO payment_customers (tenant_id, patient_id, gateway, customer_id) VALUES (@TenantId, @patientId, 'stripe', @customer)",
            new { tenant.TenantId, patientId, customer });
        var first = NewId("pm");
        var second = NewId("pm");
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));

        await DeliverOkAsync(Event(NewId("evt"), "payment_method.attached", Card(first, customer, "visa", "4242", 12, 2030)));
        await DeliverOkAsync(
            Event(NewId("evt"), "setup_intent.succeeded", SetupIntent(customer, Card(second, customer, "mastercard", "4444", 3, 2031, "debit"))));

        var cards = (await desk.SendAsync(HttpMethod.Get, $"/api/patients/{patientId}/cards", null)).GetProperty("items");
        Assert.Equal(
            [(first, "visa", "credit", "4242", 12, 2030, true), (second, "mastercard", "debit", "4444", 3, 2031, false)],
            cards.EnumerateArray().Select(c => (c.GetProperty("paymentMethodId").GetString(), c.GetProperty("brand").GetString(),
                c.GetProperty("funding").GetString(), c.GetProperty("last4").GetString(), c.GetProperty("expMonth").GetInt32(),
                c.GetProperty("expYear").GetInt32(), c.GetProperty("isDefault").GetBoolean())));

        // Stripe's card updater changed the expiry: the attached event again refreshes the row, keeping the default.
        await DeliverOkAsync(Event(NewId("evt"), "payment_method.attached", Card(first, customer, "visa", "4242", 1, 2033)));
        // Detached: the method no longer names the customer (previous_attributes does).
        await DeliverOkAsync(Event(NewId("evt"), "payment_method.detached", Card(first, null, "visa", "4242", 1, 2033),
            previousAttributes: $$"""{ "customer": "{{customer}}" }"""));

        cards = (await desk.SendAsync(HttpMethod.Get, $"/api/patients/{patientId}/cards", null)).GetProperty("items");
        var remaining = Assert.Single(cards.EnumerateArray());
        Assert.Equal(second, remaining.GetProperty("paymentMethodId").GetString());
        Assert.True(remaining.GetProperty("isDefault").GetBoolean());
        Assert.Equal(2033, await factory.ScalarAsync<int>(
            "SELECT exp_year FROM saved_cards WHERE payment_method_id = @first AND removed_at IS NOT NULL", new { first }));
    }

    [Fact]
    public async Task Unknown_types_payments_and_customers_are_recorded_and_acknowledged()
    {
        var unknownType = NewId("evt");
        var body = await DeliverOkAsync(
            Event(unknownType, "customer.subscription.created", """{ "id": "sub_1", "object": "subscription", "status": "active" }"""));
        Assert.False(body.GetProperty("applied").GetBoolean());
        Assert.Equal("customer.subscription.created", await factory.ScalarAsync<string>(
            "SELECT event_type FROM gateway_events WHERE event_id = @unknownType AND tenant_id IS NULL", new { unknownType }));

        body = await DeliverOkAsync(Event(NewId("evt"), "payment_intent.succeeded", PaymentIntent(NewId("pi"), "succeeded", 100)));
        Assert.False(body.GetProperty("applied").GetBoolean());
        body = await DeliverOkAsync(Event(NewId("evt"), "payment_method.attached", Card(NewId("pm"), NewId("cus"), "visa", "4242", 1, 2030)));
        Assert.False(body.GetProperty("applied").GetBoolean());
    }

    [Fact]
    public async Task A_signed_payload_that_is_not_an_event_is_a_bad_request()
    {
        var (status, body) = await DeliverAsync("this is not json");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("invalid_payload", body.GetProperty("code").GetString());

        (status, body) = await DeliverAsync("""{ "object": "event", "type": "payment_intent.succeeded" }""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("invalid_payload", body.GetProperty("code").GetString());
    }
}
