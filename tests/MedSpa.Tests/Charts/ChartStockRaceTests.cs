using System.Net;
using Dapper;
using MedSpa.Tests.Board.Flow;
using MedSpa.Tests.Checkout;
using Npgsql;

namespace MedSpa.Tests.Charts;

/// <summary>
/// Two rooms charting the last units of a lot at once: the lot check of both may pass before either takes the product,
/// so inventory's use decides. Exactly one point is charted; the other operation is refused 409
/// <c>chart_insufficient_stock</c> and its chart stays as it was (no point, no SQL row, nothing taken from stock).
/// </summary>
public sealed class ChartStockRaceTests(ChartApiFactory factory) : IClassFixture<ChartApiFactory>
{
    [Fact]
    public async Task Two_charts_racing_for_the_last_units_of_a_lot_exactly_one_wins_and_the_other_chart_is_unchanged()
    {
        var world = await ChartWorld.CreateAsync(factory, patients: 3);
        const int rounds = 6;
        var visits = new List<(Guid A, Guid B)>();
        for (var round = 0; round < rounds; round++)
        {
            await world.ReceiveAsync(world.Botox, $"RACE-{round}", new DateOnly(2031, 1, 31), 10m);
            visits.Add((
                await world.BookVisitAsync(patient: round % 3, provider: 0, start: FlowWorld.Day.AddHours(2 * round)),
                await world.BookVisitAsync(patient: (round + 1) % 3, provider: 1, start: FlowWorld.Day.AddHours(2 * round))));
        }

        var first = world.ProviderClient();
        var second = world.Provider2Client();
        // Every round at once: both charts ask for all 10 units of the round's lot.
        var answers = await Task.WhenAll(visits.Select((v, round) => Task.WhenAll(
            first.TrySendAsync(HttpMethod.Post, ChartWorld.Chart(v.A) + "/points", ChartWorld.Toxin("forehead", 10, world.Botox, lot: $"RACE-{round}")),
            second.TrySendAsync(HttpMethod.Post, ChartWorld.Chart(v.B) + "/points", ChartWorld.Toxin("glabella", 10, world.Botox, lot: $"RACE-{round}")))));

        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        for (var round = 0; round < rounds; round++)
        {
            var (a, b) = (answers[round][0], answers[round][1]);
            Assert.True((a.Status == HttpStatusCode.OK) != (b.Status == HttpStatusCode.OK),
                $"round {round}: exactly one chart gets the last units; got {(int)a.Status} {a.Body} and {(int)b.Status} {b.Body}");
            var (loser, loserVisit) = a.Status == HttpStatusCode.OK ? (b, visits[round].B) : (a, visits[round].A);
            Assert.True(loser.Status == HttpStatusCode.Conflict, $"round {round}: {(int)loser.Status} {loser.Body}");
            Assert.Equal("chart_insufficient_stock", loser.Body.GetProperty("code").GetString());
            Assert.Equal($"RACE-{round}", loser.Body.GetProperty("lotNumber").GetString());

            // The losing chart is as it was: no point on it, none in its SQL rows.
            var chart = await world.ProviderClient().SendAsync(HttpMethod.Get, ChartWorld.Chart(loserVisit), null);
            Assert.Equal(0, chart.GetProperty("points").GetArrayLength());
            Assert.Equal(0, chart.GetProperty("version").GetInt64());
            Assert.Equal(0, await conn.ExecuteScalarAsync<int>(
                "SELECT count(*) FROM chart_points WHERE tenant_id = @TenantId AND visit_id = @loserVisit", new { world.TenantId, loserVisit }));

            // The lot gave its 10 units once, to the winner.
            Assert.Equal(0m, await world.OnHandAsync(world.Botox, $"RACE-{round}"));
            // The rows follow the grain's durable state: the grain's flush waits for them.
            await world.Inventory(world.Botox).FlushProjectionAsync();
            Assert.Equal(-10m, await conn.ExecuteScalarAsync<decimal>(
                """
                SELECT coalesce(sum(quantity), 0) FROM inventory_movements
                WHERE tenant_id = @TenantId AND lot_number = @lot AND kind IN ('use', 'return')
                """, new { world.TenantId, lot = $"RACE-{round}" }));
        }
    }

    [Fact]
    public async Task A_larger_dose_than_the_lot_has_left_is_refused_409_and_the_point_keeps_its_dose_and_its_stock()
    {
        var world = await ChartWorld.CreateAsync(factory);
        await world.ReceiveAsync(world.Botox, "SHORT-1", new DateOnly(2031, 1, 31), 10m);
        var visit = await world.BookVisitAsync();
        var provider = world.ProviderClient();
        var pointId = Guid.NewGuid();
        await provider.AddPointAsync(visit, ChartWorld.Toxin("forehead", 5, world.Botox, lot: "SHORT-1", pointId: pointId));

        // 5 more units are left; 12 in all would need 7 more.
        var refused = await provider.ProblemAsync(HttpMethod.Put, $"{ChartWorld.Chart(visit)}/points/{pointId}",
            ChartWorld.Toxin("forehead", 12, world.Botox, lot: "SHORT-1", expectedVersion: 1), HttpStatusCode.Conflict, "chart_insufficient_stock");
        Assert.Equal("SHORT-1", refused.GetProperty("lotNumber").GetString());

        var chart = await provider.SendAsync(HttpMethod.Get, ChartWorld.Chart(visit), null);
        Assert.Equal(5m, chart.Point(pointId).GetProperty("units").GetDecimal());
        Assert.Equal(1, chart.GetProperty("version").GetInt64());
        Assert.Equal(5m, await world.OnHandAsync(world.Botox, "SHORT-1"));

        // All of it is fine: the point's own 5 come back and 10 go out in one change.
        var updated = await provider.SendAsync(HttpMethod.Put, $"{ChartWorld.Chart(visit)}/points/{pointId}",
            ChartWorld.Toxin("forehead", 10, world.Botox, lot: "SHORT-1", expectedVersion: 1));
        Assert.Equal(10m, updated.Point(pointId).GetProperty("units").GetDecimal());
        Assert.Equal(0m, await world.OnHandAsync(world.Botox, "SHORT-1"));
    }
}
