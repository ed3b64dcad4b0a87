using System.Net;
using MedSpa.GrainInterfaces.Inventory;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.OrleansCluster;
using MedSpa.Tests.TestHost;

namespace MedSpa.Tests.Charts;

public sealed partial class RecallMessagingTests
{
    /// <summary>
    /// Issue 19 §1 for the lot recall, a command that changes several grains (the recall, then each clinic's inventory):
    /// the recall is stored, the fan-out starts, and the work dies before the recall's reminder would have been
    /// registered (here the recall's next state write fails, as a silo or database lost at that moment would end it).
    /// The reminder was registered before the first write, so nobody has to repeat the request: the recall resumes,
    /// marks every clinic and completes.
    /// </summary>
    [Fact]
    public async Task A_lot_recall_whose_fan_out_died_after_it_was_stored_is_finished_by_its_reminder_without_a_retry()
    {
        var world = await ChartWorld.CreateAsync(factory);
        var lot = "DIE-" + Guid.NewGuid().ToString("N")[..8];
        await world.ReceiveAsync(world.Botox, lot, new DateOnly(2031, 6, 30), 40);
        // The recall's first write (the insert of its row) succeeds; its next one, after the clinic is marked, fails as a
        // database gone would (57P01), so the activation and what it held in memory are dropped, as with a dead silo.
        await using (await GrainStateOutage.StartAsync(factory, "lot-recall", world.TenantId, updatesOnly: true, sqlState: "57P01"))
        {
            var (status, body) = await world.Owner().TrySendAsync(HttpMethod.Post, "/api/inventory/recalls",
                new { productId = world.Botox, lotNumber = lot, reason = "Manufacturer recall" });
            Assert.True((int)status >= 500, $"the recall was meant to die part-way, got {(int)status}: {body}");
        }

        // Nobody repeats the request: the reminder registered before the recall was stored finishes it.
        var recallId = MedSpa.GrainInterfaces.Charts.RecallIds.ForLot(world.Botox, lot);
        var done = await Eventually.WaitForAsync(() => world.Owner().SendAsync(HttpMethod.Get, $"/api/inventory/recalls/{recallId}", null),
            v => v.GetProperty("status").GetString() == "completed", TimeSpan.FromSeconds(60), "the lot recall to finish without a retry");
        Assert.All(done.GetProperty("clinics").EnumerateArray(), c => Assert.Equal("recalled", c.GetProperty("status").GetString()));
        Assert.Equal(InventoryRefusals.LotRecalled, (await world.Inventory(world.Botox).CheckLotAsync(lot, 1)).Refusal?.Code);
    }
}
