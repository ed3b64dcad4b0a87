using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.Payments;
using MedSpa.Grains.Payments;
using MedSpa.Tests.TestHost;
using Npgsql;
using static MedSpa.Tests.Checkout.CheckoutRequests;

namespace MedSpa.Tests.Checkout;

/// <summary>Card, HSA/FSA and split tenders through the (sandbox) payment gateway: all-or-nothing, idempotent, refundable.</summary>
public sealed class CardTenderTests(CardCheckoutFactory factory) : IClassFixture<CardCheckoutFactory>
{
    private static object Card(long cents, string method = "pm_card_visa", string kind = "credit") =>
        new { kind, amount = Usd(cents), paymentMethodId = method };

    private static object Cash(long cents) => new { kind = "cash", amount = Usd(cents) };

    private async Task<(TestTenant Tenant, HttpClient Desk, Guid InvoiceId)> OpenInvoiceAsync(long cents = 10000, bool hsaEligible = false)
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var invoiceId = await desk.CreateInvoiceAsync(tenant.ClinicId);
        await desk.AddLineAsync(invoiceId, new
        {
            kind = "service", description = "Consultation", quantity = 1, unitPrice = Usd(cents), hsaFsaEligible = hsaEligible,
        });
        await desk.OpenAsync(invoiceId);
        return (tenant, desk, invoiceId);
    }

    private async Task<List<(string PaymentId, string Status, long Amount, long Captured, long Refunded, string? Brand, string? Last4)>>
        CardRowsAsync(Guid tenantId, Guid invoiceId)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return (await conn.QueryAsync<(string, string, long, long, long, string?, string?)>(
            """
            SELECT payment_id, status, amount, amount_captured, amount_refunded, card_brand, card_last4 FROM card_payments
            WHERE tenant_id = @tenantId AND invoice_id = @invoiceId ORDER BY created_at, payment_id
            """, new { tenantId, invoiceId })).ToList();
    }

    private async Task AssertNothingAppliedAsync(TestTenant tenant, HttpClient desk, Guid invoiceId, long balance)
    {
        var invoice = await desk.GetInvoiceAsync(invoiceId);
        Assert.Equal("open", invoice.GetProperty("status").GetString());
        Assert.Empty(invoice.GetProperty("tenders").EnumerateArray());
        Assert.Equal(balance, invoice.Total("balanceDue"));
        Assert.Equal(new Dictionary<string, int> { ["sale"] = 1 }, await JournalCountsAsync(factory, tenant.TenantId, invoiceId));
        Assert.Empty(await CardRowsAsync(tenant.TenantId, invoiceId));
        // Nothing is held or taken at the processor: every payment made is cancelled or was declined.
        Assert.All(factory.Gateway.PaymentStatuses(invoiceId).Values,
            s => Assert.True(s is PaymentStatus.Canceled or PaymentStatus.Declined or PaymentStatus.RequiresAction, $"payment left {s}"));
        Assert.DoesNotContain(factory.Gateway.CallsFor(invoiceId), c => c.Operation == "capture" && c.Error is null);
    }

    [Fact]
    public async Task Card_and_cash_split_pays_the_invoice_and_records_the_card()
    {
        var (tenant, desk, invoiceId) = await OpenInvoiceAsync(10000);
        var paid = await desk.PayAsync(invoiceId, new[] { Card(6000), Cash(4000) });

        Assert.Equal("paid", paid.GetProperty("status").GetString());
        var tenders = paid.GetProperty("tenders").EnumerateArray().ToList();
        Assert.Equal(["credit", "cash"], tenders.Select(t => t.GetProperty("kind").GetString()));
        var card = tenders[0].GetProperty("card");
        var paymentId = card.GetProperty("paymentId").GetString()!;
        Assert.Equal("sandbox", card.GetProperty("gateway").GetString());
        Assert.StartsWith("pi_", paymentId);
        Assert.Equal("visa", card.GetProperty("card").GetProperty("brand").GetString());
        Assert.Equal("4242", card.GetProperty("card").GetProperty("last4").GetString());
        Assert.Equal("credit", card.GetProperty("card").GetProperty("funding").GetString());
        Assert.Equal(JsonValueKind.Null, tenders[1].GetProperty("card").ValueKind);

        // Reserved (manual capture), then captured: one of each, under the invoice's keys.
        var calls = factory.Gateway.CallsFor(invoiceId);
        Assert.Equal(["create", "capture"], calls.Select(c => c.Operation));
        Assert.Equal(PaymentStatus.RequiresCapture, calls[0].Status);
        Assert.Equal(PaymentStatus.Succeeded, calls[1].Status);

        var row = Assert.Single(await CardRowsAsync(tenant.TenantId, invoiceId));
        Assert.Equal((paymentId, "succeeded", 6000L, 6000L, 0L, "visa", "4242"), row);
        Assert.Equal(new Dictionary<string, int> { ["sale"] = 1, ["tender"] = 2 }, await JournalCountsAsync(factory, tenant.TenantId, invoiceId));
        var day = await LatestBusinessDateAsync(factory, tenant.TenantId);
        var tb = await desk.SendAsync(HttpMethod.Get, $"/api/reports/trial-balance?clinicId={tenant.ClinicId}&date={day:yyyy-MM-dd}", null);
        Assert.Equal(6000, tb.Closing("card-clearing"));
        Assert.Equal(4000, tb.Closing("cash-drawer"));
    }

    [Fact]
    public async Task A_declined_second_card_releases_the_first_and_leaves_no_trace()
    {
        var (tenant, desk, invoiceId) = await OpenInvoiceAsync(10000);
        var (status, problem) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments",
            new { tenders = new[] { Card(6000, "pm_card_mastercard"), Card(4000, "pm_card_chargeDeclined") } }, Guid.NewGuid().ToString("N"));

        Assert.Equal(HttpStatusCode.PaymentRequired, status);
        Assert.Equal("payment_declined", problem.GetProperty("code").GetString());
        Assert.Equal(1, problem.GetProperty("tenderIndex").GetInt32());
        Assert.Equal("generic_decline", problem.GetProperty("declineCode").GetString());
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("detail").GetString()));

        var calls = factory.Gateway.CallsFor(invoiceId);
        var first = calls[0];
        Assert.Equal(("create", PaymentStatus.RequiresCapture), (first.Operation, first.Status!.Value));
        Assert.Equal(PaymentStatus.Canceled, factory.Gateway.PaymentStatuses(invoiceId)[first.PaymentId!]);
        Assert.Contains(calls, c => c.Operation == "cancel" && c.PaymentId == first.PaymentId);
        await AssertNothingAppliedAsync(tenant, desk, invoiceId, 10000);

        // The invoice can still be paid afterwards.
        await desk.PayAsync(invoiceId, new[] { Card(10000) });
        Assert.Equal("paid", (await desk.GetInvoiceAsync(invoiceId)).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Cash_with_a_declined_card_records_no_cash_either()
    {
        var (tenant, desk, invoiceId) = await OpenInvoiceAsync(8000);
        var (status, problem) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments",
            new { tenders = new[] { Cash(3000), Card(5000, "pm_card_visa_chargeDeclinedInsufficientFunds") } }, Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.PaymentRequired, status);
        Assert.Equal(1, problem.GetProperty("tenderIndex").GetInt32());
        Assert.Equal("insufficient_funds", problem.GetProperty("declineCode").GetString());
        await AssertNothingAppliedAsync(tenant, desk, invoiceId, 8000);

        // 3-D Secure needed off-session is a decline too; an unknown payment method is refused (422) the same clean way.
        var (auth, authProblem) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments",
            new { tenders = new[] { Card(2000), Card(6000, "pm_card_authenticationRequired") } }, Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.PaymentRequired, auth);
        Assert.Equal(1, authProblem.GetProperty("tenderIndex").GetInt32());
        var (unknown, unknownProblem) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments",
            new { tenders = new[] { Card(2000), Card(6000, "pm_does_not_exist") } }, Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, unknown);
        Assert.Equal("payment_method_invalid", unknownProblem.GetProperty("code").GetString());
        await AssertNothingAppliedAsync(tenant, desk, invoiceId, 8000);
    }

    [Fact]
    public async Task Hsa_and_fsa_cards_pay_only_the_eligible_items()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var invoiceId = await desk.CreateInvoiceAsync(tenant.ClinicId);
        await desk.AddLineAsync(
            invoiceId, new { kind = "service", description = "Laser", quantity = 1, unitPrice = Usd(7000), hsaFsaEligible = true });
        await desk.AddLineAsync(invoiceId, new { kind = "retail-product", description = "Serum", quantity = 1, unitPrice = Usd(3000) });
        await desk.OpenAsync(invoiceId);

        // 4000 + 3500 of HSA/FSA exceeds the 7000 eligible: refused before anything reaches the gateway.
        var (status, problem) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments",
            new { tenders = new[] { Card(4000, kind: "hsa"), Card(3500, kind: "fsa"), Cash(2500) } }, Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Equal("hsa_fsa_limit", problem.GetProperty("code").GetString());
        Assert.Empty(factory.Gateway.CallsFor(invoiceId));
        await AssertNothingAppliedAsync(tenant, desk, invoiceId, 10000);

        var paid = await desk.PayAsync(invoiceId, new[] { Card(4000, kind: "hsa"), Card(3000, kind: "fsa"), Card(3000, "tok_visa_debit", "debit") });
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        Assert.Equal(7000, paid.Total("hsaFsaPaid"));
        Assert.Equal(3, (await CardRowsAsync(tenant.TenantId, invoiceId)).Count);
        var day = await LatestBusinessDateAsync(factory, tenant.TenantId);
        var tb = await desk.SendAsync(HttpMethod.Get, $"/api/reports/trial-balance?clinicId={tenant.ClinicId}&date={day:yyyy-MM-dd}", null);
        Assert.Equal(7000, tb.Closing("hsa-fsa-clearing"));
        Assert.Equal(3000, tb.Closing("card-clearing"));
    }

    [Fact]
    public async Task Replayed_card_pay_and_refund_reach_the_gateway_once()
    {
        var (tenant, desk, invoiceId) = await OpenInvoiceAsync(10000);
        var payKey = Guid.NewGuid().ToString("N");
        var tenders = new[] { Card(7000), Cash(3000) };
        var first = await desk.PayAsync(invoiceId, tenders, payKey);
        var second = await desk.PayAsync(invoiceId, tenders, payKey);
        Assert.Equal(first.GetRawText(), second.GetRawText());
        // Past the API's idempotency store too: the grain knows the operation and answers without the gateway.
        var grain = factory.Grains.GetGrain<IInvoiceGrain>(InvoiceGrainKey.For(tenant.TenantId, invoiceId));
        var direct = await grain.PayAsync(
            new PayCommand(payKey, [new TenderInput(TenderKind.Credit, new Money(7000, "USD"), PaymentMethodId: "pm_card_visa")]));
        Assert.Null(direct.Refusal);
        Assert.Equal(2, direct.Invoice!.Tenders.Count);
        Assert.Equal(["create", "capture"], factory.Gateway.CallsFor(invoiceId).Select(c => c.Operation));

        // A partial refund of the card, replayed through the API and straight to the grain: one gateway refund.
        var cardTender = first.GetProperty("tenders")[0];
        var tenderId = cardTender.GetProperty("id").GetGuid();
        var paymentId = cardTender.GetProperty("card").GetProperty("paymentId").GetString();
        var refundKey = Guid.NewGuid().ToString("N");
        var refund = new { tenderId, amount = Usd(2500), reason = "patient unhappy with serum" };
        var refunded = await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds", refund, idempotencyKey: refundKey);
        await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds", refund, idempotencyKey: refundKey);
        Assert.Null((await grain.RefundAsync(new RefundCommand(refundKey, tenderId, new Money(2500, "USD")))).Refusal);
        await Task.WhenAll(Enumerable.Range(0, 3).Select(_ =>
            desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds", refund, refundKey)));

        var refunds = factory.Gateway.CallsFor(invoiceId).Where(c => c.Operation == "refund").ToList();
        var gatewayRefund = Assert.Single(refunds);
        Assert.Equal((paymentId, 2500L, (string?)null), (gatewayRefund.PaymentId, gatewayRefund.Amount!.Value, gatewayRefund.Error));
        var record = Assert.Single(refunded.GetProperty("refunds").EnumerateArray());
        Assert.StartsWith("re_", record.GetProperty("gatewayRefundId").GetString());
        var invoice = await desk.GetInvoiceAsync(invoiceId);
        Assert.Equal(2500, invoice.Total("refunded"));
        Assert.Equal(
            new Dictionary<string, int> { ["sale"] = 1, ["tender"] = 2, ["refund"] = 1 },
            await JournalCountsAsync(factory, tenant.TenantId, invoiceId));
        var row = Assert.Single(await CardRowsAsync(tenant.TenantId, invoiceId));
        Assert.Equal(("partially-refunded", 7000L, 2500L), (row.Status, row.Captured, row.Refunded));

        // The rest of the card, then more than is left: refused without a gateway call.
        await desk.SendAsync(
            HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds", new { tenderId, amount = Usd(4500) },
            idempotencyKey: Guid.NewGuid().ToString("N"));
        var (over, _) = await desk.TrySendAsync(
            HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds", new { tenderId, amount = Usd(1) }, Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.BadRequest, over);
        Assert.Equal(2, factory.Gateway.CallsFor(invoiceId).Count(c => c.Operation == "refund"));
        Assert.Equal(("refunded", 7000L), (await CardRowsAsync(tenant.TenantId, invoiceId)).Select(r => (r.Status, r.Refunded)).Single());
    }

    [Fact]
    public async Task Concurrent_card_payments_on_one_invoice_charge_once()
    {
        var (tenant, desk, invoiceId) = await OpenInvoiceAsync(12345);
        var attempts = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => desk.TrySendAsync(HttpMethod.Post,
            $"/api/invoices/{invoiceId}/payments", new { tenders = new[] { Card(12345, i % 2 == 0 ? "pm_card_visa" : "tok_mastercard") } },
            Guid.NewGuid().ToString("N"))));

        Assert.Single(attempts, a => a.Status == HttpStatusCode.OK);
        Assert.All(attempts.Where(a => a.Status != HttpStatusCode.OK), a => Assert.Equal(HttpStatusCode.Conflict, a.Status));
        Assert.Equal(["create", "capture"], factory.Gateway.CallsFor(invoiceId).Select(c => c.Operation));
        Assert.Equal(12345, (await desk.GetInvoiceAsync(invoiceId)).Total("paid"));
        Assert.Single(await CardRowsAsync(tenant.TenantId, invoiceId));
    }

    [Fact]
    public async Task A_failed_capture_releases_and_refunds_everything_and_answers_502()
    {
        var (tenant, desk, invoiceId) = await OpenInvoiceAsync(10000);
        // The second capture fails at the processor after the first one succeeded.
        factory.Gateway.FailWhen(invoiceId, (op, key) => op == "capture" && key.Contains("_1:capture", StringComparison.Ordinal)
            ? new PaymentGatewayException("card processor: capture refused", transient: false) : null);
        var (status, problem) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments",
            new { tenders = new[] { Card(5000), Card(5000, "pm_card_amex") } }, Guid.NewGuid().ToString("N"));
        factory.Gateway.Heal(invoiceId);

        Assert.Equal(HttpStatusCode.BadGateway, status);
        Assert.Equal("payment_capture_failed", problem.GetProperty("code").GetString());
        var calls = factory.Gateway.CallsFor(invoiceId);
        var (firstPayment, secondPayment) = (calls[0].PaymentId!, calls[1].PaymentId!);
        // The captured first card is refunded in full; the second reservation is cancelled.
        Assert.Contains(calls, c => c is { Operation: "refund", Error: null } && c.PaymentId == firstPayment && c.Amount == 5000);
        Assert.Equal(PaymentStatus.Canceled, factory.Gateway.PaymentStatuses(invoiceId)[secondPayment]);
        var invoice = await desk.GetInvoiceAsync(invoiceId);
        Assert.Empty(invoice.GetProperty("tenders").EnumerateArray());
        Assert.Equal(new Dictionary<string, int> { ["sale"] = 1 }, await JournalCountsAsync(factory, tenant.TenantId, invoiceId));
    }

    [Fact]
    public async Task A_capture_that_went_through_with_its_answer_lost_is_refunded_when_the_payment_is_undone()
    {
        var (tenant, desk, invoiceId) = await OpenInvoiceAsync(10000);
        // The second capture happens at the processor but its answer never arrives (after the adapter's retries).
        factory.Gateway.LoseAnswerWhen(invoiceId, (op, key) => op == "capture" && key.Contains("_1:capture", StringComparison.Ordinal)
            ? new PaymentGatewayException("connection reset", transient: true) : null);
        var (status, _) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments",
            new { tenders = new[] { Card(4000), Card(6000, "pm_card_mastercard") } }, Guid.NewGuid().ToString("N"));
        factory.Gateway.Heal(invoiceId);

        Assert.Equal(HttpStatusCode.BadGateway, status);
        // Both cards were captured, and both are refunded in full: the cancel of the second is refused, so it is refunded.
        var refunds = factory.Gateway.CallsFor(invoiceId).Where(c => c is { Operation: "refund", Error: null }).Select(c => c.Amount).Order();
        Assert.Equal([4000L, 6000L], refunds.Select(a => a!.Value));
        var invoice = await desk.GetInvoiceAsync(invoiceId);
        Assert.Empty(invoice.GetProperty("tenders").EnumerateArray());
        Assert.Equal(new Dictionary<string, int> { ["sale"] = 1 }, await JournalCountsAsync(factory, tenant.TenantId, invoiceId));
    }

    [Fact]
    public async Task Gateway_unavailable_applies_nothing_and_a_retry_with_the_same_key_pays()
    {
        var (tenant, desk, invoiceId) = await OpenInvoiceAsync(9000);
        factory.Gateway.FailWhen(invoiceId, (op, key) => op == "create" && key.EndsWith("_1:reserve", StringComparison.Ordinal)
            ? new PaymentGatewayException("connection refused", transient: true) : null);
        var key = Guid.NewGuid().ToString("N");
        var body = new { tenders = new[] { Card(4000), Card(5000, "pm_card_discover") } };
        var (status, problem) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments", body, key);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("payment_gateway_unavailable", problem.GetProperty("code").GetString());
        await AssertNothingAppliedAsync(tenant, desk, invoiceId, 9000);

        factory.Gateway.Heal(invoiceId);
        var (retried, paid) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments", body, key);
        Assert.Equal(HttpStatusCode.OK, retried);
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        Assert.Equal(2, (await CardRowsAsync(tenant.TenantId, invoiceId)).Count);
    }

    [Fact]
    public async Task A_crash_after_every_reservation_is_finished_on_activation()
    {
        var (tenant, desk, invoiceId) = await OpenInvoiceAsync(10000);
        // The silo "dies" while capturing: the grain call fails, the reservations are saved in grain state.
        factory.Gateway.FailWhen(invoiceId, (op, _) => op == "capture" ? new InvalidOperationException("silo crashed") : null);
        var key = Guid.NewGuid().ToString("N");
        var body = new { tenders = new[] { Card(6000), Cash(4000) } };
        var (status, _) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments", body, key);
        Assert.Equal(HttpStatusCode.InternalServerError, status);
        factory.Gateway.Heal(invoiceId);
        await factory.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);

        // The next activation finishes the capture and commits both tenders; the retry answers the paid invoice.
        var invoice = await desk.GetInvoiceAsync(invoiceId);
        Assert.Equal("paid", invoice.GetProperty("status").GetString());
        var (retried, again) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments", body, key);
        Assert.Equal(HttpStatusCode.OK, retried);
        Assert.Equal(2, again.GetProperty("tenders").GetArrayLength());
        var calls = factory.Gateway.CallsFor(invoiceId);
        Assert.Single(calls, c => c.Operation == "create");
        Assert.Single(calls, c => c is { Operation: "capture", Error: null });
        Assert.Equal(new Dictionary<string, int> { ["sale"] = 1, ["tender"] = 2 }, await JournalCountsAsync(factory, tenant.TenantId, invoiceId));
    }

    [Fact]
    public async Task A_crash_while_reserving_releases_the_reservations_on_activation()
    {
        var (tenant, desk, invoiceId) = await OpenInvoiceAsync(10000);
        // The first card is reserved, then the silo "dies" as the second reservation is sent.
        factory.Gateway.FailWhen(invoiceId, (op, key) => op == "create" && key.EndsWith("_1:reserve", StringComparison.Ordinal)
            ? new InvalidOperationException("silo crashed") : null);
        var (status, _) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments",
            new { tenders = new[] { Card(3000), Card(7000, "pm_card_mastercard") } }, Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.InternalServerError, status);
        factory.Gateway.Heal(invoiceId);
        var reserved = factory.Gateway.CallsFor(invoiceId).First(c => c.Operation == "create").PaymentId!;
        Assert.Equal(PaymentStatus.RequiresCapture, factory.Gateway.PaymentStatuses(invoiceId)[reserved]);
        await factory.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);

        await AssertNothingAppliedAsync(tenant, desk, invoiceId, 10000);
        Assert.Equal(PaymentStatus.Canceled, factory.Gateway.PaymentStatuses(invoiceId)[reserved]);
    }

    [Fact]
    public async Task A_card_refund_the_gateway_did_not_confirm_is_finished_with_the_same_key()
    {
        var (_, desk, invoiceId) = await OpenInvoiceAsync(5000);
        var paid = await desk.PayAsync(invoiceId, new[] { Card(5000) });
        var tenderId = paid.GetProperty("tenders")[0].GetProperty("id").GetGuid();
        factory.Gateway.FailWhen(invoiceId, (op, _) => op == "refund" ? new PaymentGatewayException("timeout", transient: true) : null);
        var key = Guid.NewGuid().ToString("N");
        var refund = new { tenderId, amount = Usd(2000) };
        var (status, problem) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds", refund, key);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("payment_gateway_unavailable", problem.GetProperty("code").GetString());
        // In doubt, so not applied yet, and other money operations wait for it.
        Assert.Equal(0, (await desk.GetInvoiceAsync(invoiceId)).Total("refunded"));
        var (blocked, _) = await desk.TrySendAsync(
            HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds", new { tenderId, amount = Usd(100) }, Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, blocked);

        factory.Gateway.Heal(invoiceId);
        var done = await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds", refund, idempotencyKey: key);
        Assert.Equal(2000, done.Total("refunded"));
        var refunds = factory.Gateway.CallsFor(invoiceId).Where(c => c.Operation == "refund").ToList();
        // Two injected failures, then the one refund that reached the sandbox, all under the operation's one key.
        Assert.Single(refunds, r => r.Error is null);
        Assert.Single(refunds.Select(r => r.IdempotencyKey).Distinct());
    }

    [Fact]
    public async Task A_saved_default_card_is_charged_on_the_patients_customer_off_session()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var patientId = Guid.NewGuid();
        var customer = await factory.Gateway.CreateCustomerAsync(
            new CustomerRequest(tenant.TenantId, patientId, "Pat Saved", null, null), Guid.NewGuid().ToString("N"));
        var saved = await factory.Gateway.AttachCardAsync(customer, "pm_card_mastercard", Guid.NewGuid().ToString("N"));
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            await conn.ExecuteAsync(
                "INSERT INTO patients (tenant_id, id, first_name, last_name) VALUES (@TenantId, @patientId, 'Pat', 'Saved')",
                new { tenant.TenantId, patientId });
            await conn.ExecuteAsync(
                "INSERT INTO payment_customers (tenant_id, patient_id, gateway, customer_id) VALUES (@TenantId, @patientId, 'sandbox', @customer)",
                new { tenant.TenantId, patientId, customer });
            await conn.ExecuteAsync(
                """
                INSERT INTO saved_cards (tenant_id, payment_method_id, patient_id, gateway, brand, funding, last4, exp_month, exp_year, is_default)
                VALUES (@TenantId, @pm, @patientId, 'sandbox', 'mastercard', 'credit', '4444', 12, 2030, true)
                """, new { tenant.TenantId, pm = saved.PaymentMethodId, patientId });
        }

        var created = await desk.SendAsync(HttpMethod.Post, "/api/invoices", new { clinicId = tenant.ClinicId, patientId }, HttpStatusCode.Created);
        var invoiceId = created.GetProperty("id").GetGuid();
        await desk.AddLineAsync(invoiceId, Line(5000));
        await desk.OpenAsync(invoiceId);

        // A fresh token is not a saved card; insisting on one is refused before the gateway hears of it.
        var (notSaved, notSavedProblem) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments",
            new { tenders = new[] { new { kind = "credit", amount = Usd(5000), paymentMethodId = "tok_visa", offSession = true } } },
            Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, notSaved);
        Assert.Equal("card_not_on_file", notSavedProblem.GetProperty("code").GetString());
        Assert.Empty(factory.Gateway.CallsFor(invoiceId));

        var paid = await desk.PayAsync(invoiceId, new[] { new { kind = "credit", amount = Usd(5000), useDefaultCard = true, offSession = true } });
        var card = paid.GetProperty("tenders")[0].GetProperty("card");
        Assert.Equal(saved.PaymentMethodId, card.GetProperty("paymentMethodId").GetString());
        Assert.True(card.GetProperty("offSession").GetBoolean());
        Assert.Equal("4444", card.GetProperty("card").GetProperty("last4").GetString());

        // Without a patient there is no card on file.
        var (anonymous, desk2) = (await desk.CreateInvoiceAsync(tenant.ClinicId), desk);
        await desk2.AddLineAsync(anonymous, Line(100));
        await desk2.OpenAsync(anonymous);
        var (noCard, noCardProblem) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{anonymous}/payments",
            new { tenders = new[] { new { kind = "credit", amount = Usd(100), useDefaultCard = true } } }, Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, noCard);
        Assert.Equal("no_default_card", noCardProblem.GetProperty("code").GetString());
    }
}
