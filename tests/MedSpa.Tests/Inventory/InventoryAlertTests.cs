using System.Net;
using Dapper;
using MedSpa.GrainInterfaces.Board;
using MedSpa.GrainInterfaces.Inventory;
using MedSpa.Grains.Housekeeping;
using MedSpa.Silo.Inventory;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MedSpa.Tests.Inventory;

/// <summary>
/// Inventory's admin events (issue 16 §1): every use raises <c>inventory.auto_deducted</c> on the clinic's board stream;
/// falling to the low-stock threshold raises <c>inventory.low_stock</c> there and as a notification for the clinic
/// (once); the daily sweep raises the 90/30/7-day expiry warnings once each.
/// </summary>
public sealed class InventoryAlertTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    private static readonly DateOnly Today = DateOnly.FromDateTime(DateTime.UtcNow);

    private async Task<List<string>> NotificationsAsync(Guid tenantId, string kind)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return (await conn.QueryAsync<string>(
            "SELECT dedupe_key FROM notifications WHERE tenant_id = @tenantId AND kind = @kind ORDER BY created_at, dedupe_key",
            new { tenantId, kind })).ToList();
    }

    [Fact]
    public async Task Uses_are_announced_on_the_board_and_low_stock_is_raised_once_as_a_board_event_and_a_notification()
    {
        var w = await InventoryWorld.CreateAsync(factory);
        var clinic = w.Tenant.ClinicId;
        var board = factory.Services.GetRequiredService<IGrainFactory>().GetGrain<IClinicBoardGrain>(BoardKeys.For(w.Tenant.TenantId, clinic));
        var before = (await board.GetSnapshotAsync()).Seq;
        await w.ReceiveAsync(clinic, w.Botox, "LS-1", Today.AddDays(200), 100m, 420);
        await w.Owner.SendAsync(HttpMethod.Put, InventoryWorld.Stock(clinic, w.Botox) + "/low-stock", new { threshold = 50m });

        Assert.Equal(HttpStatusCode.OK, (await w.UseAsync(clinic, w.Botox, 40m)).Status);
        Assert.Empty(await NotificationsAsync(w.Tenant.TenantId, "inventory-low-stock"));
        Assert.Equal(HttpStatusCode.OK, (await w.UseAsync(clinic, w.Botox, 20m)).Status);
        Assert.Equal(HttpStatusCode.OK, (await w.UseAsync(clinic, w.Botox, 5m)).Status);

        Assert.Single(await NotificationsAsync(w.Tenant.TenantId, "inventory-low-stock"));
        var events = (await board.GetSinceAsync(before)).Events;
        Assert.Equal(3, events.Count(e => e.Event == "inventory.auto_deducted"));
        var low = Assert.Single(events, e => e.Event == "inventory.low_stock");
        var data = Assert.IsType<InventoryEvent>(low.Data);
        Assert.Equal(w.Botox, data.ProductId);
        Assert.Equal(40m, data.Quantity);
        var levels = await w.Owner.SendAsync(HttpMethod.Get, $"/api/inventory/stock?clinicId={clinic}", null);
        Assert.True(levels[0].GetProperty("low").GetBoolean());
        Assert.Equal(35m, levels[0].GetProperty("usable").GetDecimal());
    }

    [Fact]
    public async Task The_daily_sweep_warns_of_expiry_at_90_30_and_7_days_once_and_closes_vials_past_their_window()
    {
        var w = await InventoryWorld.CreateAsync(factory);
        var clinic = w.Tenant.ClinicId;
        await w.ReceiveAsync(clinic, w.Botox, "EXP-20", Today.AddDays(20), 100m, 420);
        await w.ReceiveAsync(clinic, w.Botox, "EXP-200", Today.AddDays(200), 200m, 420);
        await w.Owner.SendAsync(HttpMethod.Post, InventoryWorld.Stock(clinic, w.Botox) + "/vials",
            new { lotNumber = "EXP-200", reconstitutedAt = DateTimeOffset.UtcNow.AddHours(-30), diluentMl = 2.5m });
        var sweep = factory.Services.GetServices<IHousekeepingTask>().OfType<InventorySweep>().Single();

        await sweep.RunAsync(DateTimeOffset.UtcNow, CancellationToken.None);
        await sweep.RunAsync(DateTimeOffset.UtcNow, CancellationToken.None);

        var warnings = await NotificationsAsync(w.Tenant.TenantId, "inventory-expiring");
        var warned = Assert.Single(warnings);
        Assert.EndsWith(":EXP-20:30", warned);
        var stock = await w.Owner.SendAsync(HttpMethod.Get, InventoryWorld.Stock(clinic, w.Botox), null);
        Assert.Equal(0, stock.GetProperty("openVials").GetArrayLength());
        Assert.Equal(200m, stock.GetProperty("onHand").GetDecimal());
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        Assert.Equal("stability-exceeded", await conn.ExecuteScalarAsync<string>(
            "SELECT closed_reason FROM inventory_vials WHERE tenant_id = @TenantId", new { w.Tenant.TenantId }));
    }
}
