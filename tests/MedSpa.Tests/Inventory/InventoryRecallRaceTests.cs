using System.Net;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;

namespace MedSpa.Tests.Inventory;

/// <summary>
/// A recall that fans out while the same lot is being received: the recall marks the clinics whose rows hold the lot,
/// and a receive checks the recalled lot numbers before it applies and again once its rows are written. Whatever the
/// interleaving, once both requests are answered the lot is recalled at the receiving clinic and cannot be used.
/// </summary>
public sealed class InventoryRecallRaceTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task A_lot_received_while_it_is_being_recalled_ends_recalled_at_that_clinic()
    {
        var w = await InventoryWorld.CreateAsync(factory);
        var expires = DateOnly.FromDateTime(DateTime.UtcNow).AddDays(300);
        const int rounds = 8;
        // Each round: one clinic receives the lot while the owner recalls it, both at once.
        await Task.WhenAll(Enumerable.Range(0, rounds).Select(round => Task.WhenAll(
            w.ReceiveAsync(w.Clinic2, w.Botox, $"RACE-{round}", expires, 50m, 420),
            w.Owner.SendAsync(HttpMethod.Post, "/api/inventory/recalls",
                new { productId = w.Botox, lotNumber = $"RACE-{round}", reason = "Manufacturer recall" }))));

        var stock = await w.Owner.SendAsync(HttpMethod.Get, InventoryWorld.Stock(w.Clinic2, w.Botox), null);
        for (var round = 0; round < rounds; round++)
        {
            var lot = stock.GetProperty("lots").EnumerateArray().Single(l => l.GetProperty("lotNumber").GetString() == $"RACE-{round}");
            Assert.True(lot.GetProperty("status").GetString() == "recalled", $"round {round}: the lot is {lot.GetProperty("status")}");
            var (status, refusal) = await w.UseAsync(w.Clinic2, w.Botox, 1m, $"RACE-{round}");
            Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
            Assert.Equal("inventory_lot_recalled", refusal.GetProperty("code").GetString());
        }
    }
}
