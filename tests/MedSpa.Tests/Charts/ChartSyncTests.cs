using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Inventory;
using MedSpa.Tests.Board.Live;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;
using Npgsql;

namespace MedSpa.Tests.Charts;

/// <summary>Offline chart operations through the batch endpoint (issue 17 §1): merge, exactly once, inventory and audit follow.</summary>
public sealed class ChartSyncTests(ChartApiFactory factory) : IClassFixture<ChartApiFactory>
{
    private static string Ops(Guid visit) => ChartWorld.Chart(visit) + "/operations";

    private async Task<long> AuditRowsAsync(ChartWorld world, Guid visit)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return await conn.ExecuteScalarAsync<long>(
            "SELECT count(*) FROM audit_events WHERE tenant_id = @TenantId AND visit_id = @visit AND action IN ('chart.changed', 'chart.sync_superseded')",
            new { world.TenantId, visit });
    }

    [Fact]
    public async Task Two_tablets_batches_in_either_order_give_the_same_chart_exactly_once_and_stock_and_audit_follow_the_merge()
    {
        var world = await ChartWorld.CreateAsync(factory);
        var first = await world.BookVisitAsync(patient: 0);
        var second = await world.BookVisitAsync(patient: 1, provider: 1);
        var a = world.ProviderClient();
        var b = world.Provider2Client();
        var scenario = new ChartSyncScenario(world);

        // The first visit hears tablet A first, the second visit tablet B first.
        var initial1 = await a.SendAsync(HttpMethod.Post, Ops(first), scenario.Initial());
        Assert.Equal(1, initial1.GetProperty("syncVersion").GetInt64());
        var a1 = await a.SendAsync(HttpMethod.Post, Ops(first), scenario.OfflineA());
        var b1 = await b.SendAsync(HttpMethod.Post, Ops(first), scenario.OfflineB());
        await a.SendAsync(HttpMethod.Post, Ops(second), scenario.Initial());
        var b2 = await b.SendAsync(HttpMethod.Post, Ops(second), scenario.OfflineB());
        var a2 = await a.SendAsync(HttpMethod.Post, Ops(second), scenario.OfflineA());

        Assert.All(ChartSyncScenario.Results(a1), r => Assert.Equal("applied", r.Outcome));
        Assert.Equal(["superseded", "applied", "applied", "applied"], ChartSyncScenario.Results(b1).Select(r => r.Outcome));
        Assert.All(ChartSyncScenario.Results(b2), r => Assert.Equal("applied", r.Outcome));
        // Arriving after B's later dose, A's 24 units lose: nothing changes, nothing is taken from stock for them.
        Assert.Equal(["superseded", "applied", "applied"], ChartSyncScenario.Results(a2).Select(r => r.Outcome));

        var chart1 = await world.Desk().SendAsync(HttpMethod.Get, ChartWorld.Chart(first), null);
        var chart2 = await world.Desk().SendAsync(HttpMethod.Get, ChartWorld.Chart(second), null);
        scenario.AssertFinal(chart1);
        Assert.Equal(ChartSyncScenario.Content(chart1), ChartSyncScenario.Content(chart2));
        Assert.Equal(7, b1.GetProperty("clock").GetInt64());
        Assert.Equal(ChartSyncScenario.OperationCount, a2.GetProperty("syncVersion").GetInt64());

        // Stock follows the merged chart: 16 + 10 units and 1 ml per visit, whatever was charted and then merged away.
        Assert.Equal(1000m - 2 * 26m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));
        Assert.Equal(20m - 2 * 1m, await world.OnHandAsync(world.Voluma, ChartWorld.VolumaLot));
        Assert.Equal(ChartSyncScenario.OperationCount, await AuditRowsAsync(world, first));

        // Every batch again (a tablet that lost the answers): the same answers, marked replayed; nothing changes.
        var again = await b.SendAsync(HttpMethod.Post, Ops(first), scenario.OfflineB());
        Assert.Equal(ChartSyncScenario.Results(b1).Select(r => (r.Id, r.Outcome, true)), ChartSyncScenario.Results(again));
        await a.SendAsync(HttpMethod.Post, Ops(first), scenario.Initial());
        await a.SendAsync(HttpMethod.Post, Ops(first), scenario.OfflineA());
        var reread = await world.Desk().SendAsync(HttpMethod.Get, ChartWorld.Chart(first), null);
        Assert.Equal(chart1.GetProperty("version").GetInt64(), reread.GetProperty("version").GetInt64());
        Assert.Equal(ChartSyncScenario.Content(chart1), ChartSyncScenario.Content(reread));
        Assert.Equal(1000m - 2 * 26m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));
        Assert.Equal(ChartSyncScenario.OperationCount, await AuditRowsAsync(world, first));

        // The SQL copy (recall, history) holds the merged points once each.
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        await Eventually.TrueAsync(async () => await conn.ExecuteScalarAsync<decimal>(
                "SELECT coalesce(sum(units), 0) FROM chart_points WHERE tenant_id = @TenantId AND visit_id = @first", new { world.TenantId, first }) == 26m,
            "chart_points holds the merged units");
    }

    [Fact]
    public async Task Bad_batches_are_refused_whole_and_state_refusals_are_per_operation_changing_nothing()
    {
        var world = await ChartWorld.CreateAsync(factory);
        var other = await ChartWorld.CreateAsync(factory, patients: 1);
        var visit = await world.BookVisitAsync();
        var otherVisit = await other.BookVisitAsync();
        var provider = world.ProviderClient();
        object Batch(params object[] ops) => new { deviceId = "tablet-x", operations = ops };
        object Add(string id, long seq, string lot = ChartWorld.BotoxLot, decimal? units = 10m, decimal? volumeMl = null) => new
        {
            operationId = id, sequence = seq, clock = seq, kind = "add-point", pointId = Guid.NewGuid(), zone = "forehead", x = 10m, y = 10m,
            productId = world.Botox, lotNumber = lot, units, volumeMl,
        };

        var units = await provider.ProblemAsync(HttpMethod.Post, Ops(visit), Batch(Add("ok-1", 1), Add("bad-2", 2, units: null, volumeMl: 1m)),
            HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(units.GetProperty("errors").TryGetProperty("operations[1].units", out _), units.ToString());
        var kind = await provider.ProblemAsync(HttpMethod.Post, Ops(visit), Batch(new { operationId = "s", sequence = 1, clock = 1, kind = "stamp" }),
            HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(kind.GetProperty("errors").TryGetProperty("operations[0].kind", out _), kind.ToString());
        // A queued signature without what signing needs is refused whole, naming what is missing (it is wired to signing).
        var sign = await provider.ProblemAsync(HttpMethod.Post, Ops(visit), Batch(new { operationId = "s", sequence = 1, clock = 1, kind = "sign" }),
            HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(sign.GetProperty("errors").TryGetProperty("operations[0].method", out _), sign.ToString());
        var device = await provider.ProblemAsync(HttpMethod.Post, Ops(visit), new { operations = new[] { Add("d", 1) } },
            HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(device.GetProperty("errors").TryGetProperty("deviceId", out _), device.ToString());
        await provider.ProblemAsync(HttpMethod.Post, Ops(visit), new { deviceId = "tablet-x", operations = Array.Empty<object>() },
            HttpStatusCode.BadRequest, "validation_failed");
        await world.Desk().ProblemAsync(HttpMethod.Post, Ops(visit), Batch(Add("desk", 1)), HttpStatusCode.Forbidden, "forbidden");
        await provider.ProblemAsync(HttpMethod.Post, Ops(otherVisit), Batch(Add("foreign", 1)), HttpStatusCode.NotFound, "not_found");
        var photo = await provider.ProblemAsync(HttpMethod.Post, Ops(visit),
            Batch(new { operationId = "p", sequence = 1, clock = 1, kind = "attach-photo", photoId = Guid.NewGuid() }),
            HttpStatusCode.NotFound, "chart_photo_not_found");
        Assert.Equal("operations[0].photoId", photo.GetProperty("field").GetString());
        // Another organisation's product is no product here.
        var foreign = await provider.SendAsync(HttpMethod.Post, Ops(visit), Batch(new
        {
            operationId = "fp", sequence = 1, clock = 1, kind = "add-point", pointId = Guid.NewGuid(), zone = "chin", x = 1m, y = 1m,
            productId = other.Botox, lotNumber = ChartWorld.BotoxLot, units = 5m,
        }));
        Assert.Equal("validation_failed", foreign.GetProperty("results")[0].GetProperty("code").GetString());

        var read = await provider.SendAsync(HttpMethod.Get, ChartWorld.Chart(visit), null);
        Assert.Equal(0, read.GetProperty("version").GetInt64());
        Assert.Equal(1000m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));

        // State refusals answer per operation: an expired lot, a sequence number reused for another operation.
        var mixed = await provider.SendAsync(HttpMethod.Post, Ops(visit), Batch(Add("good", 1), Add("expired", 2, lot: ChartWorld.ExpiredLot), Add("reused", 1)));
        var results = mixed.GetProperty("results").EnumerateArray().ToArray();
        Assert.Equal("applied", results[0].GetProperty("outcome").GetString());
        Assert.Equal(("refused", "chart_lot_unusable"), (results[1].GetProperty("outcome").GetString(), results[1].GetProperty("code").GetString()));
        Assert.Equal("operations[1].lotNumber", results[1].GetProperty("field").GetString());
        Assert.Equal(("refused", "chart_sequence_conflict"), (results[2].GetProperty("outcome").GetString(), results[2].GetProperty("code").GetString()));
        Assert.Equal(1, mixed.GetProperty("chart").GetProperty("points").GetArrayLength());
        Assert.Equal(990m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));
        Assert.Equal(100m, await world.OnHandAsync(world.Botox, ChartWorld.ExpiredLot));

        // A chart sent for review takes no offline operation until it is set back.
        await provider.SendAsync(HttpMethod.Put, ChartWorld.Chart(visit) + "/status", new { operationId = "review", status = "ready-for-review" });
        await provider.ProblemAsync(HttpMethod.Post, Ops(visit), Batch(Add("late", 3)), HttpStatusCode.Conflict, "chart_not_editable");
        // The same operation id for another change is refused, not taken for a resend.
        await provider.SendAsync(HttpMethod.Put, ChartWorld.Chart(visit) + "/status", new { operationId = "back", status = "in-progress" });
        var reusedId = await provider.SendAsync(HttpMethod.Post, Ops(visit), Batch(Add("good", 9, units: 3m)));
        Assert.Equal("chart_operation_conflict", reusedId.GetProperty("results")[0].GetProperty("code").GetString());
        Assert.Equal(990m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));
    }

    [Fact]
    public async Task A_signed_chart_refuses_offline_operations_with_chart_signed_and_answers_a_resend_as_before()
    {
        var world = await ChartWorld.CreateAsync(factory);
        var visit = await world.BookVisitAsync();
        var provider = world.ProviderClient();
        var batch = new
        {
            deviceId = "tablet-s",
            operations = new object[]
            {
                new { operationId = "s-add", sequence = 1, clock = 1, kind = "add-point", pointId = Guid.NewGuid(), zone = "glabella", x = 50m, y = 30m, productId = world.Botox, lotNumber = ChartWorld.BotoxLot, units = 10m },
            },
        };
        await provider.SendAsync(HttpMethod.Post, Ops(visit), batch);
        var signed = await provider.SendAsync(HttpMethod.Post, ChartWorld.Chart(visit) + "/sign",
            new { operationId = "sign-1", method = "typed", typedName = "Ana Rivera NP" });
        Assert.Equal("signed", signed.GetProperty("status").GetString());

        // A queue that reaches the server after the signature is refused whole; nothing of it is charted or taken.
        var refused = await provider.ProblemAsync(HttpMethod.Post, Ops(visit), new
        {
            deviceId = "tablet-s",
            operations = new object[] { new { operationId = "s-late", sequence = 2, clock = 2, kind = "set-note-field", field = "plan", value = "late" } },
        }, HttpStatusCode.Conflict, "chart_signed");
        Assert.Equal("signed", refused.GetProperty("chartStatus").GetString());
        // The batch received before signing, sent again (its answer was lost): answered as before.
        var again = await provider.SendAsync(HttpMethod.Post, Ops(visit), batch);
        Assert.Equal(("applied", true), (again.GetProperty("results")[0].GetProperty("outcome").GetString(),
            again.GetProperty("results")[0].GetProperty("replayed").GetBoolean()));
        Assert.Equal(signed.GetProperty("version").GetInt64(), again.GetProperty("chart").GetProperty("version").GetInt64());
        Assert.Null(again.GetProperty("chart").GetProperty("notes").GetProperty("plan").GetString());
        Assert.Equal(990m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));
    }

    [Fact]
    public async Task A_point_charted_through_the_endpoints_and_then_edited_offline_keeps_one_use_of_stock()
    {
        var world = await ChartWorld.CreateAsync(factory);
        var visit = await world.BookVisitAsync();
        var provider = world.ProviderClient();
        var pointId = Guid.NewGuid();
        await provider.AddPointAsync(visit, ChartWorld.Toxin("glabella", 20, world.Botox, op: "online-add", pointId: pointId));
        var sync = await provider.SendAsync(HttpMethod.Get, ChartWorld.Chart(visit) + "/sync", null);
        Assert.Equal(1, sync.GetProperty("chart").GetProperty("points").GetArrayLength());

        var moved = await provider.SendAsync(HttpMethod.Post, Ops(visit), new
        {
            deviceId = "tablet-x", seenVersion = sync.GetProperty("syncVersion").GetInt64(),
            operations = new object[]
            {
                new { operationId = "m1", sequence = 1, clock = sync.GetProperty("clock").GetInt64() + 1, kind = "move-point", pointId, x = 12.5m, y = 40m },
                new { operationId = "u1", sequence = 2, clock = sync.GetProperty("clock").GetInt64() + 2, kind = "update-point", pointId, productId = world.Botox, lotNumber = ChartWorld.BotoxLot, units = 25m },
            },
        });
        var point = moved.GetProperty("chart").Point(pointId);
        Assert.Equal((12.5m, 25m), (point.GetProperty("x").GetDecimal(), point.GetProperty("units").GetDecimal()));
        Assert.Equal(975m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));

        // The per-point endpoint still works on it, at the version the merge gave it; its change is seen by later merges.
        var version = point.GetProperty("version").GetInt64();
        await provider.SendAsync(HttpMethod.Delete, $"{ChartWorld.Chart(visit)}/points/{pointId}?operationId=rm&expectedVersion={version}", null);
        Assert.Equal(1000m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));
        var stale = await provider.SendAsync(HttpMethod.Post, Ops(visit), new
        {
            deviceId = "tablet-y",
            operations = new object[] { new { operationId = "old-edit", sequence = 1, clock = 1, kind = "move-point", pointId, x = 1m, y = 1m } },
        });
        Assert.Equal("superseded", stale.GetProperty("results")[0].GetProperty("outcome").GetString());
        Assert.Equal(0, stale.GetProperty("chart").GetProperty("points").GetArrayLength());
        Assert.Equal(1000m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));
    }

    [Fact]
    public async Task A_large_batch_asks_inventory_once_per_lot_and_refuses_exactly_the_operations_a_lot_cannot_cover()
    {
        var world = await ChartWorld.CreateAsync(factory, patients: 1, botoxUnits: 300m);
        var visit = await world.BookVisitAsync();
        var ops = new List<object>();
        var botoxPoints = new List<Guid>();
        object Add(Guid product, string lot, decimal? units, decimal? ml, Guid? id = null) => new
        {
            operationId = $"big-{ops.Count}", sequence = ops.Count + 1, clock = ops.Count + 1, kind = "add-point", pointId = id ?? Guid.NewGuid(),
            zone = "forehead", x = 10m, y = 10m, productId = product, lotNumber = lot, units, volumeMl = ml,
        };
        object Dose(Guid id, decimal units) => new
        {
            operationId = $"big-{ops.Count}", sequence = ops.Count + 1, clock = ops.Count + 1, kind = "update-point", pointId = id,
            productId = world.Botox, lotNumber = ChartWorld.BotoxLot, units,
        };

        // 300 units in the good Botox lot: its first 30 points of 10 fit, the next 30 do not; 20 ml of Voluma, all taken.
        for (var i = 0; i < 60; i++)
        {
            botoxPoints.Add(Guid.NewGuid());
            ops.Add(Add(world.Botox, ChartWorld.BotoxLot, 10m, null, botoxPoints[i]));
            if (i % 3 == 0) ops.Add(Add(world.Botox, ChartWorld.ExpiredLot, 5m, null));
            if (i % 3 == 1) ops.Add(Add(world.Botox, ChartWorld.RecalledLot, 5m, null));
            if (i % 3 == 2) ops.Add(Add(world.Voluma, ChartWorld.VolumaLot, null, 1m));
        }

        ops.Add(Add(world.Voluma, ChartWorld.VolumaLot, null, 0.5m));   // 20.5 ml: one too many
        ops.Add(Dose(botoxPoints[0], 15m));                              // 5 more of a lot already taken whole
        ops.Add(Dose(botoxPoints[1], 4m));                               // less: nothing to check, applied
        var checksBefore = LotChecks(world);

        var answer = await world.ProviderClient().SendAsync(HttpMethod.Post, Ops(visit), new { deviceId = "tablet-big", operations = ops });

        // One inventory call per lot the batch touched (three Botox lots, one Voluma lot), not one per operation.
        Assert.Equal((3, 1), (LotChecks(world).Botox - checksBefore.Botox, LotChecks(world).Voluma - checksBefore.Voluma));
        var results = answer.GetProperty("results").EnumerateArray().ToArray();
        Assert.Equal(ops.Count, results.Length);
        string Code(JsonElement r) => r.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : "";
        string Reason(int i) => Code(results[i]);
        var good = Enumerable.Range(0, results.Length).Where(i => ops[i].ToString()!.Contains(ChartWorld.BotoxLot, StringComparison.Ordinal)).ToArray();
        Assert.Equal(62, good.Length);
        // The good lot's adds in order: 30 applied, then 30 refused as short with what the lot holds; the larger dose
        // refused too; the smaller one applied.
        Assert.All(good.Take(30), i => Assert.Equal("applied", results[i].GetProperty("outcome").GetString()));
        Assert.All(good.Skip(30).Take(31), i =>
        {
            Assert.Equal(("refused", "chart_insufficient_stock"), (results[i].GetProperty("outcome").GetString(), Reason(i)));
            Assert.Contains("(300 usable)", results[i].GetProperty("message").GetString(), StringComparison.Ordinal);
            Assert.Equal($"operations[{i}].lotNumber", results[i].GetProperty("field").GetString());
        });
        Assert.Equal("applied", results[^1].GetProperty("outcome").GetString());
        var expired = Enumerable.Range(0, results.Length).Where(i => ops[i].ToString()!.Contains(ChartWorld.ExpiredLot, StringComparison.Ordinal)).ToArray();
        var recalled = Enumerable.Range(0, results.Length).Where(i => ops[i].ToString()!.Contains(ChartWorld.RecalledLot, StringComparison.Ordinal)).ToArray();
        Assert.Equal((20, 20), (expired.Length, recalled.Length));
        Assert.All(expired, i => Assert.Equal(("chart_lot_unusable", $"Lot {ChartWorld.ExpiredLot} has expired: it cannot be charted."),
            (Reason(i), results[i].GetProperty("message").GetString())));
        Assert.All(recalled, i => Assert.Equal(("chart_lot_unusable", $"Lot {ChartWorld.RecalledLot} has been recalled: it cannot be charted."),
            (Reason(i), results[i].GetProperty("message").GetString())));
        var voluma = Enumerable.Range(0, results.Length).Where(i => ops[i].ToString()!.Contains(ChartWorld.VolumaLot, StringComparison.Ordinal)).ToArray();
        Assert.All(voluma.SkipLast(1), i => Assert.Equal("applied", results[i].GetProperty("outcome").GetString()));
        Assert.Equal("chart_insufficient_stock", Reason(voluma[^1]));
        Assert.Contains("(20 usable)", results[voluma[^1]].GetProperty("message").GetString(), StringComparison.Ordinal);

        // Stock follows what was applied: 29 points of 10 and one of 4 units; 20 ml.
        Assert.Equal(50, answer.GetProperty("chart").GetProperty("points").GetArrayLength());
        Assert.Equal(300m - 294m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));
        Assert.Equal(0m, await world.OnHandAsync(world.Voluma, ChartWorld.VolumaLot));
        Assert.Equal((100m, 100m), (await world.OnHandAsync(world.Botox, ChartWorld.ExpiredLot), await world.OnHandAsync(world.Botox, ChartWorld.RecalledLot)));
    }

    [Fact]
    public async Task A_large_batch_makes_one_inventory_call_and_one_state_write_per_product_and_its_resend_makes_none()
    {
        var world = await ChartWorld.CreateAsync(factory, patients: 1);
        var visit = await world.BookVisitAsync();
        var ops = new List<object>();
        void Op(Func<int, object> make) => ops.Add(make(ops.Count + 1));
        object Point(int n, string kind, Guid id, Guid product, string lot, decimal? units, decimal? ml) => new
        {
            operationId = $"many-{n}", sequence = n, clock = n, kind, pointId = id, zone = "forehead", x = 10m, y = 20m,
            productId = product, lotNumber = lot, units, volumeMl = ml,
        };

        var botox = Enumerable.Range(0, 80).Select(_ => Guid.NewGuid()).ToArray();
        var voluma = Enumerable.Range(0, 10).Select(_ => Guid.NewGuid()).ToArray();
        foreach (var id in botox) Op(n => Point(n, "add-point", id, world.Botox, ChartWorld.BotoxLot, 5m, null));
        foreach (var id in voluma) Op(n => Point(n, "add-point", id, world.Voluma, ChartWorld.VolumaLot, null, 1m));
        foreach (var id in botox[..40]) Op(n => Point(n, "update-point", id, world.Botox, ChartWorld.BotoxLot, 3m, null));
        foreach (var id in botox[40..60]) Op(n => new { operationId = $"many-{n}", sequence = n, clock = n, kind = "remove-point", pointId = id });
        foreach (var id in botox[60..]) Op(n => new { operationId = $"many-{n}", sequence = n, clock = n, kind = "move-point", pointId = id, x = 70m, y = 40m });
        foreach (var id in voluma[..5]) Op(n => new { operationId = $"many-{n}", sequence = n, clock = n, kind = "remove-point", pointId = id });
        for (var i = 0; i < 10; i++) Op(n => Point(n, "add-point", Guid.NewGuid(), world.Botox, ChartWorld.ExpiredLot, 5m, null));
        for (var i = 0; i < 5; i++) Op(n => new { operationId = $"many-{n}", sequence = n, clock = n, kind = "set-note-field", field = "plan", value = $"plan {n}" });
        var body = new { deviceId = "tablet-many", operations = ops };
        var botoxKey = InventoryKeys.For(world.TenantId, world.ClinicId, world.Botox);
        var volumaKey = InventoryKeys.For(world.TenantId, world.ClinicId, world.Voluma);
        var chartKey = TenantKeys.For(world.TenantId, visit);
        int[] Counts() =>
        [
            .. new[] { botoxKey, volumaKey }.SelectMany(key => new[]
            {
                factory.Calls.Count(key, nameof(IInventoryGrain.ApplyMovesAsync)),
                factory.Calls.Count(key, nameof(IInventoryGrain.UseAsync)) + factory.Calls.Count(key, nameof(IInventoryGrain.ReturnAsync)),
                factory.Writes.Count(key, "inventory"),
            }),
            factory.Writes.Count(chartKey, "chart"),
        ];

        var before = Counts();
        var answer = await world.ProviderClient().SendAsync(HttpMethod.Post, Ops(visit), body);
        var after = Counts();

        // 80 + 10 adds, 40 dose changes, 25 removals: 155 inventory moves over two products. One call to each product's
        // grain with all of its moves, one state write there, and one write of the chart: not one call and write per move.
        Assert.Equal([1, 0, 1, 1, 0, 1, 1], after.Zip(before, (a, b) => a - b));
        var results = answer.GetProperty("results").EnumerateArray().ToArray();
        Assert.Equal(ops.Count, results.Length);
        var refused = results.Where(r => r.GetProperty("outcome").GetString() == "refused").ToArray();
        Assert.Equal(10, refused.Length);
        Assert.All(refused, r => Assert.Equal("chart_lot_unusable", r.GetProperty("code").GetString()));
        Assert.Equal(ops.Count - 10, results.Count(r => r.GetProperty("outcome").GetString() == "applied"));
        Assert.Equal(80 - 20 + 10 - 5, answer.GetProperty("chart").GetProperty("points").GetArrayLength());
        // Stock exact: 40 points of 3 and 20 of 5 units; 5 ml.
        Assert.Equal(1000m - 40 * 3m - 20 * 5m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));
        Assert.Equal(20m - 5m, await world.OnHandAsync(world.Voluma, ChartWorld.VolumaLot));
        Assert.Equal(100m, await world.OnHandAsync(world.Botox, ChartWorld.ExpiredLot));

        // The resend: every applied operation answered as a replay and every refused one refused again, nothing moved in
        // inventory, nothing written.
        var again = await world.ProviderClient().SendAsync(HttpMethod.Post, Ops(visit), body);
        Assert.Equal(results.Select(r => (r.GetProperty("outcome").GetString(), r.GetProperty("outcome").GetString() == "applied")),
            again.GetProperty("results").EnumerateArray().Select(r => (r.GetProperty("outcome").GetString(), r.GetProperty("replayed").GetBoolean())));
        Assert.Equal(after, Counts());
        Assert.Equal(1000m - 220m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));
        Assert.Equal(15m, await world.OnHandAsync(world.Voluma, ChartWorld.VolumaLot));

        // The rows and the ledger follow the same moves: every use and return of the batch, each once.
        await world.Inventory(world.Botox).FlushProjectionAsync();
        await world.Inventory(world.Voluma).FlushProjectionAsync();
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        var moved = (await conn.QueryAsync<(Guid Product, decimal Quantity)>(
            """
            SELECT product_id, sum(quantity) FROM inventory_movements
            WHERE tenant_id = @TenantId AND kind IN ('use', 'return') AND visit_id = @visit GROUP BY product_id
            """, new { world.TenantId, visit })).ToDictionary(r => r.Product, r => r.Quantity);
        Assert.Equal((-220m, -5m), (moved[world.Botox], moved[world.Voluma]));
    }

    [Fact]
    public async Task A_point_whose_product_changes_gives_the_first_product_back_through_the_endpoint_and_offline()
    {
        var world = await ChartWorld.CreateAsync(factory, patients: 1);
        var visit = await world.BookVisitAsync();
        var provider = world.ProviderClient();
        async Task<(decimal Botox, decimal Voluma)> StockAsync() =>
            (await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot), await world.OnHandAsync(world.Voluma, ChartWorld.VolumaLot));

        // Through the endpoint: 10 units of Botox, then the same point becomes 1 ml of Voluma. The Botox comes back.
        var point = Guid.NewGuid();
        await provider.AddPointAsync(visit, ChartWorld.Toxin("glabella", 10, world.Botox, pointId: point));
        Assert.Equal((990m, 20m), await StockAsync());
        var changed = await provider.SendAsync(HttpMethod.Put, $"{ChartWorld.Chart(visit)}/points/{point}", ChartWorld.Filler("glabella", 1m, world.Voluma, expectedVersion: 1));
        Assert.Equal(world.Voluma, changed.Point(point).GetProperty("productId").GetGuid());
        Assert.Equal((1000m, 19m), await StockAsync());

        // Offline: a Botox point turned into Voluma in the same batch, and the endpoint's point turned back into Botox.
        var offline = Guid.NewGuid();
        object Update(int n, Guid id, Guid product, string lot, decimal? units, decimal? ml) => new
        {
            operationId = $"swap-{n}", sequence = n, clock = 100 + n, kind = n == 1 ? "add-point" : "update-point", pointId = id,
            zone = "chin", x = 50m, y = 80m, productId = product, lotNumber = lot, units, volumeMl = ml,
        };
        var answer = await provider.SendAsync(HttpMethod.Post, Ops(visit), new
        {
            deviceId = "tablet-swap",
            operations = new[]
            {
                Update(1, offline, world.Botox, ChartWorld.BotoxLot, 8m, null),
                Update(2, offline, world.Voluma, ChartWorld.VolumaLot, null, 2m),
                Update(3, point, world.Botox, ChartWorld.BotoxLot, 6m, null),
            },
        });
        Assert.All(answer.GetProperty("results").EnumerateArray(), r => Assert.Equal("applied", r.GetProperty("outcome").GetString()));
        Assert.Equal((1000m - 6m, 20m - 2m), await StockAsync());
    }

    private (int Botox, int Voluma) LotChecks(ChartWorld world) => (
        factory.Calls.Count(InventoryKeys.For(world.TenantId, world.ClinicId, world.Botox), nameof(IInventoryGrain.CheckLotAsync)),
        factory.Calls.Count(InventoryKeys.For(world.TenantId, world.ClinicId, world.Voluma), nameof(IInventoryGrain.CheckLotAsync)));
}
