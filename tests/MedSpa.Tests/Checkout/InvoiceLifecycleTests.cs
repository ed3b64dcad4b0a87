using System.Net;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Checkout;
using MedSpa.Tests.Packages.Api;
using MedSpa.Tests.Packages.Wallet;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;
using static MedSpa.Tests.Checkout.CheckoutRequests;

namespace MedSpa.Tests.Checkout;

public sealed class InvoiceLifecycleTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task Draft_to_open_to_partially_paid_to_paid_then_partial_refund_posts_balanced_entries()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var provider = await Receipts.ReceiptRequests.CreateProviderAsync(tenant, "Dr. Ana Rivera");

        var invoiceId = await desk.CreateInvoiceAsync(tenant.ClinicId);
        await desk.AddLineAsync(invoiceId, Line(20000, providerId: provider));
        var withRetail = await desk.AddLineAsync(invoiceId, Line(5000, kind: "retail-product"));
        var retailLine = withRetail.GetProperty("lines")[1].GetProperty("line").GetProperty("id").GetGuid();
        await desk.SendAsync(HttpMethod.Put, $"/api/invoices/{invoiceId}/lines/{retailLine}", Line(2500, kind: "retail-product", quantity: 2));
        await desk.SendAsync(HttpMethod.Put, $"/api/invoices/{invoiceId}/tip",
            new { kind = "percent", percent = 20, split = new { kind = "single-provider", providerId = provider } });

        var quote = await desk.SendAsync(HttpMethod.Get, $"/api/invoices/{invoiceId}/quote", null);
        Assert.Equal(25000, quote.GetProperty("totals").Amount("subtotal"));
        Assert.Equal(4000, quote.GetProperty("totals").Amount("tips")); // 20 % of the $200 service, not the retail
        Assert.Equal(29000, quote.GetProperty("totals").Amount("total")); // no tax rates: untaxed

        var opened = await desk.OpenAsync(invoiceId);
        Assert.Equal("open", opened.GetProperty("status").GetString());
        Assert.Matches(@"^INV-\d{4}-0001$", opened.GetProperty("number").GetString());

        var partial = await desk.PayAsync(invoiceId, new[] { new { kind = "check", amount = Usd(10000), reference = "chk 1001" } });
        Assert.Equal("partially-paid", partial.GetProperty("status").GetString());
        Assert.Equal(19000, partial.Total("balanceDue"));

        var paid = await desk.PayAsync(invoiceId, new[] { new { kind = "cash", tendered = Usd(20000) } });
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        Assert.Equal(1000, paid.Total("changeDue"));
        var cashTender = paid.GetProperty("tenders")[1];
        Assert.Equal(19000, cashTender.Amount("amount"));

        // Paid invoices are immutable: corrections are refunds.
        var (status, _) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/lines", Line(100));
        Assert.Equal(HttpStatusCode.Conflict, status);
        (status, _) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/void", new { });
        Assert.Equal(HttpStatusCode.Conflict, status);

        var refunded = await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds",
            new { tenderId = cashTender.GetProperty("id").GetGuid(), amount = Usd(5000), reason = "returned product" },
            idempotencyKey: Guid.NewGuid().ToString("N"));
        Assert.Equal("paid", refunded.GetProperty("status").GetString());
        Assert.True(refunded.GetProperty("totals").GetProperty("isPartiallyRefunded").GetBoolean());

        var counts = await JournalCountsAsync(factory, tenant.TenantId, invoiceId);
        Assert.Equal(new Dictionary<string, int> { ["sale"] = 1, ["tender"] = 2, ["refund"] = 1 }, counts);
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, tenant.TenantId));

        var owner = tenant.ClientFor(tenant.Owner);
        var day = await LatestBusinessDateAsync(factory, tenant.TenantId);
        var tb = await owner.SendAsync(HttpMethod.Get, $"/api/reports/trial-balance?clinicId={tenant.ClinicId}&date={day:yyyy-MM-dd}", null);
        Assert.True(tb.GetProperty("balanced").GetBoolean());
        Assert.Equal(4, tb.GetProperty("entries").GetInt32());
        Assert.Equal(0, tb.Closing("accounts-receivable"));
        Assert.Equal(14000, tb.Closing("cash-drawer"));
        Assert.Equal(10000, tb.Closing("check-clearing"));

        // Cash reconciliation: the drawer should hold 190 − 50 = $140; $139.50 counted is 50¢ short.
        var recon = await desk.SendAsync(HttpMethod.Post, "/api/reports/cash-reconciliation",
            new
            {
                clinicId = tenant.ClinicId,
                date = day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture),
                counted = Usd(13950),
            },
            HttpStatusCode.Created);
        Assert.Equal(14000, recon.Amount("expected"));
        Assert.Equal(-50, recon.Amount("difference"));

        // Tips: $40 sold, the refund took back its share of the tip (proportional reversal).
        var tips = await owner.SendAsync(HttpMethod.Get,
            $"/api/reports/tips?clinicId={tenant.ClinicId}&from={day:yyyy-MM-dd}&to={day:yyyy-MM-dd}", null);
        var providerTips = Assert.Single(tips.GetProperty("providers").EnumerateArray());
        Assert.Equal(provider, providerTips.GetProperty("providerId").GetGuid());
        Assert.InRange(providerTips.Amount("tips"), 1, 3999);
        var csv = await owner.GetStringAsync($"/api/reports/tips?clinicId={tenant.ClinicId}&from={day:yyyy-MM-dd}&to={day:yyyy-MM-dd}&format=csv");
        Assert.StartsWith("provider_id,provider_name,tips,currency\n" + provider, csv, StringComparison.Ordinal);

        var list = await desk.SendAsync(HttpMethod.Get, $"/api/invoices?clinicId={tenant.ClinicId}&status=paid", null);
        Assert.Equal(1, list.GetProperty("total").GetInt64());
        Assert.Equal(29000, list.GetProperty("items")[0].Amount("total"));
    }

    [Fact]
    public async Task Editing_an_unpaid_open_invoice_reposts_the_sale_and_voiding_reverses_it()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var invoiceId = await desk.CreateInvoiceAsync(tenant.ClinicId);
        await desk.AddLineAsync(invoiceId, Line(10000));
        var opened = await desk.OpenAsync(invoiceId);
        var edited = await desk.AddLineAsync(invoiceId, Line(5000, kind: "retail-product"));
        Assert.Equal("open", edited.GetProperty("status").GetString());
        Assert.Equal(opened.GetProperty("number").GetString(), edited.GetProperty("number").GetString());
        Assert.Equal(15000, edited.Total("total"));

        var voided = await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/void", new { reason = "patient left" });
        Assert.Equal("void", voided.GetProperty("status").GetString());
        var (payStatus, _) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments",
            new { tenders = new[] { new { kind = "cash", amount = Usd(100) } } }, Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.Conflict, payStatus);

        Assert.Equal(new Dictionary<string, int> { ["sale"] = 2, ["reversal"] = 1, ["void"] = 1 },
            await JournalCountsAsync(factory, tenant.TenantId, invoiceId));
        var day = await LatestBusinessDateAsync(factory, tenant.TenantId);
        var tb = await desk.SendAsync(HttpMethod.Get, $"/api/reports/trial-balance?clinicId={tenant.ClinicId}&date={day:yyyy-MM-dd}", null);
        Assert.True(tb.GetProperty("balanced").GetBoolean());
        Assert.All(tb.GetProperty("accounts").EnumerateArray(), a => Assert.Equal(0, a.GetProperty("closingBalance").GetInt64()));
    }

    [Fact]
    public async Task Inclusive_8_875_percent_rate_extracts_tax_end_to_end()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var rate = await owner.SendAsync(HttpMethod.Post, $"/api/clinics/{tenant.ClinicId}/tax-rates",
            new { name = "NYC sales tax", ratePercent = 8.875m, taxCategory = "retail", inclusive = true }, HttpStatusCode.Created);
        var rateId = rate.GetProperty("id").GetGuid();

        var invoiceId = await owner.CreateInvoiceAsync(tenant.ClinicId);
        await owner.AddLineAsync(invoiceId, Line(1000, kind: "retail-product", taxCategory: "retail"));
        var withPenny = await owner.AddLineAsync(invoiceId, Line(1, kind: "retail-product", taxCategory: "retail"));
        Assert.Equal(1001, withPenny.Total("total")); // inclusive: the patient pays the listed prices
        Assert.Equal(82, withPenny.Total("tax")); // $10.00 → 9.18 + 0.82; the 1¢ line carries no tax
        Assert.Equal(919, withPenny.Total("netSales"));

        await owner.OpenAsync(invoiceId);
        var paid = await owner.PayAsync(invoiceId, new[] { new { kind = "cash", amount = Usd(1001) } });
        Assert.Equal("paid", paid.GetProperty("status").GetString());

        var day = await LatestBusinessDateAsync(factory, tenant.TenantId);
        var tb = await owner.SendAsync(HttpMethod.Get, $"/api/reports/trial-balance?clinicId={tenant.ClinicId}&date={day:yyyy-MM-dd}", null);
        Assert.Equal(-82, tb.Closing($"tax-payable:{rateId:D}"));
        Assert.Equal(-919, tb.Closing("revenue:retail"));
        Assert.Equal(1001, tb.Closing("cash-drawer"));
    }

    [Fact]
    public async Task Another_tenants_invoice_is_not_found()
    {
        var a = await TestTenant.CreateAsync(factory);
        var b = await TestTenant.CreateAsync(factory);
        var clientA = a.ClientFor(a.Owner);
        var clientB = b.ClientFor(b.Owner);
        var invoiceId = await clientA.CreateInvoiceAsync(a.ClinicId);
        await clientA.AddLineAsync(invoiceId, Line(1000));

        Assert.Equal(HttpStatusCode.NotFound, (await clientB.TrySendAsync(HttpMethod.Get, $"/api/invoices/{invoiceId}", null)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await clientB.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/open", null)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await clientB.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/lines", Line(1))).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await clientB.TrySendAsync(HttpMethod.Post, "/api/invoices", new { clinicId = a.ClinicId })).Status);
        Assert.Equal(HttpStatusCode.NotFound,
            (await clientB.TrySendAsync(HttpMethod.Get, $"/api/reports/trial-balance?clinicId={a.ClinicId}&date=2025-01-01", null)).Status);
        Assert.Equal(0, (await clientB.SendAsync(HttpMethod.Get, "/api/invoices", null)).GetProperty("total").GetInt64());

        // A provider is not front desk: no checkout.
        var provider = a.ClientFor(await a.CreateUserAsync("provider"));
        Assert.Equal(HttpStatusCode.Forbidden, (await provider.TrySendAsync(HttpMethod.Get, $"/api/invoices/{invoiceId}", null)).Status);
        Assert.Single((await clientA.GetInvoiceAsync(invoiceId)).GetProperty("lines").EnumerateArray());
    }

    [Fact]
    public async Task Bad_input_is_a_4xx_naming_the_field_and_changes_nothing()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var invoiceId = await desk.CreateInvoiceAsync(tenant.ClinicId);

        async Task ExpectField(
            HttpMethod method, string url, object? body, string field, HttpStatusCode status = HttpStatusCode.BadRequest, string? key = null)
        {
            var (actual, problem) = await desk.TrySendAsync(method, url, body, key);
            Assert.True(actual == status, $"{url}: {(int)actual} {problem}");
            if (field.Length > 0)
            {
                Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"expected an error for {field}: {problem}");
            }
        }

        await ExpectField(HttpMethod.Post, "/api/invoices", new { }, "clinicId");
        await ExpectField(HttpMethod.Post, $"/api/invoices/{invoiceId}/lines",
            new { kind = "service", description = "x", quantity = 1, unitPrice = new { amount = 100, currency = "EUR" } }, "unitPrice.currency");
        await ExpectField(HttpMethod.Post, $"/api/invoices/{invoiceId}/lines", Line(100, quantity: 0), "quantity");
        await ExpectField(HttpMethod.Post, $"/api/invoices/{invoiceId}/lines", Line(100, kind: "spaceship"), "kind");
        await ExpectField(HttpMethod.Post, $"/api/invoices/{invoiceId}/lines", Line(-5), "unitPrice.amount");
        await ExpectField(HttpMethod.Post, $"/api/invoices/{invoiceId}/lines", Line(100, kind: "retail-product", quantity: 1.5m), "quantity");
        await ExpectField(HttpMethod.Post, $"/api/invoices/{invoiceId}/open", null, "lines");
        await ExpectField(HttpMethod.Put, $"/api/invoices/{invoiceId}/discount", new { kind = "percent", percent = 120 }, "percent");
        await ExpectField(HttpMethod.Get, "/api/invoices?status=lost", null, "status");
        await ExpectField(HttpMethod.Post, $"/api/invoices/{invoiceId}/lines", new { kind = "service", quantity = "lots" }, "");
        await ExpectField(
            HttpMethod.Put, $"/api/invoices/{invoiceId}/tip", new { kind = "percent", percent = 20, split = new { kind = "single-provider" } },
            "split.providerId");
        await ExpectField(HttpMethod.Get, $"/api/reports/trial-balance?clinicId={tenant.ClinicId}", null, "date");

        await desk.AddLineAsync(invoiceId, Line(5000));
        await desk.OpenAsync(invoiceId);
        // Money endpoints require an Idempotency-Key.
        var (noKey, _) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments",
            new { tenders = new[] { new { kind = "cash", amount = Usd(100) } } });
        Assert.Equal(HttpStatusCode.BadRequest, noKey);
        var k = () => Guid.NewGuid().ToString("N");
        await ExpectField(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments", new { tenders = Array.Empty<object>() }, "tenders", key: k());
        await ExpectField(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments",
            new { tenders = new[] { new { kind = "cash", amount = Usd(5001) } } }, "tenders", key: k());
        await ExpectField(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments",
            new { tenders = new[] { new { kind = "check", amount = new { amount = 100, currency = "CAD" } } } }, "tenders[0].amount.currency",
            key: k());
        // Packages are real tenders now (tests/MedSpa.Tests/Packages/Checkout): one names the package it draws on.
        await ExpectField(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments",
            new { tenders = new[] { new { kind = "package", amount = Usd(100) } } }, "tenders[0].purchaseId", key: k());
        // Gift cards are real tenders now (tests/MedSpa.Tests/GiftCards): one names the card it draws on (was 422
        // tender_not_supported before issue 15), and an unknown code is a 404 naming the field.
        await ExpectField(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments",
            new { tenders = new[] { new { kind = "gift-card", amount = Usd(100) } } }, "tenders[0].giftCardCode", key: k());
        var (giftCard, giftCardProblem) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments",
            new { tenders = new[] { new { kind = "gift-card", amount = Usd(100), giftCardCode = "GC-AAAA-BBBB-CCCC" } } }, k());
        Assert.Equal(HttpStatusCode.NotFound, giftCard);
        Assert.Equal("gift_card_not_found", giftCardProblem.GetProperty("code").GetString());
        // A card tender names its card.
        await ExpectField(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments",
            new { tenders = new[] { new { kind = "credit", amount = Usd(100) } } }, "tenders[0].paymentMethodId", key: k());
        await ExpectField(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments",
            new { tenders = new[] { new { kind = "debit", amount = Usd(100), paymentMethodId = "visa card" } } }, "tenders[0].paymentMethodId",
            key: k());
        await ExpectField(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments",
            new { tenders = new[] { new { kind = "cash", amount = Usd(100), paymentMethodId = "pm_card_visa" } } }, "tenders[0].paymentMethodId",
            key: k());
        await ExpectField(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds",
            new { tenderId = Guid.NewGuid(), amount = Usd(100) }, "tenderId", key: k());

        var invoice = await desk.GetInvoiceAsync(invoiceId);
        Assert.Equal("open", invoice.GetProperty("status").GetString());
        Assert.Empty(invoice.GetProperty("tenders").EnumerateArray());
        Assert.Equal(new Dictionary<string, int> { ["sale"] = 1 }, await JournalCountsAsync(factory, tenant.TenantId));
    }

    /// <summary>
    /// A payment whose package and wallet tenders reserve and complete within the call writes no pending-money reminder:
    /// the reminder is for a payment whose steps failed (CheckoutConvergenceTests), not a row written (and later
    /// deleted) on every such payment. Read from the silo's reminder table right after the answer.
    /// </summary>
    [Fact]
    public async Task A_package_or_wallet_payment_that_completes_registers_no_pending_money_reminder()
    {
        var world = await PackageApiWorld.CreateAsync(factory);
        var purchaseId = await world.SellAsync(world.Facials(quantity: 3, expiresAfterDays: null));
        using var desk = world.Desk;
        var created = await desk.SendAsync(HttpMethod.Post, "/api/invoices", new { clinicId = world.ClinicId, patientId = world.Owner },
            HttpStatusCode.Created);
        var packageInvoice = created.GetProperty("id").GetGuid();
        await desk.AddLineAsync(packageInvoice, new { kind = "service", description = "HydraFacial", quantity = 1, catalogItemId = world.Facial });
        var lineId = (await desk.OpenAsync(packageInvoice)).GetProperty("lines")[0].GetProperty("line").GetProperty("id").GetGuid();

        var paid = await desk.PayAsync(packageInvoice, new[] { new { kind = "package", purchaseId, serviceLineId = lineId } },
            "pay-" + Guid.NewGuid().ToString("N"));
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        Assert.Equal(2, (await world.Grain(purchaseId).GetAsync()).Package!.SessionsLeft);
        Assert.Equal(0, await PendingMoneyRemindersAsync(world.Tenant.TenantId, packageInvoice));

        using var admin = world.Admin;
        await admin.AdjustAsync(world.Owner, 5_000, world.ClinicId, "welcome credit");
        var walletInvoice = await desk.OpenInvoiceForAsync(world.ClinicId, world.Owner, 3_000);
        paid = await desk.PayAsync(walletInvoice, new[] { WalletRequests.WalletTender(3_000) }, "pay-" + Guid.NewGuid().ToString("N"));
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        Assert.Equal(0, await PendingMoneyRemindersAsync(world.Tenant.TenantId, walletInvoice));
    }

    private async Task<int> PendingMoneyRemindersAsync(Guid tenantId, Guid invoiceId)
    {
        var grainId = factory.Services.GetRequiredService<IGrainFactory>().GetGrain<IInvoiceGrain>(InvoiceGrainKey.For(tenantId, invoiceId))
            .GetGrainId();
        var rows = await factory.Services.GetRequiredService<IReminderTable>().ReadRows(grainId);
        return rows.Reminders.Count(r => r.ReminderName == InvoiceGrain.PendingMoneyReminder);
    }
}
