using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.Tests.Board.Flow;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.OrleansCluster;
using MedSpa.Tests.Payments;
using MedSpa.Tests.TestHost;
using Npgsql;

namespace MedSpa.Tests.Charts;

/// <summary>
/// Issue 16 "unreachable inventory": while a clinic's inventory cannot write, a chart point is answered as charted and
/// its use is left to the chart's retry. When the retry is then refused (here: two rooms took the last 10 units of a lot
/// during the outage, so only one of the deferred uses can be recorded), the refusal is not just logged: the point is
/// marked (<c>stockIssue</c>), the clinic's staff get a notification (<c>inventory-chart-use-refused</c>, once) and
/// the stock is taken exactly once.
/// </summary>
public sealed partial class ChartDeferredStockTests(ChartApiFactory factory) : IClassFixture<ChartApiFactory>
{
    [Fact]
    public async Task A_deferred_use_refused_later_marks_the_point_and_notifies_the_staff_once()
    {
        var world = await ChartWorld.CreateAsync(factory, patients: 2);
        var lot = "LATE-" + Guid.NewGuid().ToString("N")[..8];
        await world.ReceiveAsync(world.Botox, lot, new DateOnly(2031, 1, 31), 10m);
        var a = await world.BookVisitAsync(patient: 0, provider: 0, start: FlowWorld.Day.AddHours(1));
        var b = await world.BookVisitAsync(patient: 1, provider: 1, start: FlowWorld.Day.AddHours(1));

        await using (await GrainStateOutage.StartAsync(factory, "inventory", world.Botox))
        {
            // Both rooms chart all 10 units: the lot check passes for both (nothing was taken), the uses are deferred.
            await world.ProviderClient().AddPointAsync(a, ChartWorld.Toxin("forehead", 10, world.Botox, lot: lot));
            await world.Provider2Client().AddPointAsync(b, ChartWorld.Toxin("glabella", 10, world.Botox, lot: lot));
        }

        // Inventory is back: the charts' retries deliver their uses; one is recorded, the other refused.
        using var owner = world.Owner();
        var notices = await Eventually.WaitForAsync(
            () => owner.SendAsync(HttpMethod.Get, "/api/notifications?kind=inventory-chart-use-refused", null),
            n => n.GetProperty("items").GetArrayLength() > 0, TimeSpan.FromSeconds(60), "the staff notification of the refused use");
        var notice = Assert.Single(notices.GetProperty("items").EnumerateArray());
        Assert.Contains(lot, notice.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(world.ClinicId, notice.GetProperty("clinicId").GetGuid());

        var charts = await Eventually.WaitForAsync(
            async () => new[] { await PointAsync(world, a), await PointAsync(world, b) },
            p => p.Count(x => x.TryGetProperty("stockIssue", out var issue) && issue.ValueKind == JsonValueKind.String) == 1,
            TimeSpan.FromSeconds(30), "one point to be marked");
        var marked = charts.Single(x => x.GetProperty("stockIssue").ValueKind == JsonValueKind.String);
        // The winner took the last units: the lot is depleted, which inventory answers as unavailable.
        Assert.Equal("inventory_lot_unavailable", marked.GetProperty("stockIssue").GetString());
        // Both points stay on their charts (they were injected); the stock gave its 10 units once.
        Assert.All(charts, p => Assert.Equal(10m, p.GetProperty("units").GetDecimal()));
        Assert.Equal(0m, await world.OnHandAsync(world.Botox, lot));
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        // The rows follow the grain's durable state: the grain's flush waits for them.
        await world.Inventory(world.Botox).FlushProjectionAsync();
        Assert.Equal(-10m, await conn.ExecuteScalarAsync<decimal>(
            "SELECT coalesce(sum(quantity), 0) FROM inventory_movements WHERE tenant_id = @TenantId AND lot_number = @lot AND kind IN ('use', 'return')",
            new { world.TenantId, lot }));
        // Retries report it once.
        Assert.Equal(1, await conn.ExecuteScalarAsync<int>(
            "SELECT count(*) FROM notifications WHERE tenant_id = @TenantId AND kind = 'inventory-chart-use-refused'", new { world.TenantId }));
    }

    private static async Task<JsonElement> PointAsync(ChartWorld world, Guid visit) =>
        (await world.ProviderClient().SendAsync(HttpMethod.Get, ChartWorld.Chart(visit), null)).GetProperty("points").EnumerateArray().Single();
}
