using System.Net;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.Receipts;
using static MedSpa.Tests.Packages.Wallet.WalletRequests;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.Packages.Checkout.PackageCheckout;

namespace MedSpa.Tests.Packages.Checkout;

/// <summary>Paying with a package at checkout (issue 14 §3 "Checkout", §6 split payment with a declined card): the
/// package grain reserves, commits or releases; the ledger posts the gap between the line's price and the session's
/// value; the receipt shows what is left.</summary>
public sealed class PackageTenderTests(CardCheckoutFactory factory) : IClassFixture<CardCheckoutFactory>
{
    [Fact]
    public async Task A_package_pays_a_service_line_the_ledger_posts_the_gap_and_a_refund_gives_the_session_back()
    {
        var world = await CreateAsync(factory);
        var definitionId = await world.DefineAsync(world.Standard("HydraFacial x5", 45_000, 5, 9_000));
        var (_, purchaseId, _) = await world.SellAsync(definitionId);

        var invoiceId = await world.CreateInvoiceAsync();
        var withLine = await world.Desk.AddLineAsync(invoiceId, world.ServiceLine());
        var lineId = withLine.GetProperty("lines")[0].GetProperty("line").GetProperty("id").GetGuid();
        await world.Desk.OpenAsync(invoiceId);

        // The tender names the package and the line; without an amount it pays the line ($120), the session is worth $90.
        var paid = await world.Desk.PayAsync(invoiceId, new[] { new { kind = "package", purchaseId, serviceLineId = lineId } });
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        var tender = Assert.Single(paid.GetProperty("tenders").EnumerateArray());
        Assert.Equal(ServicePrice, tender.Amount("amount"));
        Assert.Equal(9_000, tender.Amount("redeemed"));
        Assert.Equal(purchaseId.ToString("D"), tender.GetProperty("reference").GetString());
        var package = await world.PackageAsync(purchaseId);
        Assert.Equal(4, package!.SessionsLeft);
        Assert.Equal(36_000, package.LiabilityLeft.Amount);
        Assert.Equal(0, package.Reserved.Amount);

        // The redemption drew $90 of liability; the $30 the session was worth less than the line is a package discount.
        var tb = await world.TrialBalanceAsync();
        Assert.Equal(-36_000, tb.Closing("package-liability"));
        Assert.Equal(3_000, tb.Closing("discounts:package-redemption"));
        Assert.Equal(-ServicePrice, tb.Closing("revenue:services"));
        Assert.Equal(0, tb.Closing("accounts-receivable"));

        // The receipt shows what is left on the package used.
        var text = SampleReceipts.Text(await world.Desk.GetPdfAsync($"/api/invoices/{invoiceId}/receipt.pdf"));
        Assert.Contains("Package balances", text);
        Assert.Contains("4 of 5 sessions left", text);

        // A package tender is refunded whole: the session goes back, and the ledger with it.
        var tenderId = tender.GetProperty("id").GetGuid();
        await ExpectProblemAsync(world.Desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds",
            new { tenderId, amount = Usd(5_000) }, Guid.NewGuid().ToString("N")), HttpStatusCode.BadRequest, "amount");
        await world.Desk.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds", new { tenderId, amount = Usd(ServicePrice) },
            idempotencyKey: Guid.NewGuid().ToString("N"));
        Assert.Equal(5, (await world.PackageAsync(purchaseId))!.SessionsLeft);
        tb = await world.TrialBalanceAsync();
        Assert.Equal(-45_000, tb.Closing("package-liability"));
        Assert.Equal(0, tb.Closing("discounts:package-redemption"));
        Assert.Equal(0, tb.Closing("accounts-receivable"));
    }

    [Fact]
    public async Task Package_tenders_name_a_package_of_the_organisation_and_a_line_it_can_pay()
    {
        var world = await CreateAsync(factory);
        var definitionId = await world.DefineAsync(world.Standard("HydraFacial x2", 18_000, 2, 9_000));
        var (_, purchaseId, _) = await world.SellAsync(definitionId);
        var other = await CreateAsync(factory);
        var (_, foreignPurchase, _) = await other.SellAsync(await other.DefineAsync(other.Standard("Theirs x2", 18_000, 2, 9_000)));

        var invoiceId = await world.CreateInvoiceAsync();
        await world.Desk.AddLineAsync(invoiceId, world.ServiceLine());
        var retail = await world.Desk.AddLineAsync(invoiceId, Line(2_000, kind: "retail-product"));
        var retailLine = retail.GetProperty("lines")[1].GetProperty("line").GetProperty("id").GetGuid();
        await world.Desk.OpenAsync(invoiceId);
        string Key() => Guid.NewGuid().ToString("N");
        var pay = $"/api/invoices/{invoiceId}/payments";

        // Another organisation's package is not found in this one; a package tender without a package, or naming a
        // line a package cannot pay, or a package field on a cash tender: 400 naming the field.
        await ExpectProblemAsync(world.Desk.TrySendAsync(HttpMethod.Post, pay,
            new { tenders = new[] { new { kind = "package", purchaseId = foreignPurchase } } }, Key()), HttpStatusCode.BadRequest,
            "tenders[0].purchaseId");
        await ExpectProblemAsync(world.Desk.TrySendAsync(HttpMethod.Post, pay,
            new { tenders = new[] { new { kind = "package" } } }, Key()), HttpStatusCode.BadRequest, "tenders[0].purchaseId");
        await ExpectProblemAsync(world.Desk.TrySendAsync(HttpMethod.Post, pay,
            new { tenders = new[] { new { kind = "package", purchaseId, serviceLineId = retailLine } } }, Key()), HttpStatusCode.BadRequest,
            "tenders[0].serviceLineId");
        await ExpectProblemAsync(world.Desk.TrySendAsync(HttpMethod.Post, pay,
            new { tenders = new[] { new { kind = "cash", amount = Usd(100), purchaseId = (Guid?)purchaseId } } }, Key()),
            HttpStatusCode.BadRequest, "tenders[0].purchaseId");
        var invoice = await world.Desk.GetInvoiceAsync(invoiceId);
        Assert.Empty(invoice.GetProperty("tenders").EnumerateArray());
        Assert.Equal(2, (await world.PackageAsync(purchaseId))!.SessionsLeft);
        Assert.Equal(new Dictionary<string, int> { ["sale"] = 1 }, await JournalCountsAsync(factory, world.Tenant.TenantId, invoiceId));
        Assert.Equal(2, (await other.PackageAsync(foreignPurchase))!.SessionsLeft);
    }

    [Fact]
    public async Task A_split_payment_of_a_package_and_a_declined_card_releases_the_package_and_posts_nothing()
    {
        var world = await CreateAsync(factory);
        var definitionId = await world.DefineAsync(world.Standard("HydraFacial x3", 27_000, 3, 9_000));
        var (_, purchaseId, _) = await world.SellAsync(definitionId);
        var invoiceId = await world.CreateInvoiceAsync();
        await world.Desk.AddLineAsync(invoiceId, world.ServiceLine());
        await world.Desk.AddLineAsync(invoiceId, Line(5_000, kind: "retail-product"));
        await world.Desk.OpenAsync(invoiceId);
        var before = await world.TrialBalanceAsync();

        var (status, problem) = await world.Desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments", new
        {
            tenders = new object[]
            {
                new { kind = "package", purchaseId },
                new { kind = "credit", amount = Usd(5_000), paymentMethodId = "pm_card_chargeDeclined" },
            },
        }, Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.PaymentRequired, status);
        Assert.Equal("payment_declined", problem.GetProperty("code").GetString());

        // The package's reservation was released: nothing held, nothing used; the invoice and the ledger unchanged.
        var package = await world.PackageAsync(purchaseId);
        Assert.Equal(3, package!.SessionsLeft);
        Assert.Equal(0, package.Reserved.Amount);
        Assert.Equal(27_000, package.LiabilityLeft.Amount);
        var invoice = await world.Desk.GetInvoiceAsync(invoiceId);
        Assert.Equal("open", invoice.GetProperty("status").GetString());
        Assert.Empty(invoice.GetProperty("tenders").EnumerateArray());
        Assert.Equal(new Dictionary<string, int> { ["sale"] = 1 }, await JournalCountsAsync(factory, world.Tenant.TenantId, invoiceId));
        var after = await world.TrialBalanceAsync();
        Assert.Equal(before.Closing("package-liability"), after.Closing("package-liability"));
        Assert.Equal(ServicePrice + 5_000, after.Closing("accounts-receivable"));

        // The same package then pays with a card that works.
        var paid = await world.Desk.PayAsync(invoiceId, new object[]
        {
            new { kind = "package", purchaseId },
            new { kind = "credit", amount = Usd(5_000), paymentMethodId = "pm_card_visa" },
        });
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        Assert.Equal(2, (await world.PackageAsync(purchaseId))!.SessionsLeft);
        Assert.Equal(0, (await world.TrialBalanceAsync()).Closing("accounts-receivable"));
    }

    [Fact]
    public async Task A_split_payment_of_a_package_the_wallet_and_a_declined_card_releases_everything_and_posts_nothing()
    {
        var world = await CreateAsync(factory);
        var (_, purchaseId, _) = await world.SellAsync(await world.DefineAsync(world.Standard("HydraFacial x3", 27_000, 3, 9_000)));
        var owner = world.Tenant.ClientFor(world.Tenant.Owner);
        await owner.AdjustAsync(world.PatientId, 3_000, world.Tenant.ClinicId);
        var invoiceId = await world.CreateInvoiceAsync();
        await world.Desk.AddLineAsync(invoiceId, world.ServiceLine());
        await world.Desk.AddLineAsync(invoiceId, Line(5_000, kind: "retail-product"));
        await world.Desk.OpenAsync(invoiceId);
        var before = await world.TrialBalanceAsync();

        var declined = await world.Desk.PayAsync(invoiceId, new object[]
        {
            new { kind = "package", purchaseId }, WalletTender(3_000), CardTender(2_000, "pm_card_chargeDeclined"),
        }, expected: HttpStatusCode.PaymentRequired);
        Assert.Equal("payment_declined", declined.GetProperty("code").GetString());

        // Package and wallet both held, then both released: balances back, nothing held, nothing posted.
        var package = await world.PackageAsync(purchaseId);
        Assert.Equal((3, 0L, 27_000L), (package!.SessionsLeft, package.Reserved.Amount, package.LiabilityLeft.Amount));
        var wallet = await world.Desk.WalletAsync(world.PatientId);
        Assert.Equal((3_000L, 0L), (wallet.Amount("balance"), wallet.Amount("reserved")));
        var invoice = await world.Desk.GetInvoiceAsync(invoiceId);
        Assert.Equal("open", invoice.GetProperty("status").GetString());
        Assert.Empty(invoice.GetProperty("tenders").EnumerateArray());
        Assert.Equal(new Dictionary<string, int> { ["sale"] = 1 }, await JournalCountsAsync(factory, world.Tenant.TenantId, invoiceId));
        var after = await world.TrialBalanceAsync();
        foreach (var account in new[] { "package-liability", "patient-wallet", "card-clearing", "accounts-receivable" })
        {
            Assert.Equal(before.Closing(account), after.Closing(account));
        }

        // With a card that works the same split goes through, and the ledger still balances with receivable at zero.
        var paid = await world.Desk.PayAsync(invoiceId, new object[]
        {
            new { kind = "package", purchaseId }, WalletTender(3_000), CardTender(2_000),
        });
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        Assert.Equal(2, (await world.PackageAsync(purchaseId))!.SessionsLeft);
        Assert.Equal(0, (await world.Desk.WalletAsync(world.PatientId)).Amount("balance"));
        var end = await world.TrialBalanceAsync();
        Assert.Equal(0, end.Closing("accounts-receivable"));
        Assert.Equal(-18_000, end.Closing("package-liability"));
        Assert.Equal(2_000, end.Closing("card-clearing"));
    }
}
