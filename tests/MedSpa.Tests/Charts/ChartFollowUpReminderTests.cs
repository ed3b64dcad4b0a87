using Dapper;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Charts;
using MedSpa.Grains.Charts;
using MedSpa.Tests.Board.Flow;
using MedSpa.Tests.TestHost;
using Npgsql;
using Orleans.Core.Internal;

namespace MedSpa.Tests.Charts;

public sealed partial class ChartDeferredStockTests
{
    /// <summary>
    /// Issue 19 §1 for charting, which changes the chart and then the clinic's inventory: a point whose use could not be
    /// taken (the inventory's storage away) is answered as charted and retried by the chart's grain timer, which dies with
    /// the silo. The chart stands a durable reminder behind it, so a chart nobody opens again still takes its stock: here
    /// the activation (and its timer) is dropped as a dead silo would drop it, the reminder's tick brings the chart back,
    /// the use is taken once, and the reminder is gone once nothing is pending.
    /// </summary>
    [Fact]
    public async Task A_chart_whose_stock_use_failed_and_whose_silo_died_takes_the_stock_once_through_its_reminder()
    {
        var world = await ChartWorld.CreateAsync(factory);
        var lot = "RMD-" + Guid.NewGuid().ToString("N")[..8];
        await world.ReceiveAsync(world.Botox, lot, new DateOnly(2031, 1, 31), 30m);
        var visit = await world.BookVisitAsync(start: FlowWorld.Day.AddHours(2));
        var chart = factory.Grains.GetGrain<ITreatmentChartGrain>(TenantKeys.For(world.TenantId, visit));
        await using (await GrainStateOutage.StartAsync(factory, "inventory", world.Botox))
        {
            await world.ProviderClient().AddPointAsync(visit, ChartWorld.Toxin("forehead", 12, world.Botox, lot: lot));
            Assert.Equal(1, await FollowUpRemindersAsync(visit));
            // The silo dies: the activation and its retry timer are gone; nobody opens the chart again.
            await chart.AsReference<IGrainManagementExtension>().DeactivateOnIdle();
        }

        Assert.Equal(30m, await world.OnHandAsync(world.Botox, lot));
        // The reminder's tick (driven here, as the reminder service would after its period) brings the chart back.
        await chart.AsReference<IRemindable>().ReceiveReminder(TreatmentChartGrain.FollowUpsReminder, default);
        Assert.Equal(18m, await world.OnHandAsync(world.Botox, lot));
        Assert.Equal(0, await FollowUpRemindersAsync(visit));
        await chart.AsReference<IRemindable>().ReceiveReminder(TreatmentChartGrain.FollowUpsReminder, default);
        Assert.Equal(18m, await world.OnHandAsync(world.Botox, lot));
    }

    private async Task<int> FollowUpRemindersAsync(Guid visit)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return await conn.ExecuteScalarAsync<int>(
            "SELECT count(*) FROM orleans_reminders WHERE grain_id LIKE @pattern AND reminder_name = @name",
            new { pattern = $"%{visit:N}%", name = TreatmentChartGrain.FollowUpsReminder });
    }
}
