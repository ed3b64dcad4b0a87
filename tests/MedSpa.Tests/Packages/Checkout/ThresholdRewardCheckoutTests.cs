using System.Net;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.Packages.Checkout.PackageCheckout;

namespace MedSpa.Tests.Packages.Checkout;

/// <summary>A threshold package's %-off reward used at checkout (issue 14 §1 "threshold ... a % off"):
/// <c>POST /api/invoices/{id}/lines/{lineId}/package-reward</c> puts the reward's percentage on a service line as its
/// discount and the package grain gives the reward up — once (a retry is the same answer, a second line finds none
/// left), never when the line cannot take it (the reservation is released), and only for the invoice's patient's
/// own %-off threshold package of the organisation. The invoice then pays at the discounted price and the ledger balances.</summary>
public sealed class ThresholdRewardCheckoutTests(CardCheckoutFactory factory) : IClassFixture<CardCheckoutFactory>
{
    private const long Target = 50_000;

    private static PackageTerms Threshold(PackageCheckout world) => world.Standard("Glow rewards", 1_000, 1, 0) with
    {
        Type = PackageType.Threshold, Quantity = 0, RegularValue = new Money(1_000, "USD"),
        Threshold = new ThresholdTerms(ThresholdMeasure.Spend, Target, ThresholdRewardKind.PercentOff, RewardPercent: 20m),
    };

    private async Task<(PackageCheckout World, Guid PurchaseId)> UnlockedAsync()
    {
        var world = await CreateAsync(factory);
        var (_, purchaseId, _) = await world.SellAsync(await world.DefineAsync(Threshold(world)));
        // Spend reaching the target unlocks the reward (the package grain's accrual).
        var grain = world.Factory.Grains.GetGrain<IPackageBalanceGrain>(PackageKeys.For(world.Tenant.TenantId, purchaseId));
        var accrued = await grain.AccrueAsync(new PackageAccrual("spend-1", new Money(Target, "USD"), 1, null, DateTimeOffset.UtcNow));
        Assert.Null(accrued.Refusal);
        Assert.Equal(1, accrued.Package!.RewardsAvailable);
        return (world, purchaseId);
    }

    private static async Task<(Guid InvoiceId, Guid LineId)> ServiceInvoiceAsync(PackageCheckout world)
    {
        var invoiceId = await world.CreateInvoiceAsync();
        var added = await world.Desk.AddLineAsync(invoiceId, world.ServiceLine());
        return (invoiceId, added.GetProperty("lines")[0].GetProperty("line").GetProperty("id").GetGuid());
    }

    private static Task<(HttpStatusCode, System.Text.Json.JsonElement)> ApplyAsync(PackageCheckout world, Guid invoiceId, Guid lineId, Guid purchaseId) =>
        world.Desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/lines/{lineId}/package-reward", new { purchaseId });

    [Fact]
    public async Task The_reward_discounts_a_line_once_and_the_package_gives_it_up()
    {
        var (world, purchaseId) = await UnlockedAsync();
        var (invoiceId, lineId) = await ServiceInvoiceAsync(world);

        var (status, applied) = await ApplyAsync(world, invoiceId, lineId, purchaseId);
        Assert.Equal(HttpStatusCode.OK, status);
        var discount = applied.GetProperty("lines")[0].GetProperty("line").GetProperty("discount");
        Assert.Equal(20m, discount.GetProperty("percent").GetDecimal());
        Assert.Equal("Glow rewards reward", discount.GetProperty("reason").GetString());
        Assert.Equal(ServicePrice * 80 / 100, applied.Total("total"));
        var package = await world.PackageAsync(purchaseId);
        Assert.Equal((0, 0L), (package!.RewardsAvailable, package.Reserved.Amount));

        // A retry answers the same invoice and takes nothing more.
        var (again, retried) = await ApplyAsync(world, invoiceId, lineId, purchaseId);
        Assert.Equal(HttpStatusCode.OK, again);
        Assert.Equal(applied.GetProperty("lines").GetRawText(), retried.GetProperty("lines").GetRawText());

        // The reward is used: another invoice's line finds none left, and is not discounted.
        var (other, otherLine) = await ServiceInvoiceAsync(world);
        var (none, problem) = await ApplyAsync(world, other, otherLine, purchaseId);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, none);
        Assert.Equal("insufficient_balance", problem.GetProperty("code").GetString());
        Assert.Equal(ServicePrice, (await world.Desk.GetInvoiceAsync(other)).Total("total"));

        // The discounted invoice is paid at the reward price; the ledger balances.
        await world.Desk.OpenAsync(invoiceId);
        var paid = await world.Desk.PayAsync(invoiceId, new[] { new { kind = "cash", amount = Usd(ServicePrice * 80 / 100) } });
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        var tb = await world.TrialBalanceAsync();
        Assert.Equal(0, tb.Closing("accounts-receivable"));
    }

    [Fact]
    public async Task A_line_that_cannot_take_the_reward_leaves_it_unlocked()
    {
        var (world, purchaseId) = await UnlockedAsync();
        var (invoiceId, lineId) = await ServiceInvoiceAsync(world);
        await world.Desk.OpenAsync(invoiceId);
        await world.Desk.PayAsync(invoiceId, new[] { new { kind = "cash", amount = Usd(1_000) } });

        // Money was taken: the invoice is frozen, the reservation is released.
        var (frozen, _) = await ApplyAsync(world, invoiceId, lineId, purchaseId);
        Assert.Equal(HttpStatusCode.Conflict, frozen);
        var package = await world.PackageAsync(purchaseId);
        Assert.Equal((1, 0L), (package!.RewardsAvailable, package.Reserved.Amount));
        Assert.Equal(ServicePrice - 1_000, (await world.Desk.GetInvoiceAsync(invoiceId)).Total("balanceDue"));

        // A standard package has no %-off reward; another organisation's package is not found; the id is required.
        var (standardInvoice, standardLine) = await ServiceInvoiceAsync(world);
        var (_, standard, _) = await world.SellAsync(await world.DefineAsync(world.Standard("HydraFacial x2", 18_000, 2, 9_000)));
        await ExpectProblemAsync(ApplyAsync(world, standardInvoice, standardLine, standard), HttpStatusCode.BadRequest, "purchaseId");
        var stranger = await CreateAsync(factory);
        var (_, foreign, _) = await stranger.SellAsync(await stranger.DefineAsync(Threshold(stranger)));
        await ExpectProblemAsync(ApplyAsync(world, standardInvoice, standardLine, foreign), HttpStatusCode.BadRequest, "purchaseId");
        await ExpectProblemAsync(world.Desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{standardInvoice}/lines/{standardLine}/package-reward", new { }),
            HttpStatusCode.BadRequest, "purchaseId");
        Assert.Equal(1, (await world.PackageAsync(purchaseId))!.RewardsAvailable);
    }

    [Fact]
    public async Task Removing_the_line_or_voiding_the_invoice_gives_the_reward_back()
    {
        var (world, purchaseId) = await UnlockedAsync();
        var (invoiceId, lineId) = await ServiceInvoiceAsync(world);
        var (status, _) = await ApplyAsync(world, invoiceId, lineId, purchaseId);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(0, (await world.PackageAsync(purchaseId))!.RewardsAvailable);

        // The desk removes the line: the reward goes back to the package.
        await world.Desk.SendAsync(HttpMethod.Delete, $"/api/invoices/{invoiceId}/lines/{lineId}", null);
        Assert.Equal(1, (await world.PackageAsync(purchaseId))!.RewardsAvailable);

        // Applied again on another line, then the draft is voided: back again, and usable on a new invoice.
        var again = await world.Desk.AddLineAsync(invoiceId, world.ServiceLine());
        var secondLine = again.GetProperty("lines")[0].GetProperty("line").GetProperty("id").GetGuid();
        Assert.Equal(HttpStatusCode.OK, (await ApplyAsync(world, invoiceId, secondLine, purchaseId)).Item1);
        Assert.Equal(0, (await world.PackageAsync(purchaseId))!.RewardsAvailable);
        await world.Desk.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/void", new { reason = "patient left" });
        Assert.Equal(1, (await world.PackageAsync(purchaseId))!.RewardsAvailable);

        var (next, nextLine) = await ServiceInvoiceAsync(world);
        Assert.Equal(HttpStatusCode.OK, (await ApplyAsync(world, next, nextLine, purchaseId)).Item1);
        var package = await world.PackageAsync(purchaseId);
        Assert.Equal((0, 0L), (package!.RewardsAvailable, package.Reserved.Amount));
    }
}
