using System.Collections.Immutable;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Grains.Housekeeping;
using MedSpa.Silo.GiftCards;
using MedSpa.Tests.GiftCards;
using MedSpa.Tests.GiftCards.Corporate;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace MedSpa.Tests.Cluster;

public sealed partial class DyingSiloRequestTests
{
    /// <summary>
    /// A corporate order charges the purchaser, then issues one card per row. When the silo dies while the cards are
    /// being issued (one card's call never arrives, another's answer is lost) the order is left paid with cards owed, and
    /// before the stale corporate order sweep nothing but a person's resume finished it. The sweep resumes it once it has
    /// been paid longer than Housekeeping:StaleReservationAge: every row gets its card, no card is issued twice, and the
    /// ledger holds exactly what was paid for.
    /// </summary>
    [Fact]
    public async Task A_corporate_order_left_paid_and_half_issued_is_finished_by_the_sweep_issuing_each_card_once()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var grains = factory.Services.GetRequiredService<IGrainFactory>();
        var orderId = Guid.NewGuid();
        var order = grains.GetGrain<ICorporateOrderGrain>(TenantKeys.For(tenant.TenantId, orderId));
        var rows = Enumerable.Range(1, 3)
            .Select(i => new CorporateRowInput(i, $"Person {i}", CorporateOrders.Recipient($"p{i}"), 50_00, null, null, null))
            .ToImmutableArray();
        var request = new CorporateOrderRequest(tenant.ClinicId, new CorporatePurchaser("Acme Corp", "Pat Buyer", "pat@acme.example"),
            "pm_card_visa", GiftCardDesign.Standard, null, "Thank you!", rows, DryRun: false, tenant.Owner.UserId);

        factory.Faults.FailNext(tenant.TenantId, "IssueAsync", SiloDied());
        factory.Faults.LoseNextAnswers(tenant.TenantId, "IssueAsync", SiloDied());
        await Assert.ThrowsAnyAsync<Exception>(() => order.PlaceAsync(request));
        var left = (await order.GetAsync()).Order!;
        Assert.Equal(CorporateOrderStatus.Paid, left.Status);
        Assert.Equal(0, left.IssuedCount);

        var sweep = factory.Services.GetServices<IHousekeepingTask>().OfType<StaleCorporateOrderSweep>().Single();
        Assert.Empty((await sweep.FindStaleAsync(tenant.TenantId, DateTimeOffset.UtcNow, CancellationToken.None)).Orders);
        var later = DateTimeOffset.UtcNow + TimeSpan.FromMinutes(11);
        Assert.Equal([orderId], (await sweep.FindStaleAsync(tenant.TenantId, later, CancellationToken.None)).Orders.Select(o => o.Id));

        Assert.True(await sweep.RunAsync(later, CancellationToken.None) >= 1);

        var done = (await order.GetAsync()).Order!;
        Assert.Equal(CorporateOrderStatus.Issued, done.Status);
        Assert.Equal(3, done.IssuedCount);
        Assert.Empty((await sweep.FindStaleAsync(tenant.TenantId, later, CancellationToken.None)).Orders);
        var issued = 0L;
        foreach (var row in done.Rows)
        {
            var key = TenantKeys.For(tenant.TenantId, row.CardId!.Value);
            issued += (await grains.GetGrain<IGiftCardGrain>(key).GetAsync()).Card!.InitialValue.Amount;
            Assert.NotNull(await grains.GetGrain<IGiftCardDeliveryGrain>(key).GetAsync()); // its recipient gets the code
        }

        // Each card once: three cards on the order, worth what was paid plus the bonus, and the ledger says the same.
        Assert.Equal(3L, await factory.ScalarAsync<long>("SELECT count(*) FROM gift_cards WHERE tenant_id = @t AND order_id = @o",
            new { t = tenant.TenantId, o = orderId }));
        Assert.Equal(done.TotalValue.Amount, issued);
        Assert.Equal((0L, done.TotalValue.Amount), await GiftCardRequests.GiftCardLedgerAsync(factory, tenant.TenantId));
    }
}
