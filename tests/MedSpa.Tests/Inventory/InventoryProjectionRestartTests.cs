using Dapper;
using MedSpa.Tests.Charts;
using MedSpa.Tests.Notifications.Reminders;
using MedSpa.Tests.OrleansCluster;
using MedSpa.Tests.Payments;
using Npgsql;
using Orleans.Core.Internal;

namespace MedSpa.Tests.Inventory;

/// <summary>The real server with Orleans reminders ticking every 2 s and the inventory's projection reminder at 2 s;
/// given a <paramref name="previous"/> server it is that server restarted on the same database and Orleans service.</summary>
public sealed class InventoryRestartFactory(InventoryRestartFactory? previous = null) : ReminderApiFactory(previous)
{
    protected override IDictionary<string, string?> ExtraSettings
    {
        get
        {
            var settings = base.ExtraSettings;
            settings["Inventory:ProjectionReminderPeriod"] = "00:00:02";
            return settings;
        }
    }
}

/// <summary>
/// Issue 16 §1 throughput: a use is answered once the inventory grain's state is durable, and its rows (movement,
/// journal entries) follow. An activation that ends between the two (a server that stops, a grain collected) must not
/// lose them: the grain's Orleans reminder, registered with its first write, activates it again and the rows are
/// written without anybody calling that clinic's inventory. The activation is ended by Orleans' own deactivation (what
/// a stopping server does to each of its grains, minus the wait for a second server: one host, about 10 s instead of
/// two hosts and about 60 s), with the reminder ticking every 2 s.
/// </summary>
public sealed class InventoryProjectionRestartTests
{
    [Fact]
    public async Task A_use_answered_before_its_rows_were_written_gets_its_rows_from_the_next_activation_that_nobody_calls()
    {
        var server = new InventoryRestartFactory();
        await server.InitializeAsync();
        try
        {
            var world = await ChartWorld.CreateAsync(server, patients: 1);
            var visit = await world.BookVisitAsync();
            var suffix = world.Botox.ToString("N");
            // The rows of this product cannot be written (PostgreSQL refuses them); its grain state still can.
            await server.ExecuteAsync($"""
                CREATE FUNCTION inv_rows_{suffix}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
                    IF NEW.product_id = '{world.Botox}' AND NEW.kind = 'use' THEN RAISE EXCEPTION 'simulated outage of the rows'; END IF;
                    RETURN NEW;
                END; $$;
                CREATE TRIGGER inv_rows_{suffix} BEFORE INSERT ON inventory_movements FOR EACH ROW EXECUTE FUNCTION inv_rows_{suffix}();
                """);

            var chart = await world.ProviderClient().AddPointAsync(visit, ChartWorld.Toxin("glabella", 20, world.Botox, op: "restart-add"));
            Assert.Equal(1, chart.GetProperty("points").GetArrayLength());
            // The use is durable in the grain (980 on hand) while its row is not written.
            await Eventually.WaitForAsync(() => world.OnHandAsync(world.Botox, ChartWorld.BotoxLot), v => v == 980m,
                TimeSpan.FromSeconds(30), "the chart's use to reach the inventory grain");
            Assert.Equal(0m, await UsedAsync(server, world));

            // The activation ends with its rows unwritten (its retry timer dies with it), then the rows may be written.
            await world.Inventory(world.Botox).AsReference<IGrainManagementExtension>().DeactivateOnIdle();
            await using (var conn = new NpgsqlConnection(server.ConnectionString))
            {
                await conn.ExecuteAsync($"DROP TRIGGER inv_rows_{suffix} ON inventory_movements; DROP FUNCTION inv_rows_{suffix}();");
                Assert.Equal(0m, await UsedAsync(server, world));
            }

            // Nothing calls the inventory grain: its reminder activates it, and the use's rows arrive once.
            await Eventually.WaitForAsync(() => UsedAsync(server, world), v => v == -20m, TimeSpan.FromSeconds(60),
                "the reminder's activation to write the use's movement");
            await using (var conn = new NpgsqlConnection(server.ConnectionString))
            {
                // Its cost of goods too (20 units at $4.20), exactly once.
                Assert.Equal(8400L, await conn.ExecuteScalarAsync<long>(
                    """
                    SELECT coalesce(sum(CASE WHEN side = 'debit' THEN amount ELSE -amount END), 0)::bigint
                    FROM journal_postings WHERE tenant_id = @TenantId AND account = @account
                    """, new { world.TenantId, account = "cost-of-goods-sold:" + world.Botox.ToString("D") }));
            }
        }
        finally
        {
            await ((IAsyncLifetime)server).DisposeAsync();
            await server.Twilio.DisposeAsync();
        }
    }

    private static async Task<decimal> UsedAsync(InventoryRestartFactory factory, ChartWorld world)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return await conn.ExecuteScalarAsync<decimal>(
            "SELECT coalesce(sum(quantity), 0) FROM inventory_movements WHERE tenant_id = @TenantId AND product_id = @Botox AND kind = 'use'",
            new { world.TenantId, world.Botox });
    }
}
