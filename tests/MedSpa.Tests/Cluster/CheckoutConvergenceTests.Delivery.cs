using System.Net;
using Dapper;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Housekeeping;
using MedSpa.Silo.Checkout;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.GiftCards;
using MedSpa.Tests.Packages.Api;
using MedSpa.Tests.Packages.Wallet;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Orleans.Core.Internal;

namespace MedSpa.Tests.Cluster;

/// <summary>
/// Issue 19 §1, the work an invoice's commit queues for other grains (packages to create or close, rewards to commit):
/// the commit is answered, the delivery to the other grain fails (<see cref="GrainCallFaults.FailNext"/> on that grain's
/// method), then the invoice's activation goes away as with its silo (its retry timer with it), and nobody calls the
/// invoice again. Read through the package grain and the database only, so nothing but the invoice's own reminder (or
/// the stale-reservation sweep) can be what delivers it.
/// </summary>
public sealed partial class CheckoutConvergenceTests
{
    private static readonly TimeSpan DeliveryBound = TimeSpan.FromSeconds(30);

    private IGrainFactory Grains => factory.Services.GetRequiredService<IGrainFactory>();

    /// <summary>The invoice's activation goes away (timers included), as with its silo; the next activation comes only
    /// from whatever calls it.</summary>
    private Task DropInvoiceActivationAsync(Guid tenantId, Guid invoiceId) =>
        Grains.GetGrain<IInvoiceGrain>(InvoiceGrainKey.For(tenantId, invoiceId)).AsReference<IGrainManagementExtension>().DeactivateOnIdle().AsTask();

    private static async Task PollAsync(Func<Task<bool>> done, string failure)
    {
        var deadline = DateTime.UtcNow + DeliveryBound;
        while (!await done())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(100);
        }
    }

    /// <summary>A package-sale invoice of the owner, opened: its id, the line and the amount due.</summary>
    private static async Task<(Guid InvoiceId, long Due)> PackageSaleInvoiceAsync(PackageApiWorld world, HttpClient desk)
    {
        var definitionId = await world.DefineAsync(world.Facials(quantity: 3, price: 30_000));
        var invoiceId = (await desk.SendAsync(HttpMethod.Post, "/api/invoices", new { clinicId = world.ClinicId, patientId = world.Owner },
            HttpStatusCode.Created)).GetProperty("id").GetGuid();
        await desk.AddLineAsync(invoiceId, new { kind = "package-sale", description = "Package", quantity = 1, catalogItemId = definitionId });
        var opened = await desk.OpenAsync(invoiceId);
        return (invoiceId, opened.Total("balanceDue"));
    }

    [Fact]
    public async Task A_refund_whose_package_closing_failed_and_whose_silo_died_closes_the_package_by_the_invoice_reminder()
    {
        var world = await PackageApiWorld.CreateAsync(factory);
        var tenantId = world.Tenant.TenantId;
        using var desk = world.Desk;
        var (invoiceId, due) = await PackageSaleInvoiceAsync(world, desk);
        var paid = await desk.PayAsync(invoiceId, new[] { new { kind = "cash", amount = CheckoutRequests.Usd(due) } });
        var purchaseId = Assert.Single(paid.GetProperty("packages").EnumerateArray()).GetProperty("purchaseId").GetGuid();
        var tenderId = paid.GetProperty("tenders")[0].GetProperty("id").GetGuid();
        Assert.Equal(PackageStatus.Active, (await world.Grain(purchaseId).GetAsync()).Package!.Status);

        // The refund is committed and answered; closing the package fails as if its silo were going away.
        factory.Calls.FailNext(tenantId, nameof(IPackageBalanceGrain.CloseAsync), new SiloUnavailableException("package silo lost (injected)"));
        var refunded = await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds",
            new { tenderId, amount = CheckoutRequests.Usd(due) }, idempotencyKey: Guid.NewGuid().ToString("N"));
        Assert.Equal("refunded", refunded.GetProperty("status").GetString());
        Assert.Equal(0, factory.Calls.Pending(tenantId, nameof(IPackageBalanceGrain.CloseAsync)));
        await DropInvoiceActivationAsync(tenantId, invoiceId);

        // Nobody calls the invoice: its reminder brings it back and the package is closed before its refund hold lapses.
        await PollAsync(async () => (await world.Grain(purchaseId).GetAsync()).Package!.Status == PackageStatus.Refunded,
            "the refunded package was never closed");
        Assert.Equal(3, (await world.Grain(purchaseId).GetAsync()).Package!.SessionsLeft);
        // Nothing left to deliver: the reminder unregisters itself.
        await PollAsync(async () => await RemindersRefused.CountAsync(factory.ConnectionString, invoiceId) == 0,
            "the invoice's reminder stayed registered with nothing pending");
        Assert.Equal(0, await CheckoutRequests.UnbalancedEntriesAsync(factory, tenantId));
    }

    [Fact]
    public async Task A_paid_invoice_whose_package_issue_failed_and_whose_silo_died_issues_the_package_once_by_the_invoice_reminder()
    {
        var world = await PackageApiWorld.CreateAsync(factory);
        var tenantId = world.Tenant.TenantId;
        using var desk = world.Desk;
        var (invoiceId, due) = await PackageSaleInvoiceAsync(world, desk);

        // The payment is committed and answered; creating the package it sold fails as if its silo were going away.
        factory.Calls.FailNext(tenantId, nameof(IPackageBalanceGrain.CreateAsync), new SiloUnavailableException("package silo lost (injected)"));
        var paid = await desk.PayAsync(invoiceId, new[] { new { kind = "cash", amount = CheckoutRequests.Usd(due) } });
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        var purchaseId = Assert.Single(paid.GetProperty("packages").EnumerateArray()).GetProperty("purchaseId").GetGuid();
        Assert.Equal(0, factory.Calls.Pending(tenantId, nameof(IPackageBalanceGrain.CreateAsync)));
        Assert.Null((await world.Grain(purchaseId).GetAsync()).Package);
        await DropInvoiceActivationAsync(tenantId, invoiceId);

        await PollAsync(async () => (await world.Grain(purchaseId).GetAsync()).Package is not null, "the paid package was never issued");
        var package = (await world.Grain(purchaseId).GetAsync()).Package!;
        Assert.Equal((PackageStatus.Active, 3, world.Owner), (package.Status, package.SessionsLeft, package.OwnerPatientId));
        await world.FlushAsync(purchaseId);
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        Assert.Equal(1, await conn.ExecuteScalarAsync<int>(
            "SELECT count(*) FROM package_purchases WHERE tenant_id = @tenantId AND invoice_id = @invoiceId", new { tenantId, invoiceId }));
        await PollAsync(async () => await RemindersRefused.CountAsync(factory.ConnectionString, invoiceId) == 0,
            "the invoice's reminder stayed registered with nothing pending");
    }

    [Fact]
    public async Task A_refund_whose_gift_card_refund_failed_and_whose_silo_died_takes_the_value_off_the_card_by_the_invoice_reminder()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var tenantId = tenant.TenantId;
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var invoiceId = (await desk.SendAsync(HttpMethod.Post, "/api/invoices", new { clinicId = tenant.ClinicId, patientId = await tenant.CreatePatientAsync() },
            HttpStatusCode.Created)).GetProperty("id").GetGuid();
        await desk.AddLineAsync(invoiceId, new { kind = "gift-card-sale", description = "Gift card", quantity = 1, unitPrice = CheckoutRequests.Usd(6_000) });
        await desk.OpenAsync(invoiceId);
        var paid = await desk.PayAsync(invoiceId, new[] { new { kind = "cash", amount = CheckoutRequests.Usd(6_000) } });
        var tenderId = paid.GetProperty("tenders")[0].GetProperty("id").GetGuid();
        var cardId = (await desk.SendAsync(HttpMethod.Get, $"/api/gift-cards?invoiceId={invoiceId}", null)).GetProperty("items").EnumerateArray()
            .Single().GetProperty("cardId").GetGuid();
        Assert.Equal(6_000, (await desk.CardAsync(cardId)).Amount("available"));

        // The refund is committed and answered; taking its hold off the card fails as if the card's silo were going away.
        factory.Calls.FailNext(tenantId, nameof(IGiftCardGrain.CommitAsync), new SiloUnavailableException("gift card silo lost (injected)"));
        var refunded = await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds",
            new { tenderId, amount = CheckoutRequests.Usd(6_000) }, idempotencyKey: Guid.NewGuid().ToString("N"));
        Assert.Equal("refunded", refunded.GetProperty("status").GetString());
        Assert.Equal(0, factory.Calls.Pending(tenantId, nameof(IGiftCardGrain.CommitAsync)));
        Assert.Equal(6_000, (await desk.CardAsync(cardId)).Amount("balance"));
        await DropInvoiceActivationAsync(tenantId, invoiceId);

        // Nobody calls the invoice: the card loses the refunded value before its refund hold lapses.
        await PollAsync(async () => (await desk.CardAsync(cardId)).Amount("balance") == 0, "the refunded gift card kept its value");
        Assert.Equal(0, (await desk.CardAsync(cardId)).Amount("available"));
        await PollAsync(async () => await RemindersRefused.CountAsync(factory.ConnectionString, invoiceId) == 0,
            "the invoice's reminder stayed registered with nothing pending");
    }

    /// <summary>The gift-card refund of <see cref="A_refund_whose_gift_card_refund_failed_and_whose_silo_died_takes_the_value_off_the_card_by_the_invoice_reminder"/>
    /// with the reminder's row refused too: the card's refund hold, neither refunded nor released, is what the
    /// stale-reservation sweep finds, and its question to the invoice delivers the refund.</summary>
    [Fact]
    public async Task A_gift_card_refund_left_undelivered_without_a_reminder_is_delivered_when_the_stale_reservation_sweep_asks_the_invoice()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var tenantId = tenant.TenantId;
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var invoiceId = (await desk.SendAsync(HttpMethod.Post, "/api/invoices", new { clinicId = tenant.ClinicId, patientId = await tenant.CreatePatientAsync() },
            HttpStatusCode.Created)).GetProperty("id").GetGuid();
        await desk.AddLineAsync(invoiceId, new { kind = "gift-card-sale", description = "Gift card", quantity = 1, unitPrice = CheckoutRequests.Usd(4_000) });
        await desk.OpenAsync(invoiceId);
        var paid = await desk.PayAsync(invoiceId, new[] { new { kind = "cash", amount = CheckoutRequests.Usd(4_000) } });
        var tenderId = paid.GetProperty("tenders")[0].GetProperty("id").GetGuid();
        var cardId = (await desk.SendAsync(HttpMethod.Get, $"/api/gift-cards?invoiceId={invoiceId}", null)).GetProperty("items").EnumerateArray()
            .Single().GetProperty("cardId").GetGuid();
        // The payment registered the reminder before the commit that queued the card's issue; finding nothing left,
        // it goes.
        await PollAsync(async () => await RemindersRefused.CountAsync(factory.ConnectionString, invoiceId) == 0,
            "the payment's reminder stayed registered with nothing pending");

        await using (await RemindersRefused.ForAsync(factory.ConnectionString, invoiceId))
        {
            factory.Calls.FailNext(tenantId, nameof(IGiftCardGrain.CommitAsync), new SiloUnavailableException("gift card silo lost (injected)"));
            var refunded = await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds",
                new { tenderId, amount = CheckoutRequests.Usd(4_000) }, idempotencyKey: Guid.NewGuid().ToString("N"));
            Assert.Equal("refunded", refunded.GetProperty("status").GetString());
            await DropInvoiceActivationAsync(tenantId, invoiceId);
        }

        Assert.Equal(0, await RemindersRefused.CountAsync(factory.ConnectionString, invoiceId));
        Assert.Equal(4_000, (await desk.CardAsync(cardId)).Amount("balance"));
        var sweep = factory.Services.GetServices<IHousekeepingTask>().OfType<StaleReservationSweep>().Single();
        var later = DateTimeOffset.UtcNow + TimeSpan.FromMinutes(11);
        Assert.Contains(invoiceId, (await sweep.FindStaleAsync(tenantId, later, CancellationToken.None)).Invoices);

        Assert.True(await sweep.RunAsync(later, CancellationToken.None) >= 1);
        var card = await desk.CardAsync(cardId);
        Assert.Equal((0L, "cancelled"), (card.Amount("balance"), card.GetProperty("status").GetString()));
        Assert.DoesNotContain(invoiceId, (await sweep.FindStaleAsync(tenantId, later, CancellationToken.None)).Invoices);
    }

    /// <summary>
    /// Issue 19 §1 for a line's package reward: the package reserves it, the edit saves the discount, and the commit on
    /// the package fails. Here the reminder's row is refused too and the activation goes away, so only the
    /// stale-reservation sweep is left: it asks the invoice, which commits the reward (it used to answer "nothing
    /// pending" and leave it reserved, asked again on every tick).
    /// </summary>
    [Fact]
    public async Task A_line_reward_whose_commit_failed_is_committed_when_the_stale_reservation_sweep_asks_the_invoice()
    {
        var world = await PackageApiWorld.CreateAsync(factory);
        var tenantId = world.Tenant.TenantId;
        var terms = world.Facials(quantity: 1, price: 1_000) with
        {
            Type = PackageType.Threshold, Quantity = 0, RegularValue = PackageApiWorld.Usd(1_000),
            Threshold = new ThresholdTerms(ThresholdMeasure.Spend, 50_000, ThresholdRewardKind.PercentOff, RewardPercent: 20m),
        };
        var purchaseId = await world.SellAsync(terms);
        Assert.Equal(1, (await world.Grain(purchaseId).AccrueAsync(new PackageAccrual("spend-1", PackageApiWorld.Usd(50_000), 1, null,
            DateTimeOffset.UtcNow))).Package!.RewardsAvailable);
        using var desk = world.Desk;
        var invoiceId = (await desk.SendAsync(HttpMethod.Post, "/api/invoices", new { clinicId = world.ClinicId, patientId = world.Owner },
            HttpStatusCode.Created)).GetProperty("id").GetGuid();
        var lineId = (await desk.AddLineAsync(invoiceId, new { kind = "service", description = "HydraFacial", quantity = 1, catalogItemId = world.Facial }))
            .GetProperty("lines")[0].GetProperty("line").GetProperty("id").GetGuid();

        await using (await RemindersRefused.ForAsync(factory.ConnectionString, invoiceId))
        {
            factory.Calls.FailNext(tenantId, nameof(IPackageBalanceGrain.CommitAsync), new SiloUnavailableException("package silo lost (injected)"));
            var applied = await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/lines/{lineId}/package-reward", new { purchaseId });
            Assert.Equal(20m, applied.GetProperty("lines")[0].GetProperty("line").GetProperty("discount").GetProperty("percent").GetDecimal());
            Assert.Equal(0, factory.Calls.Pending(tenantId, nameof(IPackageBalanceGrain.CommitAsync)));
            await DropInvoiceActivationAsync(tenantId, invoiceId);
        }

        Assert.Equal(["reserved"], await RedemptionStatesAsync(world, purchaseId));
        var sweep = factory.Services.GetServices<IHousekeepingTask>().OfType<StaleReservationSweep>().Single();
        var later = DateTimeOffset.UtcNow + TimeSpan.FromMinutes(11);
        Assert.Contains(invoiceId, (await sweep.FindStaleAsync(tenantId, later, CancellationToken.None)).Invoices);

        Assert.True(await sweep.RunAsync(later, CancellationToken.None) >= 1);
        Assert.Equal(["committed"], await RedemptionStatesAsync(world, purchaseId));
        var package = (await world.Grain(purchaseId).GetAsync()).Package!;
        Assert.Equal((0, 0L), (package.RewardsAvailable, package.Reserved.Amount));
        // Nothing left for the next tick to ask about.
        Assert.DoesNotContain(invoiceId, (await sweep.FindStaleAsync(tenantId, later, CancellationToken.None)).Invoices);
        var invoice = await desk.GetInvoiceAsync(invoiceId);
        Assert.Equal(20m, invoice.GetProperty("lines")[0].GetProperty("line").GetProperty("discount").GetProperty("percent").GetDecimal());
    }
}
