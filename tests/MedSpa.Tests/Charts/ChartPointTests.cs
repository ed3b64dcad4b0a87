using System.Net;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;

namespace MedSpa.Tests.Charts;

/// <summary>Injection points through the API: add, move, update, remove; idempotent operations; roles and tenants; lots.</summary>
public sealed class ChartPointTests(ChartApiFactory factory) : IClassFixture<ChartApiFactory>
{
    [Fact]
    public async Task A_provider_adds_moves_updates_and_removes_a_point_and_inventory_follows_each_step_exactly_once()
    {
        var world = await ChartWorld.CreateAsync(factory);
        var visit = await world.BookVisitAsync();
        var provider = world.ProviderClient();
        var pointId = Guid.NewGuid();

        var added = await provider.AddPointAsync(visit, ChartWorld.Toxin("glabella", 20, world.Botox, op: "add-1", pointId: pointId));
        Assert.Equal(1, added.GetProperty("points").GetArrayLength());
        Assert.Equal(1, added.Point(pointId).GetProperty("version").GetInt64());
        Assert.Equal("injection", added.GetProperty("activity").GetString());
        Assert.Equal(980m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));

        // The tablet lost the answer and sends the same operation again: same chart, nothing deducted twice.
        var replay = await provider.AddPointAsync(visit, ChartWorld.Toxin("glabella", 20, world.Botox, op: "add-1", pointId: pointId));
        Assert.True(replay.GetProperty("replayed").GetBoolean());
        Assert.Equal(1, replay.GetProperty("points").GetArrayLength());
        Assert.Equal(980m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));

        // The same operation id for another change is refused rather than taken for a retry.
        await provider.ProblemAsync(HttpMethod.Post, ChartWorld.Chart(visit) + "/points",
            ChartWorld.Toxin("forehead", 8, world.Botox, op: "add-1"), HttpStatusCode.Conflict, "chart_operation_conflict");

        var moved = await provider.SendAsync(HttpMethod.Post, $"{ChartWorld.Chart(visit)}/points/{pointId}/move",
            new { operationId = "move-1", expectedVersion = 1, x = 52.5m, y = 31 });
        Assert.Equal(2, moved.Point(pointId).GetProperty("version").GetInt64());
        Assert.Equal(52.5m, moved.Point(pointId).GetProperty("x").GetDecimal());
        Assert.Equal(980m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));

        var updated = await provider.SendAsync(HttpMethod.Put, $"{ChartWorld.Chart(visit)}/points/{pointId}",
            ChartWorld.Toxin("glabella", 12.5m, world.Botox, op: "update-1", expectedVersion: 2));
        Assert.Equal(3, updated.Point(pointId).GetProperty("version").GetInt64());
        Assert.Equal(12.5m, updated.Point(pointId).GetProperty("units").GetDecimal());
        Assert.Equal(987.5m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));

        // A change made from version 2 after the point reached 3 is refused, naming the current version.
        var stale = await provider.ProblemAsync(HttpMethod.Put, $"{ChartWorld.Chart(visit)}/points/{pointId}",
            ChartWorld.Toxin("glabella", 30, world.Botox, op: "update-2", expectedVersion: 2), HttpStatusCode.Conflict, "chart_point_conflict");
        Assert.Equal(3, stale.GetProperty("currentVersion").GetInt64());
        Assert.Equal(987.5m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));

        var removed = await provider.SendAsync(HttpMethod.Delete, $"{ChartWorld.Chart(visit)}/points/{pointId}?operationId=remove-1&expectedVersion=3", null);
        Assert.Equal(0, removed.GetProperty("points").GetArrayLength());
        Assert.Equal(1000m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));
        await provider.ProblemAsync(HttpMethod.Delete, $"{ChartWorld.Chart(visit)}/points/{pointId}?operationId=remove-2&expectedVersion=3", null,
            HttpStatusCode.NotFound, "chart_point_not_found");

        var read = await world.Desk().SendAsync(HttpMethod.Get, ChartWorld.Chart(visit), null);
        Assert.Equal(4, read.GetProperty("version").GetInt64());
    }

    [Fact]
    public async Task A_point_added_again_with_its_old_id_after_its_removal_takes_its_product_from_stock_again()
    {
        var world = await ChartWorld.CreateAsync(factory);
        var visit = await world.BookVisitAsync();
        var provider = world.ProviderClient();
        var pointId = Guid.NewGuid();

        await provider.AddPointAsync(visit, ChartWorld.Toxin("glabella", 20, world.Botox, op: "first-add", pointId: pointId));
        await provider.SendAsync(HttpMethod.Delete, $"{ChartWorld.Chart(visit)}/points/{pointId}?operationId=first-remove&expectedVersion=1", null);
        Assert.Equal(1000m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));

        // Before the fix the point came back at version 1, its use was named like the first (returned) one, and inventory
        // took it for a repeat: 10 units injected, none deducted.
        var again = await provider.AddPointAsync(visit, ChartWorld.Toxin("glabella", 10, world.Botox, op: "second-add", pointId: pointId));
        Assert.Equal(2, again.Point(pointId).GetProperty("version").GetInt64());
        Assert.Equal(990m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));

        await provider.SendAsync(HttpMethod.Delete, $"{ChartWorld.Chart(visit)}/points/{pointId}?operationId=second-remove&expectedVersion=2", null);
        Assert.Equal(1000m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));
        var third = await provider.AddPointAsync(visit, ChartWorld.Toxin("forehead", 5, world.Botox, op: "third-add", pointId: pointId));
        Assert.Equal(3, third.Point(pointId).GetProperty("version").GetInt64());
        Assert.Equal(995m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));
    }

    [Fact]
    public async Task The_front_desk_reads_but_does_not_chart_and_another_organisations_ids_are_not_found()
    {
        var world = await ChartWorld.CreateAsync(factory);
        var other = await ChartWorld.CreateAsync(factory);
        var visit = await world.BookVisitAsync();
        var otherVisit = await other.BookVisitAsync();

        await world.Desk().ProblemAsync(HttpMethod.Post, ChartWorld.Chart(visit) + "/points", ChartWorld.Toxin("forehead", 10, world.Botox),
            HttpStatusCode.Forbidden, "forbidden");
        // Another organisation's visit looks exactly like a visit that does not exist.
        await world.ProviderClient().ProblemAsync(HttpMethod.Post, ChartWorld.Chart(otherVisit) + "/points",
            ChartWorld.Toxin("forehead", 10, world.Botox), HttpStatusCode.NotFound, "not_found");
        await world.ProviderClient().ProblemAsync(HttpMethod.Get, ChartWorld.Chart(otherVisit), null, HttpStatusCode.NotFound, "not_found");
        // Another organisation's product is not a product of this one.
        var foreign = await world.ProviderClient().ProblemAsync(HttpMethod.Post, ChartWorld.Chart(visit) + "/points",
            ChartWorld.Toxin("forehead", 10, other.Botox), HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(foreign.GetProperty("errors").TryGetProperty("productId", out _), foreign.ToString());
        // Bad input names its field and changes nothing.
        var offImage = await world.ProviderClient().ProblemAsync(HttpMethod.Post, ChartWorld.Chart(visit) + "/points",
            ChartWorld.Toxin("forehead", 10, world.Botox, x: 101), HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(offImage.GetProperty("errors").TryGetProperty("x", out _), offImage.ToString());
        await world.ProviderClient().ProblemAsync(HttpMethod.Post, ChartWorld.Chart(visit) + "/points",
            ChartWorld.Filler("cheek left", 1, world.Botox, lot: ChartWorld.BotoxLot), HttpStatusCode.BadRequest, "validation_failed");

        var chart = await world.Desk().SendAsync(HttpMethod.Get, ChartWorld.Chart(visit), null);
        Assert.Equal(0, chart.GetProperty("points").GetArrayLength());
        Assert.Equal(1000m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));
        Assert.Equal(1000m, await other.OnHandAsync(other.Botox, ChartWorld.BotoxLot));
    }

    [Theory]
    [InlineData(ChartWorld.RecalledLot, "inventory_lot_recalled")]
    [InlineData(ChartWorld.ExpiredLot, "inventory_lot_expired")]
    [InlineData("NO-SUCH-LOT", "inventory_lot_unavailable")]
    public async Task A_recalled_expired_or_unknown_lot_is_refused_on_the_chart(string lot, string reason)
    {
        var world = await ChartWorld.CreateAsync(factory);
        var visit = await world.BookVisitAsync();
        var refused = await world.ProviderClient().ProblemAsync(HttpMethod.Post, ChartWorld.Chart(visit) + "/points",
            ChartWorld.Toxin("forehead", 10, world.Botox, lot: lot), HttpStatusCode.UnprocessableEntity, "chart_lot_unusable");
        Assert.Equal(reason, refused.GetProperty("reason").GetString());

        // Also when an existing point is switched to that lot.
        var pointId = Guid.NewGuid();
        await world.ProviderClient().AddPointAsync(visit, ChartWorld.Toxin("forehead", 10, world.Botox, pointId: pointId));
        await world.ProviderClient().ProblemAsync(HttpMethod.Put, $"{ChartWorld.Chart(visit)}/points/{pointId}",
            ChartWorld.Toxin("forehead", 10, world.Botox, lot: lot, expectedVersion: 1), HttpStatusCode.UnprocessableEntity, "chart_lot_unusable");
        var chart = await world.Desk().SendAsync(HttpMethod.Get, ChartWorld.Chart(visit), null);
        Assert.Equal(ChartWorld.BotoxLot, chart.Point(pointId).GetProperty("lotNumber").GetString());
        Assert.Equal(990m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));
    }

    [Fact]
    public async Task Two_providers_charting_one_chart_at_once_keep_every_point_and_a_same_point_race_has_one_winner()
    {
        var world = await ChartWorld.CreateAsync(factory);
        var visit = await world.BookVisitAsync();
        var a = world.ProviderClient();
        var b = world.Provider2Client();
        const int each = 20;

        var calls = Enumerable.Range(0, each).SelectMany(i => new[]
        {
            a.AddPointAsync(visit, ChartWorld.Toxin($"forehead {i}", 2, world.Botox, x: i)),
            b.AddPointAsync(visit, ChartWorld.Filler($"cheek {i}", 0.1m, world.Voluma)),
        });
        await Task.WhenAll(calls);

        var chart = await a.SendAsync(HttpMethod.Get, ChartWorld.Chart(visit), null);
        Assert.Equal(2 * each, chart.GetProperty("points").GetArrayLength());
        Assert.Equal(2 * each, chart.GetProperty("version").GetInt64());
        Assert.Equal(1000m - 2 * each, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));
        Assert.Equal(20m - 0.1m * each, await world.OnHandAsync(world.Voluma, ChartWorld.VolumaLot));

        // Both providers change the same point from version 1: exactly one change lands, the other is told why.
        var target = chart.GetProperty("points")[0].GetProperty("id").GetGuid();
        var url = $"{ChartWorld.Chart(visit)}/points/{target}/move";
        var race = await Task.WhenAll(
            a.TrySendAsync(HttpMethod.Post, url, new { operationId = "race-a", expectedVersion = 1, x = 10, y = 10 }),
            b.TrySendAsync(HttpMethod.Post, url, new { operationId = "race-b", expectedVersion = 1, x = 90, y = 90 }));
        Assert.Single(race, r => r.Status == HttpStatusCode.OK);
        Assert.Single(race, r => r.Status == HttpStatusCode.Conflict && r.Body.GetProperty("code").GetString() == "chart_point_conflict");
    }

    [Fact]
    public async Task Notes_need_the_version_last_read_and_a_chart_ready_for_review_takes_no_more_points()
    {
        var world = await ChartWorld.CreateAsync(factory);
        var visit = await world.BookVisitAsync();
        var provider = world.ProviderClient();
        var notes = await provider.SendAsync(HttpMethod.Put, ChartWorld.Chart(visit) + "/notes", new
        {
            operationId = "notes-1", expectedVersion = 0, subjective = "Frown lines bother her", objective = "Dynamic glabellar lines",
            assessment = "Good candidate", plan = "20 U glabella, review in 2 weeks", treatmentNotes = "Tolerated well",
        });
        Assert.Equal(1, notes.GetProperty("notesVersion").GetInt64());
        Assert.Equal("notes", notes.GetProperty("activity").GetString());
        Assert.Equal("20 U glabella, review in 2 weeks", notes.GetProperty("notes").GetProperty("plan").GetString());
        await world.Provider2Client().ProblemAsync(HttpMethod.Put, ChartWorld.Chart(visit) + "/notes",
            new { operationId = "notes-2", expectedVersion = 0, plan = "overwrites" }, HttpStatusCode.Conflict, "chart_point_conflict");

        var review = await provider.SendAsync(HttpMethod.Put, ChartWorld.Chart(visit) + "/status", new { operationId = "st-1", status = "ready-for-review" });
        Assert.Equal("ready-for-review", review.GetProperty("status").GetString());
        Assert.Equal("review", review.GetProperty("activity").GetString());
        await provider.ProblemAsync(HttpMethod.Post, ChartWorld.Chart(visit) + "/points", ChartWorld.Toxin("forehead", 10, world.Botox),
            HttpStatusCode.Conflict, "chart_not_editable");
        await provider.ProblemAsync(HttpMethod.Put, ChartWorld.Chart(visit) + "/status", new { operationId = "st-2", status = "signed" },
            HttpStatusCode.BadRequest, "validation_failed");
    }
}
