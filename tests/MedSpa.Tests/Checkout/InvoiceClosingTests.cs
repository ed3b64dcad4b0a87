using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.Tests.TestHost;
using MedSpa.Tests.Receipts;
using Npgsql;
using static MedSpa.Tests.Checkout.CheckoutRequests;

namespace MedSpa.Tests.Checkout;

/// <summary>
/// Issue 12 §8: every opened invoice can be closed (pay the rest, void after refunds, owner/admin write-off) and the
/// ledger's receivable follows; a draft owes nothing; an opened invoice keeps a line; a tip is adjusted after a card
/// payment with real money movement at the gateway. Through the HTTP API, on PostgreSQL, with the sandbox gateway.
/// </summary>
public sealed class InvoiceClosingTests(CardCheckoutFactory factory) : IClassFixture<CardCheckoutFactory>
{
    private static string Key() => Guid.NewGuid().ToString("N");

    private async Task<(TestTenant Tenant, HttpClient Desk, HttpClient Owner)> TenantAsync()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk", tenant.ClinicId));
        return (tenant, desk, tenant.ClientFor(tenant.Owner));
    }

    private static async Task<Guid> OpenInvoiceAsync(HttpClient desk, Guid clinicId, long cents, Guid? providerId = null)
    {
        var id = await desk.CreateInvoiceAsync(clinicId);
        await desk.AddLineAsync(id, Line(cents, providerId: providerId));
        await desk.OpenAsync(id);
        return id;
    }

    private async Task<long> ReceivableAsync(Guid tenantId)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return await conn.ExecuteScalarAsync<long>(
            """
            SELECT coalesce(sum(CASE WHEN side = 'debit' THEN amount ELSE -amount END), 0)::bigint
            FROM journal_postings WHERE tenant_id = @tenantId AND account = 'accounts-receivable'
            """, new { tenantId });
    }

    private static Task<JsonElement> RefundAsync(
        HttpClient client, Guid invoiceId, Guid tenderId, long cents, HttpStatusCode expected = HttpStatusCode.OK) =>
        client.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds", new { tenderId, amount = Usd(cents) }, expected, Key());

    private static Guid TenderId(JsonElement invoice, int index = 0) => invoice.GetProperty("tenders")[index].GetProperty("id").GetGuid();

    [Fact]
    public async Task Pay_40_refund_40_then_the_remaining_60_can_be_paid_and_nothing_stays_receivable()
    {
        var (tenant, desk, _) = await TenantAsync();
        var id = await OpenInvoiceAsync(desk, tenant.ClinicId, 10000);
        var paid = await desk.PayAsync(id, new[] { new { kind = "cash", amount = Usd(4000) } });
        var refunded = await RefundAsync(desk, id, TenderId(paid), 4000);

        // Nothing is held and $60 is still due: the invoice is open again, not a dead "refunded" with $60 receivable.
        Assert.Equal("open", refunded.GetProperty("status").GetString());
        Assert.Equal(6000, refunded.Total("balanceDue"));
        Assert.Equal(6000, await ReceivableAsync(tenant.TenantId));

        var settled = await desk.PayAsync(id, new[] { new { kind = "cash", amount = Usd(6000) } });
        Assert.Equal("paid", settled.GetProperty("status").GetString());
        Assert.Equal(0, settled.Total("balanceDue"));
        Assert.Equal(0, await ReceivableAsync(tenant.TenantId));
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, tenant.TenantId));
    }

    [Fact]
    public async Task Pay_40_refund_40_then_void_cancels_the_rest_with_a_reversing_entry()
    {
        var (tenant, desk, owner) = await TenantAsync();
        var id = await OpenInvoiceAsync(desk, tenant.ClinicId, 10000);
        var paid = await desk.PayAsync(id, new[] { new { kind = "cash", amount = Usd(4000) } });

        // While $40 is held the invoice cannot be voided: the money must go back (or the rest be paid/written off).
        var (held, body) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{id}/void", new { reason = "patient left" });
        Assert.Equal(HttpStatusCode.Conflict, held);
        Assert.Contains("refund", body.GetProperty("detail").GetString(), StringComparison.OrdinalIgnoreCase);

        await RefundAsync(desk, id, TenderId(paid), 4000);
        var voided = await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{id}/void", new { reason = "patient left" });
        Assert.Equal("void", voided.GetProperty("status").GetString());
        Assert.Equal(0, voided.Total("balanceDue"));
        Assert.Equal(6000, voided.Total("writtenOff"));
        Assert.True(voided.GetProperty("writeOffs")[0].GetProperty("cancellation").GetBoolean());

        Assert.Equal(0, await ReceivableAsync(tenant.TenantId));
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, tenant.TenantId));
        var counts = await JournalCountsAsync(factory, tenant.TenantId, id);
        Assert.Equal(new Dictionary<string, int> { ["sale"] = 1, ["tender"] = 1, ["refund"] = 1, ["void"] = 1 }, counts);

        // The whole sale is reversed: revenue − refunds − write-offs nets to zero, the drawer is back to zero.
        var day = await LatestBusinessDateAsync(factory, tenant.TenantId);
        var tb = await owner.SendAsync(HttpMethod.Get, $"/api/reports/trial-balance?clinicId={tenant.ClinicId}&date={day:yyyy-MM-dd}", null);
        Assert.True(tb.GetProperty("balanced").GetBoolean());
        Assert.Equal(0, tb.Closing("cash-drawer"));
        Assert.Equal(0, tb.Closing("revenue:services") + tb.Closing("refunds:services") + tb.Closing("write-offs:services"));

        // Closed for good: no payment, no second void.
        var (pay, _) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{id}/payments",
            new { tenders = new[] { new { kind = "cash", amount = Usd(6000) } } }, Key());
        Assert.Equal(HttpStatusCode.Conflict, pay);
        Assert.Equal(HttpStatusCode.Conflict, (await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{id}/void", new { })).Status);
    }

    [Fact]
    public async Task Owner_writes_off_the_rest_of_a_partly_paid_invoice_front_desk_may_not()
    {
        var (tenant, desk, owner) = await TenantAsync();
        var id = await OpenInvoiceAsync(desk, tenant.ClinicId, 10000);
        await desk.PayAsync(id, new[] { new { kind = "cash", amount = Usd(4000) } });

        var (forbidden, problem) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{id}/write-off", new { reason = "uncollectable" }, Key());
        Assert.Equal(HttpStatusCode.Forbidden, forbidden);
        Assert.Equal("write_off_not_allowed", problem.GetProperty("code").GetString());
        var (noReason, _) = await owner.TrySendAsync(HttpMethod.Post, $"/api/invoices/{id}/write-off", new { reason = " " }, Key());
        Assert.Equal(HttpStatusCode.BadRequest, noReason);
        Assert.Equal(6000, await ReceivableAsync(tenant.TenantId));

        var key = Key();
        var written = await owner.SendAsync(
            HttpMethod.Post, $"/api/invoices/{id}/write-off", new { reason = "patient moved away" }, idempotencyKey: key);
        Assert.Equal("paid", written.GetProperty("status").GetString()); // $40 held, nothing due
        Assert.Equal(0, written.Total("balanceDue"));
        Assert.Equal(6000, written.Total("writtenOff"));
        Assert.Equal(0, await ReceivableAsync(tenant.TenantId));

        // A replay answers the same, and writes nothing twice.
        var again = await owner.SendAsync(
            HttpMethod.Post, $"/api/invoices/{id}/write-off", new { reason = "patient moved away" }, idempotencyKey: key);
        Assert.Equal(6000, again.Total("writtenOff"));
        Assert.Equal(1, (await JournalCountsAsync(factory, tenant.TenantId, id)).GetValueOrDefault("write-off"));
        // Nothing left to write off.
        var (nothing, _) = await owner.TrySendAsync(HttpMethod.Post, $"/api/invoices/{id}/write-off", new { reason = "again" }, Key());
        Assert.Equal(HttpStatusCode.Conflict, nothing);

        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        var memo = await conn.ExecuteScalarAsync<string>(
            "SELECT memo FROM journal_entries WHERE tenant_id = @TenantId AND invoice_id = @id AND kind = 'write-off'", new { tenant.TenantId, id });
        Assert.Contains("patient moved away", memo, StringComparison.Ordinal);
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, tenant.TenantId));
    }

    [Fact]
    public async Task Removing_every_line_of_an_opened_unpaid_invoice_is_refused_and_a_draft_owes_nothing()
    {
        var (tenant, desk, _) = await TenantAsync();
        var draftId = await desk.CreateInvoiceAsync(tenant.ClinicId);
        var draft = await desk.AddLineAsync(draftId, Line(12000));
        Assert.Equal("draft", draft.GetProperty("status").GetString());
        Assert.Equal(0, draft.Total("balanceDue"));
        var listed = await desk.SendAsync(HttpMethod.Get, $"/api/invoices?clinicId={tenant.ClinicId}&status=draft", null);
        Assert.Equal(0, listed.GetProperty("items")[0].Amount("balanceDue"));

        var id = await desk.CreateInvoiceAsync(tenant.ClinicId);
        await desk.AddLineAsync(id, Line(5000));
        var opened = await desk.AddLineAsync(id, Line(3000, kind: "retail-product"));
        var lines = opened.GetProperty("lines").EnumerateArray().Select(l => l.GetProperty("line").GetProperty("id").GetGuid()).ToList();
        await desk.OpenAsync(id);
        var one = await desk.SendAsync(HttpMethod.Delete, $"/api/invoices/{id}/lines/{lines[0]}", null);
        Assert.Equal("open", one.GetProperty("status").GetString());
        var (last, problem) = await desk.TrySendAsync(HttpMethod.Delete, $"/api/invoices/{id}/lines/{lines[1]}", null);
        Assert.Equal(HttpStatusCode.Conflict, last);
        Assert.Contains("void", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);

        var after = await desk.GetInvoiceAsync(id);
        Assert.Equal("open", after.GetProperty("status").GetString());
        Assert.Equal(3000, after.Total("total"));
        Assert.Equal(3000, await ReceivableAsync(tenant.TenantId));
    }

    [Fact]
    public async Task A_tip_raised_after_a_card_payment_is_charged_and_a_tip_lowered_is_refunded_on_the_card()
    {
        var (tenant, desk, owner) = await TenantAsync();
        var provider = await ReceiptRequests.CreateProviderAsync(tenant, "Dr. Ana Rivera");
        var id = await desk.CreateInvoiceAsync(tenant.ClinicId);
        await desk.AddLineAsync(id, Line(20000, providerId: provider));
        await desk.SendAsync(HttpMethod.Put, $"/api/invoices/{id}/tip",
            new { kind = "percent", percent = 15, split = new { kind = "single-provider", providerId = provider } });
        await desk.OpenAsync(id);
        var paid = await desk.PayAsync(id, new[] { new { kind = "credit", amount = Usd(23000), paymentMethodId = "pm_card_visa" } });
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        var cardTender = TenderId(paid);

        // Up: 15 % → 20 % ($30 → $40). The $10 is a new charge on the same card, captured.
        var raised = await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{id}/tip-adjustments",
            new { kind = "percent", percent = 20, split = new { kind = "single-provider", providerId = provider } }, idempotencyKey: Key());
        Assert.Equal("paid", raised.GetProperty("status").GetString());
        Assert.Equal(4000, raised.Total("tips"));
        Assert.Equal(24000, raised.Total("total"));
        Assert.Equal(24000, raised.Total("paid"));
        var extra = raised.GetProperty("tenders")[1];
        Assert.Equal(1000, extra.Amount("amount"));
        var calls = factory.Gateway.CallsFor(id);
        Assert.Contains(calls, c => c.Operation == "create" && c.Amount == 1000 && c.Error is null);
        Assert.Contains(calls, c => c.Operation == "capture" && c.PaymentId == extra.GetProperty("card").GetProperty("paymentId").GetString());

        // Down: to a $25 amount. The $15 goes back as a refund of the tip on the card; the sale is reposted.
        var lowered = await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{id}/tip-adjustments",
            new { kind = "amount", amount = Usd(2500), split = new { kind = "single-provider", providerId = provider }, tenderId = cardTender },
            idempotencyKey: Key());
        Assert.Equal("paid", lowered.GetProperty("status").GetString());
        Assert.Equal(2500, lowered.Total("tips"));
        Assert.Equal(0, lowered.Total("balanceDue"));
        Assert.Equal(1500, lowered.Total("tipRefunded"));
        var tipRefund = Assert.Single(lowered.GetProperty("refunds").EnumerateArray());
        Assert.True(tipRefund.GetProperty("tipAdjustment").GetBoolean());
        Assert.Contains(factory.Gateway.CallsFor(id), c => c.Operation == "refund" && c.Amount == 1500 && c.Error is null);

        // The ledger: nothing receivable, tips payable = the new tip, card clearing = what the card kept.
        Assert.Equal(0, await ReceivableAsync(tenant.TenantId));
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, tenant.TenantId));
        var day = await LatestBusinessDateAsync(factory, tenant.TenantId);
        var tb = await owner.SendAsync(HttpMethod.Get, $"/api/reports/trial-balance?clinicId={tenant.ClinicId}&date={day:yyyy-MM-dd}", null);
        Assert.Equal(-2500, tb.Closing($"tips-payable:{provider:D}"));
        Assert.Equal(22500, tb.Closing("card-clearing"));

        // A tender that is not the invoice's is refused.
        var (unknown, _) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{id}/tip-adjustments",
            new { kind = "amount", amount = Usd(100), tenderId = Guid.NewGuid() }, Key());
        Assert.Equal(HttpStatusCode.BadRequest, unknown);
    }

    [Fact]
    public async Task A_tip_is_not_adjusted_on_a_cash_tender_or_an_unpaid_invoice()
    {
        var (tenant, desk, _) = await TenantAsync();
        var id = await OpenInvoiceAsync(desk, tenant.ClinicId, 10000);
        var (unpaid, _) = await desk.TrySendAsync(
            HttpMethod.Post, $"/api/invoices/{id}/tip-adjustments", new { kind = "amount", amount = Usd(500) }, Key());
        Assert.Equal(HttpStatusCode.BadRequest, unpaid); // no card tender to adjust on
        var paid = await desk.PayAsync(id, new[] { new { kind = "cash", amount = Usd(10000) } });
        var (cash, problem) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{id}/tip-adjustments",
            new { kind = "amount", amount = Usd(500), tenderId = TenderId(paid) }, Key());
        Assert.Equal(HttpStatusCode.BadRequest, cash);
        Assert.Equal("tenderId", problem.GetProperty("errors").EnumerateObject().Single().Name);
        Assert.Equal(0, (await desk.GetInvoiceAsync(id)).Total("tips"));
    }

    [Fact]
    public async Task Payments_list_shows_the_days_charges_released_authorisations_and_refunds_with_totals()
    {
        var (tenant, desk, _) = await TenantAsync();
        var a = await OpenInvoiceAsync(desk, tenant.ClinicId, 10000);
        var paidA = await desk.PayAsync(a, new[] { new { kind = "credit", amount = Usd(10000), paymentMethodId = "pm_card_visa" } });
        var b = await OpenInvoiceAsync(desk, tenant.ClinicId, 5000);
        await desk.PayAsync(b, new[] { new { kind = "debit", amount = Usd(5000), paymentMethodId = "tok_visa_debit" } });
        await RefundAsync(desk, a, TenderId(paidA), 2500);
        // A split whose second card is declined: the first card was authorised, then the hold released.
        var c = await OpenInvoiceAsync(desk, tenant.ClinicId, 8000);
        await desk.PayAsync(c, new object[]
        {
            new { kind = "credit", amount = Usd(3000), paymentMethodId = "pm_card_mastercard" },
            new { kind = "credit", amount = Usd(5000), paymentMethodId = "pm_card_chargeDeclined" },
        }, expected: HttpStatusCode.PaymentRequired);

        var day = await LatestBusinessDateAsync(factory, tenant.TenantId);
        var list = await desk.SendAsync(HttpMethod.Get, $"/api/clinics/{tenant.ClinicId}/payments?date={day:yyyy-MM-dd}", null);
        Assert.Equal(4, list.GetProperty("total").GetInt64());
        var items = list.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(["charge", "charge", "refund", "authorization"], items.Select(i => i.GetProperty("kind").GetString()));
        Assert.Equal([10000L, 5000, 2500, 3000], items.Select(i => i.Amount("amount")));
        Assert.Equal("released", items[3].GetProperty("status").GetString());
        Assert.Equal(items[0].GetProperty("paymentId").GetString(), items[2].GetProperty("paymentId").GetString());
        var totals = list.GetProperty("totals").EnumerateArray().ToDictionary(t => t.GetProperty("kind").GetString()!, t => t.Amount("amount"));
        Assert.Equal(new Dictionary<string, long> { ["charge"] = 15000, ["authorization"] = 3000, ["refund"] = 2500 }, totals);
        Assert.Equal(12500, list.Amount("net"));

        // Paged, filtered, validated, and tenant-scoped.
        var page = await desk.SendAsync(
            HttpMethod.Get, $"/api/clinics/{tenant.ClinicId}/payments?date={day:yyyy-MM-dd}&kind=charge&pageSize=1&page=2", null);
        Assert.Equal(2, page.GetProperty("total").GetInt64());
        Assert.Equal(5000, Assert.Single(page.GetProperty("items").EnumerateArray()).Amount("amount"));
        Assert.Equal(HttpStatusCode.BadRequest, (await desk.TrySendAsync(HttpMethod.Get, $"/api/clinics/{tenant.ClinicId}/payments", null)).Status);
        Assert.Equal(
            HttpStatusCode.BadRequest,
            (await desk.TrySendAsync(HttpMethod.Get, $"/api/clinics/{tenant.ClinicId}/payments?date=2026-13-45", null)).Status);
        var empty = await desk.SendAsync(HttpMethod.Get, $"/api/clinics/{tenant.ClinicId}/payments?date={day.AddDays(-1):yyyy-MM-dd}", null);
        Assert.Equal(0, empty.GetProperty("total").GetInt64());
        var other = await TestTenant.CreateAsync(factory);
        var stranger = other.ClientFor(other.Owner);
        Assert.Equal(
            HttpStatusCode.NotFound,
            (await stranger.TrySendAsync(HttpMethod.Get, $"/api/clinics/{tenant.ClinicId}/payments?date={day:yyyy-MM-dd}", null)).Status);
    }
}
