using System.Text.Json;

namespace MedSpa.Tests.Charts;

/// <summary>
/// Two tablets on one visit (issue 17 §1). Tablet A charts P1 online (everyone sees syncVersion 1), then both go
/// offline: A raises P1 to 24 units, adds P2 and writes the plan; B lowers P1 to 16 units (a later clock: it wins),
/// adds a filler point P3, writes the subjective note and an older plan (it loses). Whatever order the batches arrive
/// in, the chart ends as <see cref="AssertFinal"/> says, with two conflicts reported (P1's dose, the plan).
/// </summary>
public sealed class ChartSyncScenario(ChartWorld world)
{
    public Guid P1 { get; } = Guid.NewGuid();
    public Guid P2 { get; } = Guid.NewGuid();
    public Guid P3 { get; } = Guid.NewGuid();
    private readonly string _run = Guid.NewGuid().ToString("N")[..8];

    public object Initial() => new
    {
        deviceId = "tablet-a", seenVersion = 0,
        operations = new object[] { Toxin($"{_run}-a1", 1, 1, "add-point", P1, "glabella", 20m) },
    };

    public object OfflineA() => new
    {
        deviceId = "tablet-a", seenVersion = 1,
        operations = new object[]
        {
            new { operationId = $"{_run}-a2", sequence = 2, clock = 2, kind = "update-point", pointId = P1, productId = world.Botox, lotNumber = ChartWorld.BotoxLot, units = 24m },
            Toxin($"{_run}-a3", 3, 3, "add-point", P2, "forehead", 10m),
            new { operationId = $"{_run}-a4", sequence = 4, clock = 4, kind = "set-note-field", field = "plan", value = "Review in two weeks" },
        },
    };

    public object OfflineB() => new
    {
        deviceId = "tablet-b", seenVersion = 1,
        operations = new object[]
        {
            new { operationId = $"{_run}-b1", sequence = 1, clock = 2, kind = "set-note-field", field = "plan", value = "Review in one week" },
            new { operationId = $"{_run}-b2", sequence = 2, clock = 5, kind = "update-point", pointId = P1, productId = world.Botox, lotNumber = ChartWorld.BotoxLot, units = 16m },
            new
            {
                operationId = $"{_run}-b3", sequence = 3, clock = 6, kind = "add-point", pointId = P3, zone = "chin", x = 50m, y = 80m,
                productId = world.Voluma, lotNumber = ChartWorld.VolumaLot, volumeMl = 1.0m, depth = "supraperiosteal",
            },
            new { operationId = $"{_run}-b4", sequence = 4, clock = 7, kind = "set-note-field", field = "subjective", value = "Frown lines" },
        },
    };

    /// <summary>The operations of every batch, in order (what the audit trail must hold once each).</summary>
    public const int OperationCount = 8;

    private object Toxin(string id, long sequence, long clock, string kind, Guid point, string zone, decimal units) => new
    {
        operationId = id, sequence, clock, kind, pointId = point, zone, x = 40m, y = 30m, productId = world.Botox,
        lotNumber = ChartWorld.BotoxLot, units, depth = "intramuscular", technique = "serial-puncture",
    };

    /// <summary>The merged chart: exactly three points with the winning values, and both note fields.</summary>
    public void AssertFinal(JsonElement chart)
    {
        var points = chart.GetProperty("points").EnumerateArray().ToDictionary(p => p.GetProperty("id").GetGuid());
        Assert.Equal(3, points.Count);
        Assert.Equal(16m, points[P1].GetProperty("units").GetDecimal());
        Assert.Equal("glabella", points[P1].GetProperty("zone").GetString());
        Assert.Equal(10m, points[P2].GetProperty("units").GetDecimal());
        Assert.Equal(1.0m, points[P3].GetProperty("volumeMl").GetDecimal());
        Assert.Equal("chin", points[P3].GetProperty("zone").GetString());
        Assert.Equal("Review in two weeks", chart.GetProperty("notes").GetProperty("plan").GetString());
        Assert.Equal("Frown lines", chart.GetProperty("notes").GetProperty("subjective").GetString());
    }

    /// <summary>What two charts must agree on: every point's charted values and the notes (not versions or times, which
    /// say when the server learnt each thing).</summary>
    public static string Content(JsonElement chart) => string.Join("\n",
        chart.GetProperty("points").EnumerateArray()
            .Select(p => string.Join('|', p.GetProperty("id").GetGuid(), p.GetProperty("zone"), p.GetProperty("x"), p.GetProperty("y"),
                p.GetProperty("productId"), p.GetProperty("lotNumber"), p.GetProperty("units"), p.GetProperty("volumeMl"), p.GetProperty("depth"),
                p.GetProperty("technique"), p.GetProperty("needleGauge"), p.GetProperty("notes")))
            .Order(StringComparer.Ordinal)
            .Append(chart.GetProperty("notes").GetRawText()));

    public static IEnumerable<(string Id, string Outcome, bool Replayed)> Results(JsonElement answer) =>
        answer.GetProperty("results").EnumerateArray().Select(r =>
            (r.GetProperty("operationId").GetString()!, r.GetProperty("outcome").GetString()!, r.GetProperty("replayed").GetBoolean()));
}
