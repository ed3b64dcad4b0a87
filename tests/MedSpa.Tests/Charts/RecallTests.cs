using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Dapper;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;
using Npgsql;

namespace MedSpa.Tests.Charts;

/// <summary>
/// A clinic-year of charts written straight into chart_points (365 days x 40 treatments x 8 points = 116,800 points),
/// with lots that change every 30 days (toxin) and 60 days (filler), so the expected answer of every recall is known.
/// </summary>
public static class ChartYear
{
    public const int Days = 365, PerDay = 40, PointsPerVisit = 8, ToxinPoints = 6, Patients = 2000;
    public static readonly DateTimeOffset Start = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Toxin points hold 4 units of lot BTX-(day/30); filler points 0.5 ml of lot VOL-(day/60). Visits are
    /// 14:00-21:00 UTC (9:00-16:00 in New York), so a visit's local date is its UTC date.</summary>
    public static async Task SeedAsync(string connectionString, Guid tenantId, Guid clinicId, Guid providerId, Guid botox, Guid voluma)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        await conn.ExecuteAsync(
            """
            INSERT INTO patients (tenant_id, id, first_name, last_name, email)
            SELECT @tenantId, md5(@tenantId::text || 'patient' || i)::uuid, 'Patient', 'No ' || i, 'p' || i || '@patients.example'
            FROM generate_series(0, @Patients - 1) AS i;

            INSERT INTO treatment_charts (tenant_id, visit_id, clinic_id, patient_id, provider_id, status, version, visit_date, created_at, updated_at)
            SELECT @tenantId, md5(@tenantId::text || 'visit' || d || '/' || t)::uuid, @clinicId,
                   md5(@tenantId::text || 'patient' || ((d * @PerDay + t) % @Patients))::uuid, @providerId, 'ready-for-review', 8,
                   @Start::timestamptz + make_interval(days => d, hours => 14 + t / 6), now(), now()
            FROM generate_series(0, @Days - 1) AS d, generate_series(0, @PerDay - 1) AS t;

            INSERT INTO chart_points (tenant_id, visit_id, point_id, clinic_id, patient_id, provider_id, visit_date, zone, x, y, product_id,
                                      product_name, product_kind, lot_number, units, volume_ml, version)
            SELECT c.tenant_id, c.visit_id, md5(c.visit_id::text || k)::uuid, c.clinic_id, c.patient_id, c.provider_id, c.visit_date,
                   'zone ' || k, 10 + k, 20 + k,
                   CASE WHEN k < @ToxinPoints THEN @botox ELSE @voluma END,
                   CASE WHEN k < @ToxinPoints THEN 'Botox Cosmetic' ELSE 'Juvederm Voluma XC' END,
                   CASE WHEN k < @ToxinPoints THEN 'neurotoxin' ELSE 'filler' END,
                   CASE WHEN k < @ToxinPoints THEN 'BTX-' || (((c.visit_date AT TIME ZONE 'UTC')::date - DATE '2025-01-01') / 30)
                        ELSE 'VOL-' || (((c.visit_date AT TIME ZONE 'UTC')::date - DATE '2025-01-01') / 60) END,
                   CASE WHEN k < @ToxinPoints THEN 4 END, CASE WHEN k >= @ToxinPoints THEN 0.5 END, 1
            FROM treatment_charts c, generate_series(0, @PointsPerVisit - 1) AS k
            WHERE c.tenant_id = @tenantId;
            ANALYZE chart_points;
            """,
            new { tenantId, clinicId, providerId, botox, voluma, Patients, PerDay, Days, PointsPerVisit, ToxinPoints, Start }, commandTimeout: 300);
    }
}

public sealed class RecallTests(ChartApiFactory factory) : IClassFixture<ChartApiFactory>
{
    [Fact]
    public async Task Recall_over_a_seeded_year_returns_exactly_the_visits_of_the_lot_or_of_the_product_in_the_date_range_and_as_csv()
    {
        var world = await ChartWorld.CreateAsync(factory);
        await ChartYear.SeedAsync(factory.ConnectionString, world.TenantId, world.ClinicId, world.Flow.Providers[0], world.Botox, world.Voluma);
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            Assert.Equal(116_800, await conn.ExecuteScalarAsync<long>("SELECT count(*) FROM chart_points WHERE tenant_id = @TenantId", new { world.TenantId }));
        }

        var owner = world.Owner();
        // Lot BTX-5: days 150-179, 40 visits a day, 6 toxin points of 4 units each.
        var byLot = await owner.SendAsync(HttpMethod.Get, "/api/recalls/injectables?lotNumber=BTX-5", null);
        var rows = byLot.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(30 * ChartYear.PerDay, rows.Count);
        Assert.All(rows, r =>
        {
            Assert.Equal(24m, r.GetProperty("units").GetDecimal());
            Assert.Equal(6, r.GetProperty("points").GetInt32());
            Assert.Equal("BTX-5", r.GetProperty("lotNumber").GetString());
            Assert.Equal(world.ClinicId, r.GetProperty("clinicId").GetGuid());
            Assert.Equal(world.Flow.Providers[0], r.GetProperty("providerId").GetGuid());
            Assert.Equal("Main clinic", r.GetProperty("clinicName").GetString());
            var day = (r.GetProperty("visitDate").GetDateTimeOffset() - ChartYear.Start).Days;
            Assert.InRange(day, 150, 179);
        });
        Assert.Equal(1200, rows.Select(r => r.GetProperty("visitId").GetGuid()).Distinct().Count());
        // 1,200 consecutive visits over 2,000 patients in rotation: 1,200 different patients.
        Assert.Equal(1200, byLot.GetProperty("patients").GetInt32());

        // Voluma from 1 to 31 March (days 59-89): 31 days x 40 visits, 2 filler points of 0.5 ml, lots VOL-0 and VOL-1.
        var byProduct = await owner.SendAsync(HttpMethod.Get,
            $"/api/recalls/injectables?productId={world.Voluma}&from=2025-03-01&to=2025-03-31", null);
        var productRows = byProduct.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(31 * ChartYear.PerDay, productRows.Count);
        Assert.All(productRows, r => Assert.Equal(1.0m, r.GetProperty("volumeMl").GetDecimal()));
        Assert.Equal(1 * ChartYear.PerDay, productRows.Count(r => r.GetProperty("lotNumber").GetString() == "VOL-0"));
        Assert.Equal(30 * ChartYear.PerDay, productRows.Count(r => r.GetProperty("lotNumber").GetString() == "VOL-1"));

        // The same rows as CSV: a header and one line per row, the lot and units in their columns.
        using var csv = await owner.GetAsync("/api/recalls/injectables/csv?lotNumber=BTX-5");
        Assert.Equal(HttpStatusCode.OK, csv.StatusCode);
        Assert.Equal("text/csv", csv.Content.Headers.ContentType!.MediaType);
        var lines = (await csv.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToList();
        Assert.Equal(1201, lines.Count);
        var header = lines[0].Split(',');
        Assert.Equal("patient_id", header[0]);
        var first = lines[1].Split(',');
        Assert.Equal("BTX-5", first[Array.IndexOf(header, "lot_number")]);
        Assert.Equal("24", first[Array.IndexOf(header, "units")].TrimEnd('0').TrimEnd('.'));
        Assert.Equal(rows[0].GetProperty("visitId").GetGuid().ToString("D"), first[Array.IndexOf(header, "visit_id")]);

        // Another organisation sees none of it; the front desk may not recall at all; bad input is a 400.
        var other = await ChartWorld.CreateAsync(factory);
        var none = await other.Owner().SendAsync(HttpMethod.Get, "/api/recalls/injectables?lotNumber=BTX-5", null);
        Assert.Equal(0, none.GetProperty("rows").GetArrayLength());
        var (deskStatus, _) = await world.Desk().TrySendAsync(HttpMethod.Get, "/api/recalls/injectables?lotNumber=BTX-5", null);
        Assert.Equal(HttpStatusCode.Forbidden, deskStatus);
        await owner.ProblemAsync(HttpMethod.Get, $"/api/recalls/injectables?productId={world.Voluma}&from=2025-03-31&to=2025-03-01", null,
            HttpStatusCode.BadRequest, "validation_failed");
        await owner.ProblemAsync(HttpMethod.Get, "/api/recalls/injectables", null, HttpStatusCode.BadRequest, "validation_failed");
    }

    [Fact]
    public async Task Charted_points_reach_the_recall_and_notify_emails_each_patient_once_per_recall()
    {
        var world = await ChartWorld.CreateAsync(factory, patients: 3);
        var provider = world.ProviderClient();
        var v0 = await world.BookVisitAsync(patient: 0);
        var v1 = await world.BookVisitAsync(patient: 1, start: Board.Flow.FlowWorld.Day.AddHours(2));
        var v2 = await world.BookVisitAsync(patient: 2, start: Board.Flow.FlowWorld.Day.AddHours(4));
        await provider.AddPointAsync(v0, ChartWorld.Toxin("forehead", 10, world.Botox));
        await provider.AddPointAsync(v0, ChartWorld.Toxin("glabella", 20, world.Botox));
        await provider.AddPointAsync(v1, ChartWorld.Toxin("chin", 6, world.Botox));
        await provider.AddPointAsync(v2, ChartWorld.Filler("nose", 0.5m, world.Voluma));

        var recall = await world.Owner().SendAsync(HttpMethod.Get, $"/api/recalls/injectables?lotNumber={ChartWorld.BotoxLot}", null);
        var rows = recall.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(2, rows.Count);
        Assert.Equal(30m, rows.Single(r => r.GetProperty("visitId").GetGuid() == v0).GetProperty("units").GetDecimal());
        Assert.Equal(6m, rows.Single(r => r.GetProperty("visitId").GetGuid() == v1).GetProperty("units").GetDecimal());

        var before = factory.Smtp.Messages.Count;
        // Answered at once (202) with the status resource; the recall's grain tells the patients afterwards.
        var accepted = await world.Owner().SendAsync(HttpMethod.Post, "/api/recalls/injectables/notify",
            new { lotNumber = ChartWorld.BotoxLot, message = "Please call us." }, HttpStatusCode.Accepted);
        Assert.Equal(2, accepted.GetProperty("patients").GetInt32());
        var status = $"/api/recalls/injectables/{accepted.GetProperty("recallId").GetGuid()}";
        var emails = new[] { world.Flow.Patients[0], world.Flow.Patients[1] }.Select(p => $"patient-{p}@patients.example").ToList();
        var deadline = Stopwatch.StartNew();
        JsonElement done;
        while ((done = await world.Owner().SendAsync(HttpMethod.Get, status, null)).GetProperty("status").GetString() != "completed")
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(60), "The recall never completed: " + done);
            await Task.Delay(100);
        }

        Assert.Equal(2, done.GetProperty("notified").GetInt32());
        Assert.Equal(2, done.GetProperty("byEmail").GetInt32());
        Assert.All(done.GetProperty("progress").EnumerateArray(), p => Assert.Equal("email", p.GetProperty("channel").GetString()));
        while (factory.Smtp.Messages.Skip(before).Count(m => m.Recipients.Any(emails.Contains)) < 2)
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(60), "The recall emails never arrived.");
            await Task.Delay(50);
        }

        var received = factory.Smtp.Messages.Skip(before).Where(m => m.Recipients.Any(emails.Contains)).ToList();
        Assert.Equal(2, received.Count);
        Assert.Contains("recalled", Encoding.UTF8.GetString(received[0].Data), StringComparison.OrdinalIgnoreCase);

        // The same recall again: the same resource, nobody is told twice.
        var again = await world.Owner().SendAsync(HttpMethod.Post, "/api/recalls/injectables/notify", new { lotNumber = ChartWorld.BotoxLot },
            HttpStatusCode.Accepted);
        Assert.Equal(status, $"/api/recalls/injectables/{again.GetProperty("recallId").GetGuid()}");
        Assert.Equal("completed", again.GetProperty("status").GetString());
        Assert.Equal(2, again.GetProperty("notified").GetInt32());
        // Another organisation does not see this recall.
        var (theirs, _) = await (await ChartWorld.CreateAsync(factory)).Owner().TrySendAsync(HttpMethod.Get, status, null);
        Assert.Equal(HttpStatusCode.NotFound, theirs);
        Assert.Equal(2, factory.Smtp.Messages.Skip(before).Count(m => m.Recipients.Any(emails.Contains)));
    }
}
