using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.Grains.Checkout.Tenders;
using MedSpa.Tests.Payments;
using MedSpa.Tests.TestHost;
using Npgsql;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.Memberships.MembershipRequests;

namespace MedSpa.Tests.Memberships;

/// <summary>Member pricing applied to invoice lines, and the membership tender paying a service with an included
/// session: reserved, committed, released when a split payment's card declines; the ledger balances.</summary>
public sealed partial class MembershipCheckoutTests(MembershipFactory factory) : IClassFixture<MembershipFactory>
{
    private sealed record World(
        TestTenant Tenant, HttpClient Owner, HttpClient Desk, Guid Facial, Guid Serum, Guid PatientId, string Card, Guid MembershipId) : IDisposable
    {
        public void Dispose()
        {
            Owner.Dispose();
            Desk.Dispose();
        }
    }

    private async Task<World> WorldAsync()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var facial = await owner.CreateServiceAsync("HydraFacial", 15000);
        var serum = await owner.CreateProductAsync("Vitamin C serum", 4000);
        var planId = await owner.CreatePlanAsync(facial);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var (patientId, card) = await tenant.CreatePatientWithCardAsync(desk);
        var enrolled = await desk.EnrolAsync(tenant, patientId, planId);
        return new World(tenant, owner, desk, facial, serum, patientId, card, enrolled.GetProperty("id").GetGuid());
    }

    private static async Task<Guid> InvoiceAsync(World w, Guid patientId, bool withSerum = true)
    {
        var created = await w.Desk.SendAsync(HttpMethod.Post, "/api/invoices", new { clinicId = w.Tenant.ClinicId, patientId }, HttpStatusCode.Created);
        var invoiceId = created.GetProperty("id").GetGuid();
        await w.Desk.AddLineAsync(invoiceId, new { kind = "service", description = "HydraFacial", quantity = 1, catalogItemId = w.Facial });
        if (withSerum)
        {
            await w.Desk.AddLineAsync(invoiceId, new { kind = "retail-product", description = "Serum", quantity = 1, catalogItemId = w.Serum });
        }

        return invoiceId;
    }

    private static object MembershipTender(Guid membershipId, long cents) => new { kind = "membership", amount = Usd(cents), reference = membershipId.ToString() };

    private static async Task<int> FacialsLeftAsync(World w) =>
        (await w.Desk.SendAsync(HttpMethod.Get, $"/api/memberships/{w.MembershipId}", null))
        .GetProperty("currentPeriod").GetProperty("sessions")[0].GetProperty("remaining").GetInt32();

    private static JsonElement Discount(JsonElement invoice, int line) => invoice.GetProperty("lines")[line].GetProperty("line").GetProperty("discount");

    [Fact]
    public async Task A_members_service_and_product_lines_get_the_plans_percent_off_and_a_non_member_pays_full_price()
    {
        using var w = await WorldAsync();
        var invoiceId = await InvoiceAsync(w, w.PatientId);
        var invoice = await w.Desk.GetInvoiceAsync(invoiceId);
        Assert.Equal((15m, "Member pricing"), (Discount(invoice, 0).GetProperty("percent").GetDecimal(), Discount(invoice, 0).GetProperty("reason").GetString()));
        Assert.Equal((10m, "Member pricing"), (Discount(invoice, 1).GetProperty("percent").GetDecimal(), Discount(invoice, 1).GetProperty("reason").GetString()));
        Assert.Equal(12750 + 3600, invoice.Total("total"));

        var stranger = await w.Tenant.CreatePatientAsync("Not", "Member");
        var full = await w.Desk.GetInvoiceAsync(await InvoiceAsync(w, stranger));
        Assert.Equal(JsonValueKind.Null, Discount(full, 0).ValueKind);
        Assert.Equal(15000 + 4000, full.Total("total"));

        // A paused membership gives no member pricing.
        await w.Desk.SendAsync(HttpMethod.Post, $"/api/memberships/{w.MembershipId}/pause", new { });
        var paused = await w.Desk.GetInvoiceAsync(await InvoiceAsync(w, w.PatientId));
        Assert.Equal(15000 + 4000, paused.Total("total"));
    }

    [Fact]
    public async Task The_included_session_pays_the_facial_once_per_period_and_the_ledger_balances()
    {
        using var w = await WorldAsync();
        var invoiceId = await InvoiceAsync(w, w.PatientId);
        await w.Desk.OpenAsync(invoiceId);
        var paid = await w.Desk.PayAsync(invoiceId, new object[]
        {
            MembershipTender(w.MembershipId, 12750),
            new { kind = "credit", amount = Usd(3600), paymentMethodId = w.Card, savedCard = true },
        });
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        Assert.Equal(0, await FacialsLeftAsync(w));

        // The period's one facial is used: a second facial cannot be paid with the membership.
        var second = await InvoiceAsync(w, w.PatientId, withSerum: false);
        await w.Desk.OpenAsync(second);
        var refused = await w.Desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{second}/payments",
            new { tenders = new[] { MembershipTender(w.MembershipId, 12750) } }, Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.Status);
        Assert.Equal("membership_benefit_insufficient", refused.Body.GetProperty("code").GetString());
        Assert.Equal("open", (await w.Desk.GetInvoiceAsync(second)).GetProperty("status").GetString());

        // Ledger: the fee deferred $150 of benefits; the tender drew $127.50 from it; everything balances.
        await factory.Membership(w.Tenant.TenantId, w.MembershipId).FlushProjectionAsync();
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, w.Tenant.TenantId));
        Assert.Equal(-(15000 - 12750), await factory.AccountBalanceAsync(w.Tenant.TenantId, "membership-liability"));
        Assert.Equal(5100, await factory.AccountBalanceAsync(w.Tenant.TenantId, "discounts:memberships"));
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        var usage = await conn.QuerySingleAsync<(string Kind, long Amount, Guid InvoiceId)>(
            "SELECT kind, amount, invoice_id FROM membership_benefit_usage WHERE tenant_id = @TenantId", new { w.Tenant.TenantId });
        Assert.Equal(("used", 12750L, invoiceId), usage);
    }

    /// <summary>
    /// A membership payment whose silo died after the session was reserved and before the invoice's reminder was
    /// registered, on an invoice nobody calls again: benefit holds are in no projection the stale-reservation sweep
    /// reads, so the membership itself, read once the hold is older than <c>StaleHoldAge</c>, asks the invoice, which
    /// undoes the payment; the session comes back and the desk's retry pays once.
    /// </summary>
    [Fact]
    public async Task A_session_held_by_a_payment_whose_silo_died_before_its_reminder_comes_back_when_the_membership_is_read()
    {
        using var w = await WorldAsync();
        var invoiceId = await InvoiceAsync(w, w.PatientId, withSerum: false);
        await w.Desk.OpenAsync(invoiceId);
        var tenders = new[] { MembershipTender(w.MembershipId, 12750) };
        var key = Guid.NewGuid().ToString("N");
        await using (await MedSpa.Tests.Cluster.RemindersRefused.ForAsync(factory.ConnectionString, invoiceId))
        {
            factory.Faults.FailAfter(w.Tenant.TenantId, p => p.Stage == PaymentStage.Reserving && p.Tenders.All(t => t.Phase == TenderPhase.Reserved),
                times: 10_000);
            var (status, body) = await w.Desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments", new { tenders }, key);
            factory.Faults.Heal(w.Tenant.TenantId);
            Assert.True(status == HttpStatusCode.ServiceUnavailable, $"expected 503, got {(int)status}: {body}");
        }

        Assert.Equal(0, await MedSpa.Tests.Cluster.RemindersRefused.CountAsync(factory.ConnectionString, invoiceId));
        Assert.Equal(0, await FacialsLeftAsync(w)); // held, and read while still young: nobody is asked

        factory.Clock.Advance(MedSpa.Grains.Memberships.MembershipGrain.StaleHoldAge + TimeSpan.FromMinutes(1));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (await FacialsLeftAsync(w) != 1)
        {
            Assert.True(DateTime.UtcNow < deadline, "the session is still held by the interrupted payment");
            await Task.Delay(100);
        }

        Assert.Equal("open", (await w.Desk.GetInvoiceAsync(invoiceId)).GetProperty("status").GetString());
        await w.Desk.PayAsync(invoiceId, tenders, key);
        Assert.Equal(0, await FacialsLeftAsync(w));
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, w.Tenant.TenantId));
    }

    [Fact]
    public async Task A_declined_card_in_a_split_payment_gives_the_session_back()
    {
        using var w = await WorldAsync();
        var invoiceId = await InvoiceAsync(w, w.PatientId);
        await w.Desk.OpenAsync(invoiceId);
        var declined = await w.Desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments", new
        {
            tenders = new object[]
            {
                MembershipTender(w.MembershipId, 12750),
                new { kind = "credit", amount = Usd(3600), paymentMethodId = "pm_card_chargeDeclined" },
            },
        }, Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.PaymentRequired, declined.Status);
        Assert.Equal(1, await FacialsLeftAsync(w));
        var invoice = await w.Desk.GetInvoiceAsync(invoiceId);
        Assert.Empty(invoice.GetProperty("tenders").EnumerateArray());

        // Paid again with a good card, the session is used once.
        await w.Desk.PayAsync(invoiceId, new object[]
        {
            MembershipTender(w.MembershipId, 12750),
            new { kind = "credit", amount = Usd(3600), paymentMethodId = "pm_card_visa" },
        });
        Assert.Equal(0, await FacialsLeftAsync(w));
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, w.Tenant.TenantId));
    }

    [Fact]
    public async Task A_membership_tender_must_name_a_membership_of_the_invoices_patient()
    {
        using var w = await WorldAsync();
        var stranger = await w.Tenant.CreatePatientAsync("Not", "Member");
        var invoiceId = await InvoiceAsync(w, stranger, withSerum: false);
        await w.Desk.OpenAsync(invoiceId);
        var refused = await w.Desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments",
            new { tenders = new[] { MembershipTender(w.MembershipId, 15000) } }, Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.Status);
        Assert.Equal("membership_other_patient", refused.Body.GetProperty("code").GetString());
        Assert.Equal(1, await FacialsLeftAsync(w));

        var unnamed = await w.Desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments",
            new { tenders = new[] { new { kind = "membership", amount = Usd(15000) } } }, Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.BadRequest, unnamed.Status);
    }
}
