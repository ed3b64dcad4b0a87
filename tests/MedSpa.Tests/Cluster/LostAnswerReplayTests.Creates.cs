using System.Net;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.GiftCards.Corporate.CorporateOrders;

namespace MedSpa.Tests.Cluster;

/// <summary>A create whose object and charge were made before the answer was lost: the api's re-execution derives the
/// same id from the Idempotency-Key, so it reaches the object made (which answers it) instead of making and charging a
/// second one.</summary>
public sealed partial class LostAnswerReplayTests
{
    [Fact]
    public async Task A_corporate_order_whose_answer_was_lost_is_answered_201_with_the_one_order_placed_and_charged()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        factory.Faults.LoseNextAnswers(tenant.TenantId, "PlaceAsync", SiloDied());

        var (status, body) = await desk.TrySendAsync(HttpMethod.Post, Route,
            Order(tenant.ClinicId, [Row("Ann Able", Recipient("ann"), 25000)]), Guid.NewGuid().ToString("N"));

        Assert.True(status == HttpStatusCode.Created, $"expected 201, got {(int)status}: {body}");
        Assert.Equal(2, factory.Faults.Passed(tenant.TenantId, "PlaceAsync"));
        var orderId = body.GetProperty("orderId").GetGuid();
        var orders = await factory.ScalarAsync<long>("SELECT count(*) FROM corporate_gift_card_orders WHERE tenant_id = @TenantId", new { tenant.TenantId });
        Assert.Equal(1, orders);
        Assert.Equal(orderId, await factory.ScalarAsync<Guid>("SELECT id FROM corporate_gift_card_orders WHERE tenant_id = @TenantId",
            new { tenant.TenantId }));
        Assert.Equal(1, await factory.ScalarAsync<long>("SELECT count(*) FROM gift_cards WHERE tenant_id = @TenantId", new { tenant.TenantId }));
    }
}
