using System.Net;
using MedSpa.Tests.Board.Flow;
using MedSpa.Tests.Checkout;

namespace MedSpa.Tests.Charts;

public sealed class ChartHistoryTests(ChartApiFactory factory) : IClassFixture<ChartApiFactory>
{
    [Fact]
    public async Task A_patients_charts_come_newest_first_with_totals_per_zone_and_product()
    {
        var world = await ChartWorld.CreateAsync(factory);
        var provider = world.ProviderClient();
        var earlier = await world.BookVisitAsync(patient: 0, start: FlowWorld.Day.AddDays(-14));
        var later = await world.BookVisitAsync(patient: 0);
        var someoneElse = await world.BookVisitAsync(patient: 1, start: FlowWorld.Day.AddHours(3));
        await provider.AddPointAsync(earlier, ChartWorld.Toxin("forehead", 10, world.Botox));
        await provider.AddPointAsync(earlier, ChartWorld.Toxin("forehead", 6, world.Botox));
        await provider.AddPointAsync(later, ChartWorld.Toxin("glabella", 20, world.Botox));
        await provider.AddPointAsync(later, ChartWorld.Filler("cheek left", 0.7m, world.Voluma));
        await provider.AddPointAsync(someoneElse, ChartWorld.Toxin("chin", 6, world.Botox));

        var history = await provider.SendAsync(HttpMethod.Get, $"/api/patients/{world.Flow.Patients[0]}/charts", null);
        var charts = history.GetProperty("charts").EnumerateArray().ToList();
        Assert.Equal([later, earlier], charts.Select(c => c.GetProperty("visitId").GetGuid()));
        var first = charts[0];
        Assert.Equal(20m, first.GetProperty("zones").EnumerateArray().Single(z => z.GetProperty("zone").GetString() == "glabella").GetProperty("units").GetDecimal());
        Assert.Equal(0.7m, first.GetProperty("products").EnumerateArray()
            .Single(p => p.GetProperty("productId").GetGuid() == world.Voluma).GetProperty("volumeMl").GetDecimal());
        var forehead = charts[1].GetProperty("zones").EnumerateArray().Single();
        Assert.Equal(16m, forehead.GetProperty("units").GetDecimal());
        Assert.Equal(2, forehead.GetProperty("points").GetInt32());

        var other = await ChartWorld.CreateAsync(factory);
        await other.ProviderClient().ProblemAsync(HttpMethod.Get, $"/api/patients/{world.Flow.Patients[0]}/charts", null,
            HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task A_clinic_starts_from_the_preset_zones_and_an_admin_edits_its_list()
    {
        var world = await ChartWorld.CreateAsync(factory);
        var zones = await world.ProviderClient().SendAsync(HttpMethod.Get, $"/api/clinics/{world.ClinicId}/chart-zones", null);
        var list = zones.EnumerateArray().ToList();
        Assert.Equal(25, list.Count);
        Assert.Equal(20m, list.Single(z => z.GetProperty("name").GetString() == "glabella").GetProperty("defaultUnits").GetDecimal());
        Assert.Equal(0.3m, list.Single(z => z.GetProperty("name").GetString() == "tear trough left").GetProperty("defaultVolumeMl").GetDecimal());

        var (status, _) = await world.ProviderClient().TrySendAsync(HttpMethod.Put, $"/api/clinics/{world.ClinicId}/chart-zones",
            new { zones = new[] { new { name = "forehead", kind = "toxin", defaultUnits = 16 } } });
        Assert.Equal(HttpStatusCode.Forbidden, status);
        var edited = await world.Owner().SendAsync(HttpMethod.Put, $"/api/clinics/{world.ClinicId}/chart-zones", new
        {
            zones = new object[]
            {
                new { name = "forehead", kind = "toxin", defaultUnits = 16 },
                new { name = "lip flip", kind = "toxin", defaultUnits = 4 },
                new { name = "lips", kind = "filler", defaultVolumeMl = 1.0 },
            },
        });
        Assert.Equal(["forehead", "lip flip", "lips"], edited.EnumerateArray().Select(z => z.GetProperty("name").GetString()));
        await world.Owner().ProblemAsync(HttpMethod.Put, $"/api/clinics/{world.ClinicId}/chart-zones",
            new { zones = new[] { new { name = "lips", kind = "filler", defaultUnits = 4 } } }, HttpStatusCode.BadRequest, "validation_failed");
        var again = await world.ProviderClient().SendAsync(HttpMethod.Get, $"/api/clinics/{world.ClinicId}/chart-zones", null);
        Assert.Equal(3, again.GetArrayLength());
    }
}
