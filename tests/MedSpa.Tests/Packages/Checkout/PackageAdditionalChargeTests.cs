using System.Net;
using System.Text.Json;
using MedSpa.GrainInterfaces;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.Packages.Checkout.PackageCheckout;

namespace MedSpa.Tests.Packages.Checkout;

/// <summary>A package's "additional charge per session" at checkout (issue 14 §1 settings, §3 "the additional charge to
/// add to the invoice"): the package tender puts it on the invoice as a line taxed and earned like the service, once
/// (a replayed payment adds nothing), never when the payment is undone, and cancels it when the tender is given back;
/// a front-desk redemption that names an open invoice adds it there. The ledger balances throughout.</summary>
public sealed class PackageAdditionalChargeTests(CardCheckoutFactory factory) : IClassFixture<CardCheckoutFactory>
{
    private const long Charge = 3_000;

    private static async Task<(PackageCheckout World, Guid PurchaseId)> PackageWithChargeAsync(CardCheckoutFactory factory)
    {
        var world = await CreateAsync(factory);
        var terms = world.Standard("Laser x5", 45_000, 5, 9_000);
        terms = terms with { Services = [terms.Services[0] with { AdditionalCharge = new Money(Charge, "USD") }] };
        var (_, purchaseId, _) = await world.SellAsync(await world.DefineAsync(terms));
        return (world, purchaseId);
    }

    private static async Task<(Guid InvoiceId, Guid LineId)> OpenServiceInvoiceAsync(PackageCheckout world, bool withRetail = false)
    {
        var invoiceId = await world.CreateInvoiceAsync();
        var withLine = await world.Desk.AddLineAsync(invoiceId, world.ServiceLine());
        if (withRetail)
        {
            await world.Desk.AddLineAsync(invoiceId, Line(2_000, kind: "retail-product"));
        }

        await world.Desk.OpenAsync(invoiceId);
        return (invoiceId, withLine.GetProperty("lines")[0].GetProperty("line").GetProperty("id").GetGuid());
    }

    private static List<string> Descriptions(JsonElement invoice) =>
        [.. invoice.GetProperty("lines").EnumerateArray().Select(l => l.GetProperty("line").GetProperty("description").GetString()!)];

    [Fact]
    public async Task A_package_tender_adds_its_additional_charge_to_the_invoice_once_and_the_desk_collects_it()
    {
        var (world, purchaseId) = await PackageWithChargeAsync(factory);
        var (invoiceId, lineId) = await OpenServiceInvoiceAsync(world);
        var key = Guid.NewGuid().ToString("N");
        var tender = new[] { new { kind = "package", purchaseId, serviceLineId = lineId } };

        var paid = await world.Desk.PayAsync(invoiceId, tender, key);
        var replay = await world.Desk.PayAsync(invoiceId, tender, key);
        Assert.Equal(paid.GetRawText(), replay.GetRawText());
        Assert.Equal("partially-paid", paid.GetProperty("status").GetString());
        Assert.Equal(["HydraFacial", "Additional charge — HydraFacial"], Descriptions(paid));
        var extra = paid.GetProperty("lines")[1].GetProperty("line");
        Assert.Equal(Charge, extra.Amount("unitPrice"));
        Assert.Equal("service", extra.GetProperty("taxCategory").GetString());
        Assert.Equal("services", extra.GetProperty("incomeCategory").GetString());
        Assert.Equal(JsonValueKind.Null, extra.GetProperty("catalogItemId").ValueKind); // no package pays it
        Assert.Equal(Charge, Assert.Single(paid.GetProperty("tenders").EnumerateArray()).Amount("additionalCharge"));
        Assert.Equal(Charge, paid.Total("balanceDue"));
        Assert.Equal(4, (await world.PackageAsync(purchaseId))!.SessionsLeft);

        // Fetched again it is the same invoice (the line was added once), and the desk takes the charge in cash.
        Assert.Equal(2, (await world.Desk.GetInvoiceAsync(invoiceId)).GetProperty("lines").GetArrayLength());
        var settled = await world.Desk.PayAsync(invoiceId, new[] { new { kind = "cash", amount = Usd(Charge) } });
        Assert.Equal("paid", settled.GetProperty("status").GetString());

        // The session's $90 left the liability; the line's $120 and the $30 charge are service revenue.
        var tb = await world.TrialBalanceAsync();
        Assert.Equal(-36_000, tb.Closing("package-liability"));
        Assert.Equal(-(ServicePrice + Charge), tb.Closing("revenue:services"));
        Assert.Equal(0, tb.Closing("accounts-receivable"));
        Assert.Equal(45_000 + Charge, tb.Closing("cash-drawer"));
    }

    [Fact]
    public async Task A_split_payment_undone_by_a_declined_card_adds_no_charge_and_keeps_the_session()
    {
        var (world, purchaseId) = await PackageWithChargeAsync(factory);
        var (invoiceId, lineId) = await OpenServiceInvoiceAsync(world, withRetail: true);

        var (status, problem) = await world.Desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments", new
        {
            tenders = new object[]
            {
                new { kind = "package", purchaseId, serviceLineId = lineId },
                new { kind = "credit", amount = Usd(2_000), paymentMethodId = "pm_card_chargeDeclined" },
            },
        }, Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.PaymentRequired, status);
        Assert.Equal("payment_declined", problem.GetProperty("code").GetString());

        var invoice = await world.Desk.GetInvoiceAsync(invoiceId);
        Assert.Equal(2, invoice.GetProperty("lines").GetArrayLength());
        Assert.DoesNotContain(Descriptions(invoice), d => d.StartsWith("Additional charge", StringComparison.Ordinal));
        Assert.Equal(ServicePrice + 2_000, invoice.Total("balanceDue"));
        var package = await world.PackageAsync(purchaseId);
        Assert.Equal((5, 0L), (package!.SessionsLeft, package.Reserved.Amount));
        await world.TrialBalanceAsync();
    }

    [Fact]
    public async Task Giving_the_package_tender_back_cancels_the_unpaid_additional_charge()
    {
        var (world, purchaseId) = await PackageWithChargeAsync(factory);
        var (invoiceId, lineId) = await OpenServiceInvoiceAsync(world);
        var paid = await world.Desk.PayAsync(invoiceId, new[] { new { kind = "package", purchaseId, serviceLineId = lineId } });
        var tenderId = Assert.Single(paid.GetProperty("tenders").EnumerateArray()).GetProperty("id").GetGuid();

        var refunded = await world.Desk.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds",
            new { tenderId, amount = Usd(ServicePrice) }, idempotencyKey: Guid.NewGuid().ToString("N"));
        Assert.Equal(0, refunded.Total("balanceDue"));
        var cancellation = Assert.Single(refunded.GetProperty("writeOffs").EnumerateArray());
        Assert.Equal(Charge, cancellation.Amount("amount"));
        Assert.True(cancellation.GetProperty("cancellation").GetBoolean());
        Assert.Equal(5, (await world.PackageAsync(purchaseId))!.SessionsLeft);

        var tb = await world.TrialBalanceAsync();
        Assert.Equal(-45_000, tb.Closing("package-liability"));
        Assert.Equal(0, tb.Closing("accounts-receivable"));
    }

    [Fact]
    public async Task A_front_desk_redemption_naming_an_open_invoice_adds_the_charge_there_once()
    {
        var (world, purchaseId) = await PackageWithChargeAsync(factory);
        var invoiceId = await world.CreateInvoiceAsync();
        var url = $"/api/packages/{purchaseId}/redemptions";
        var key = Guid.NewGuid().ToString("N");
        var body = new { serviceId = world.ServiceId, clinicId = world.Tenant.ClinicId, invoiceId };

        var redeemed = await world.Desk.SendAsync(HttpMethod.Post, url, body, HttpStatusCode.Created, key);
        var replay = await world.Desk.SendAsync(HttpMethod.Post, url, body, HttpStatusCode.Created, key);
        Assert.Equal(Charge, redeemed.Amount("additionalCharge"));
        var lineId = redeemed.GetProperty("invoiceLineId").GetGuid();
        Assert.Equal(lineId, replay.GetProperty("invoiceLineId").GetGuid());
        var invoice = await world.Desk.GetInvoiceAsync(invoiceId);
        var line = Assert.Single(invoice.GetProperty("lines").EnumerateArray()).GetProperty("line");
        Assert.Equal((lineId, "Additional charge — HydraFacial", Charge),
            (line.GetProperty("id").GetGuid(), line.GetProperty("description").GetString(), line.Amount("unitPrice")));
        Assert.Equal("services", line.GetProperty("incomeCategory").GetString());
        Assert.Equal(4, (await world.PackageAsync(purchaseId))!.SessionsLeft);

        // The desk collects it with the invoice; the ledger balances.
        await world.Desk.OpenAsync(invoiceId);
        Assert.Equal("paid", (await world.Desk.PayAsync(invoiceId, new[] { new { kind = "cash", amount = Usd(Charge) } })).GetProperty("status").GetString());
        var tb = await world.TrialBalanceAsync();
        Assert.Equal(0, tb.Closing("accounts-receivable"));
        Assert.Equal(-36_000, tb.Closing("package-liability"));

        // Without an invoice the answer reports the charge and adds it nowhere.
        var alone = await world.Desk.SendAsync(HttpMethod.Post, url, new { serviceId = world.ServiceId, clinicId = world.Tenant.ClinicId },
            HttpStatusCode.Created, Guid.NewGuid().ToString("N"));
        Assert.Equal(Charge, alone.Amount("additionalCharge"));
        Assert.Equal(JsonValueKind.Null, alone.GetProperty("invoiceLineId").ValueKind);

        // An invoice of no one in this organisation, or of another patient, is refused before anything is redeemed.
        var unknown = await world.Desk.TrySendAsync(HttpMethod.Post, url,
            new { serviceId = world.ServiceId, clinicId = world.Tenant.ClinicId, invoiceId = Guid.NewGuid() }, Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.BadRequest, unknown.Status);
        Assert.True(unknown.Body.GetProperty("errors").TryGetProperty("invoiceId", out _), unknown.Body.ToString());
        var someoneElse = await world.Desk.SendAsync(HttpMethod.Post, "/api/invoices", new { clinicId = world.Tenant.ClinicId }, HttpStatusCode.Created);
        var foreign = await world.Desk.TrySendAsync(HttpMethod.Post, url,
            new { serviceId = world.ServiceId, clinicId = world.Tenant.ClinicId, invoiceId = someoneElse.GetProperty("id").GetGuid() },
            Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.BadRequest, foreign.Status);
        Assert.Equal(3, (await world.PackageAsync(purchaseId))!.SessionsLeft);
    }
}
