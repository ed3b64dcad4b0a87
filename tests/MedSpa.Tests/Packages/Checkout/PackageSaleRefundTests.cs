using MedSpa.Grains.Payments;
using System.Net;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Tests.Checkout;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.Packages.Checkout.PackageCheckout;

namespace MedSpa.Tests.Packages.Checkout;

/// <summary>Refunding a package sale (issue 14 §2): whole, or pro rata for what is unused; never more than unused; the
/// package closes as refunded and the ledger's package liability goes to zero with it.</summary>
public sealed class PackageSaleRefundTests(CardCheckoutFactory factory) : IClassFixture<CardCheckoutFactory>
{
    [Fact]
    public async Task An_unused_package_sale_is_refunded_whole_and_the_package_closes()
    {
        var world = await CreateAsync(factory);
        var (invoiceId, purchaseId, paid) = await world.SellAsync(await world.DefineAsync(world.Standard("Peel x4", 40_000, 4, 10_000)));
        var tenderId = paid.GetProperty("tenders")[0].GetProperty("id").GetGuid();

        var refunded = await world.Desk.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds",
            new { tenderId, amount = Usd(40_000) }, idempotencyKey: Guid.NewGuid().ToString("N"));
        Assert.Equal("refunded", refunded.GetProperty("status").GetString());
        var share = Assert.Single(refunded.GetProperty("refunds")[0].GetProperty("packages").EnumerateArray());
        Assert.Equal(40_000, share.Amount("refunded"));
        Assert.Equal(0, share.Amount("forfeited"));
        var package = await world.PackageAsync(purchaseId);
        Assert.Equal(PackageStatus.Refunded, package!.Status);

        var tb = await world.TrialBalanceAsync();
        Assert.Equal(0, tb.Closing("package-liability"));
        Assert.Equal(0, tb.Closing("cash-drawer"));
        Assert.Equal(0, tb.Closing("accounts-receivable"));
    }

    [Fact]
    public async Task A_used_package_is_refunded_pro_rata_never_beyond_what_is_unused_and_the_rest_is_forfeited()
    {
        var world = await CreateAsync(factory);
        var (invoiceId, purchaseId, paid) = await world.SellAsync(await world.DefineAsync(world.Standard("Peel x5", 50_000, 5, 10_000)));
        var tenderId = paid.GetProperty("tenders")[0].GetProperty("id").GetGuid();
        // Two sessions used at checkout: $200 of the $500 drawn.
        for (var i = 0; i < 2; i++)
        {
            var visit = await world.CreateInvoiceAsync();
            await world.Desk.AddLineAsync(visit, world.ServiceLine());
            await world.Desk.OpenAsync(visit);
            await world.Desk.PayAsync(visit, new[] { new { kind = "package", purchaseId } });
        }

        Assert.Equal(30_000, (await world.PackageAsync(purchaseId))!.LiabilityLeft.Amount);
        var refunds = $"/api/invoices/{invoiceId}/refunds";
        var tooMuch = await ExpectProblemAsync(world.Desk.TrySendAsync(HttpMethod.Post, refunds, new { tenderId, amount = Usd(30_001) },
            Guid.NewGuid().ToString("N")), HttpStatusCode.BadRequest, "amount");
        Assert.Equal(30_000, tooMuch.Amount("unused"));
        Assert.Equal(PackageStatus.Active, (await world.PackageAsync(purchaseId))!.Status);

        // $250 back of the $300 unused: the package closes and the other $50 is forfeited (breakage).
        var refunded = await world.Desk.SendAsync(HttpMethod.Post, refunds, new { tenderId, amount = Usd(25_000) },
            idempotencyKey: Guid.NewGuid().ToString("N"));
        var share = Assert.Single(refunded.GetProperty("refunds")[0].GetProperty("packages").EnumerateArray());
        Assert.Equal((25_000, 5_000), (share.Amount("refunded"), share.Amount("forfeited")));
        var package = await world.PackageAsync(purchaseId);
        Assert.Equal(PackageStatus.Refunded, package!.Status);

        var tb = await world.TrialBalanceAsync();
        Assert.Equal(0, tb.Closing("package-liability"));
        Assert.Equal(-5_000, tb.Closing("revenue:breakage"));
        Assert.Equal(0, tb.Closing("accounts-receivable"));
        // Cash: $500 taken, $250 given back.
        Assert.Equal(25_000, tb.Closing("cash-drawer"));

        // The package is closed: nothing more of it can be refunded.
        await ExpectProblemAsync(world.Desk.TrySendAsync(HttpMethod.Post, refunds, new { tenderId, amount = Usd(1_000) },
            Guid.NewGuid().ToString("N")), HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task While_a_card_refund_of_the_sale_is_in_flight_nothing_is_redeemed_from_the_package()
    {
        // The refund plans on what is unused; a redemption between that plan and the package's closing would have
        // given the patient a session and the money back. The refund holds the package until it closes it.
        var world = await CreateAsync(factory);
        var definition = await world.DefineAsync(world.Standard("Peel x4 (card)", 40_000, 4, 10_000));
        var invoiceId = await world.CreateInvoiceAsync();
        await world.Desk.AddLineAsync(invoiceId, PackageSale(definition));
        await world.Desk.OpenAsync(invoiceId);
        var paid = await world.Desk.PayAsync(invoiceId,
            new[] { new { kind = "credit", amount = Usd(40_000), paymentMethodId = "pm_card_visa" } });
        var purchaseId = Assert.Single(paid.GetProperty("packages").EnumerateArray()).GetProperty("purchaseId").GetGuid();
        var tenderId = paid.GetProperty("tenders")[0].GetProperty("id").GetGuid();

        factory.Gateway.FailWhen(invoiceId, (op, _) => op == "refund" ? new PaymentGatewayException("connection refused", transient: true) : null);
        var key = Guid.NewGuid().ToString("N");
        var refunds = $"/api/invoices/{invoiceId}/refunds";
        var (pending, _) = await world.Desk.TrySendAsync(HttpMethod.Post, refunds, new { tenderId, amount = Usd(40_000) }, key);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, pending);

        var redemption = new { serviceId = world.ServiceId, clinicId = world.Tenant.ClinicId, quantity = 1 };
        var (refused, problem) = await world.Desk.TrySendAsync(HttpMethod.Post, $"/api/packages/{purchaseId}/redemptions", redemption,
            Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.Conflict, refused);
        Assert.Contains("being refunded", problem.GetProperty("detail").GetString());
        Assert.Equal(4, (await world.PackageAsync(purchaseId))!.SessionsLeft);

        factory.Gateway.Heal(invoiceId);
        var refunded = await world.Desk.SendAsync(HttpMethod.Post, refunds, new { tenderId, amount = Usd(40_000) }, idempotencyKey: key);
        Assert.Equal("refunded", refunded.GetProperty("status").GetString());
        var package = await world.PackageAsync(purchaseId);
        Assert.Equal(PackageStatus.Refunded, package!.Status);
        Assert.Equal(4, package.SessionsLeft);
        var tb = await world.TrialBalanceAsync();
        Assert.Equal(0, tb.Closing("package-liability"));
        Assert.Equal(0, tb.Closing("accounts-receivable"));
    }

    [Fact]
    public async Task A_refund_refused_for_one_package_lets_the_other_it_held_go_on_at_once()
    {
        var world = await CreateAsync(factory);
        var first = await world.DefineAsync(world.Standard("Peel x2", 20_000, 2, 10_000));
        var second = await world.DefineAsync(world.Standard("Facial x1", 10_000, 1, 10_000));
        var invoiceId = await world.CreateInvoiceAsync();
        await world.Desk.AddLineAsync(invoiceId, PackageSale(first));
        await world.Desk.AddLineAsync(invoiceId, PackageSale(second));
        var opened = await world.Desk.OpenAsync(invoiceId);
        var paid = await world.Desk.PayAsync(invoiceId, new[] { new { kind = "cash", amount = Usd(opened.Total("balanceDue")) } });
        var tenderId = paid.GetProperty("tenders")[0].GetProperty("id").GetGuid();
        var purchases = paid.GetProperty("packages").EnumerateArray().Select(p => p.GetProperty("purchaseId").GetGuid()).ToList();
        var views = new List<PackageView>();
        foreach (var id in purchases)
        {
            views.Add((await world.PackageAsync(id))!);
        }

        var peel = views.Single(v => v.Terms.Name == "Peel x2").PurchaseId;
        var facial = views.Single(v => v.Terms.Name == "Facial x1").PurchaseId;
        var redemption = new { serviceId = world.ServiceId, clinicId = world.Tenant.ClinicId, quantity = 1 };
        Assert.Equal(HttpStatusCode.Created, (await world.Desk.TrySendAsync(HttpMethod.Post, $"/api/packages/{facial}/redemptions", redemption,
            Guid.NewGuid().ToString("N"))).Status);

        // The whole refund would give back the used facial: refused, after the peel package was already held for it.
        await ExpectProblemAsync(world.Desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds",
            new { tenderId, amount = Usd(30_000) }, Guid.NewGuid().ToString("N")), HttpStatusCode.BadRequest, "amount");

        // The refusal let the hold go: the peel package is redeemed at once.
        var (status, body) = await world.Desk.TrySendAsync(HttpMethod.Post, $"/api/packages/{peel}/redemptions", redemption,
            Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.Created, status);
        Assert.Equal(1, (await world.PackageAsync(peel))!.SessionsLeft);
    }
}
