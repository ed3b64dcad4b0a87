using System.Net;
using Dapper;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.Photos;
using MedSpa.Tests.TestHost;
using Npgsql;
using UglyToad.PdfPig;

namespace MedSpa.Tests.Charts;

/// <summary>
/// What a tablet needs of the chart API beyond merging (issue 17 §1/§4): a queued signature goes through signing, an
/// update can empty an optional point field, the chart lists its attached photos, and a consent is signed under the
/// patient's own name, or by a parent or guardian (who names their relationship), as it must be for a minor.
/// </summary>
public sealed class ChartTabletGapsTests(PhotoApiFactory factory) : IClassFixture<PhotoApiFactory>
{
    private static string Ops(Guid visit) => ChartWorld.Chart(visit) + "/operations";

    private static object Batch(string device, params object[] ops) => new { deviceId = device, operations = ops };

    private static object Add(ChartWorld world, string id, long seq, Guid point, decimal units = 8m) => new
    {
        operationId = id, sequence = seq, clock = seq, kind = "add-point", pointId = point, zone = "forehead", x = 50m, y = 20m,
        productId = world.Botox, lotNumber = ChartWorld.BotoxLot, units, depth = "intramuscular", technique = "serial-puncture",
        needleGauge = "30G", notes = "Slight asymmetry",
    };

    [Fact]
    public async Task A_queued_sign_operation_signs_the_chart_after_the_rest_of_its_batch_once_and_a_resend_changes_nothing()
    {
        var world = await ChartWorld.CreateAsync(factory, patients: 1);
        var visit = await world.BookVisitAsync();
        var provider = world.ProviderClient();
        var point = Guid.NewGuid();

        // What signing needs is checked before anything is applied: nothing changes.
        var noName = await provider.ProblemAsync(HttpMethod.Post, Ops(visit),
            Batch("tab-s", Add(world, "a1", 1, point), new { operationId = "s1", sequence = 2, clock = 2, kind = "sign", method = "typed" }),
            HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(noName.GetProperty("errors").TryGetProperty("operations[1].typedName", out _), noName.ToString());
        var notLast = await provider.ProblemAsync(HttpMethod.Post, Ops(visit),
            Batch("tab-s", new { operationId = "s1", sequence = 1, clock = 1, kind = "sign", method = "typed", typedName = "Ana Rivera" },
                Add(world, "a1", 2, point)),
            HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(notLast.GetProperty("errors").TryGetProperty("operations[0].kind", out _), notLast.ToString());
        Assert.Equal(0, (await provider.SendAsync(HttpMethod.Get, ChartWorld.Chart(visit), null)).GetProperty("version").GetInt64());

        var batch = Batch("tab-s", Add(world, "a1", 1, point),
            new { operationId = "s1", sequence = 2, clock = 2, kind = "sign", method = "typed", typedName = "Ana Rivera" });
        var signed = await provider.SendAsync(HttpMethod.Post, Ops(visit), batch);
        Assert.Equal(new[] { ("a1", "applied", false), ("s1", "applied", false) }, ChartSyncScenario.Results(signed));
        var chart = signed.GetProperty("chart");
        Assert.Equal("signed", chart.GetProperty("status").GetString());
        Assert.Equal(point, Assert.Single(chart.GetProperty("points").EnumerateArray()).GetProperty("id").GetGuid());
        var signature = Assert.Single(chart.GetProperty("signatures").EnumerateArray());
        Assert.Equal("provider", signature.GetProperty("purpose").GetString());
        Assert.Equal("Ana Rivera", signature.GetProperty("typedName").GetString());
        Assert.False(string.IsNullOrEmpty(chart.GetProperty("recordHash").GetString()));

        // The tablet lost the answer and sends the batch again: the same outcomes, replayed; one signature, stock taken once.
        var again = await provider.SendAsync(HttpMethod.Post, Ops(visit), batch);
        Assert.Equal(new[] { ("a1", "applied", true), ("s1", "applied", true) }, ChartSyncScenario.Results(again));
        var read = await provider.SendAsync(HttpMethod.Get, ChartWorld.Chart(visit), null);
        Assert.Single(read.GetProperty("signatures").EnumerateArray());
        Assert.Equal(chart.GetProperty("version").GetInt64(), read.GetProperty("version").GetInt64());
        Assert.Equal(1000m - 8m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));

        // Signed: a later queued change, or another signature, is refused as the endpoints refuse it.
        await provider.ProblemAsync(HttpMethod.Post, Ops(visit), Batch("tab-s", Add(world, "a2", 3, Guid.NewGuid())), HttpStatusCode.Conflict, "chart_signed");
        var second = await provider.SendAsync(HttpMethod.Post, Ops(visit),
            Batch("tab-s", new { operationId = "s2", sequence = 4, clock = 4, kind = "sign", method = "typed", typedName = "Ana Rivera" }));
        var refused = Assert.Single(second.GetProperty("results").EnumerateArray());
        Assert.Equal("refused", refused.GetProperty("outcome").GetString());
        Assert.Equal("chart_signed", refused.GetProperty("code").GetString());
        Assert.Single((await provider.SendAsync(HttpMethod.Get, ChartWorld.Chart(visit), null)).GetProperty("signatures").EnumerateArray());
    }

    [Fact]
    public async Task An_update_clears_optional_point_fields_it_names_and_leaves_the_others()
    {
        var world = await ChartWorld.CreateAsync(factory, patients: 1);
        var visit = await world.BookVisitAsync();
        var provider = world.ProviderClient();
        var point = Guid.NewGuid();
        await provider.SendAsync(HttpMethod.Post, Ops(visit), Batch("tab-c", Add(world, "c1", 1, point)));

        var answer = await provider.SendAsync(HttpMethod.Post, Ops(visit),
            Batch("tab-c", new { operationId = "c2", sequence = 2, clock = 2, kind = "update-point", pointId = point, clear = new[] { "notes", "depth" } }));
        Assert.Equal(new[] { ("c2", "applied", false) }, ChartSyncScenario.Results(answer));
        var p = (await provider.SendAsync(HttpMethod.Get, ChartWorld.Chart(visit), null)).Point(point);
        Assert.Equal(System.Text.Json.JsonValueKind.Null, p.GetProperty("notes").ValueKind);
        Assert.Equal(System.Text.Json.JsonValueKind.Null, p.GetProperty("depth").ValueKind);
        Assert.Equal("serial-puncture", p.GetProperty("technique").GetString());
        Assert.Equal("30G", p.GetProperty("needleGauge").GetString());
        Assert.Equal(8m, p.GetProperty("units").GetDecimal());

        // Clearing is for optional fields of an update, and a field is not both set and cleared.
        foreach (var (op, field) in new (object Op, string Field)[]
                 {
                     (new { operationId = "c3", sequence = 3, clock = 3, kind = "update-point", pointId = point, clear = new[] { "zone" } }, "clear"),
                     (new { operationId = "c3", sequence = 3, clock = 3, kind = "update-point", pointId = point, notes = "x", clear = new[] { "notes" } }, "clear"),
                     (new { operationId = "c3", sequence = 3, clock = 3, kind = "remove-point", pointId = point, clear = new[] { "notes" } }, "clear"),
                 })
        {
            var problem = await provider.ProblemAsync(HttpMethod.Post, Ops(visit), Batch("tab-c", op), HttpStatusCode.BadRequest, "validation_failed");
            Assert.True(problem.GetProperty("errors").TryGetProperty($"operations[0].{field}", out _), problem.ToString());
        }

        Assert.Equal("serial-puncture", (await provider.SendAsync(HttpMethod.Get, ChartWorld.Chart(visit), null)).Point(point).GetProperty("technique").GetString());
    }

    [Fact]
    public async Task The_chart_lists_the_photos_attached_to_it()
    {
        var world = await ChartWorld.CreateAsync(factory, patients: 1);
        var visit = await world.BookVisitAsync();
        var provider = world.ProviderClient();
        await world.Desk().SendAsync(HttpMethod.Post, $"/api/patients/{world.Flow.Patients[0]}/photo-consent", new { method = "written" },
            HttpStatusCode.Created);
        var photo = (await PhotoWorld.UploadOkAsync(provider, visit, PhotoWorld.Jpeg(40, 30), "forehead", "before")).GetProperty("id").GetGuid();
        Assert.Empty((await provider.SendAsync(HttpMethod.Get, ChartWorld.Chart(visit), null)).GetProperty("photos").EnumerateArray());

        await provider.SendAsync(HttpMethod.Post, Ops(visit),
            Batch("tab-p", new { operationId = "p1", sequence = 1, clock = 1, kind = "attach-photo", photoId = photo }));
        var listed = Assert.Single((await world.Desk().SendAsync(HttpMethod.Get, ChartWorld.Chart(visit), null)).GetProperty("photos").EnumerateArray());
        Assert.Equal(photo, listed.GetProperty("photoId").GetGuid());
        Assert.Equal("tab-p", listed.GetProperty("deviceId").GetString());
        Assert.Equal("p1", listed.GetProperty("operationId").GetString());
    }

    [Fact]
    public async Task A_consent_signed_under_another_name_than_the_patients_is_refused_and_changes_nothing()
    {
        var world = await ChartWorld.CreateAsync(factory, patients: 1);
        var visit = await world.BookVisitAsync();
        var desk = world.Desk();
        var url = ChartWorld.Chart(visit) + "/consents";
        var wrong = await desk.ProblemAsync(HttpMethod.Post, url,
            new { operationId = "k1", method = "typed", typedName = "Mary Major", signerName = "Mary Major", purpose = "treatment-consent" },
            HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(wrong.GetProperty("errors").TryGetProperty("signerName", out _), wrong.ToString());
        Assert.Empty((await desk.SendAsync(HttpMethod.Get, ChartWorld.Chart(visit), null)).GetProperty("signatures").EnumerateArray());

        // The patient is Jane Doe: case, accents and spacing do not matter.
        var ok = await desk.SendAsync(HttpMethod.Post, url,
            new { operationId = "k2", method = "typed", typedName = "jane doe", signerName = "  JÁNE   doe ", purpose = "treatment-consent" });
        Assert.Equal("treatment-consent", Assert.Single(ok.GetProperty("signatures").EnumerateArray()).GetProperty("purpose").GetString());
    }


    // ---- guardian consent (issue 17 §4): a parent or guardian signs for a minor or a patient who cannot sign ----

    /// <summary>
    /// 02:00 UTC on 15 June 2031 is still 14 June in the clinic (America/New_York, UTC-4 in June): the visit's date is
    /// the 14th, whatever the UTC date says.
    /// </summary>
    private static readonly DateTimeOffset VisitStart = new(2031, 6, 15, 2, 0, 0, TimeSpan.Zero);

    private async Task<(ChartWorld World, Guid Visit)> VisitOfPatientBornAsync(DateOnly born)
    {
        var world = await ChartWorld.CreateAsync(factory, patients: 1);
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            var zone = await conn.QuerySingleAsync<string>("SELECT time_zone FROM clinics WHERE tenant_id = @TenantId AND id = @ClinicId",
                new { world.TenantId, world.ClinicId });
            Assert.Equal("America/New_York", zone);
            await conn.ExecuteAsync("UPDATE patients SET date_of_birth = @born WHERE tenant_id = @TenantId AND id = @id",
                new { born = born.ToDateTime(TimeOnly.MinValue), world.TenantId, id = world.Flow.Patients[0] });
        }

        return (world, await world.BookVisitAsync(start: VisitStart));
    }

    private static string Consents(Guid visit) => ChartWorld.Chart(visit) + "/consents";

    [Fact]
    public async Task A_minor_on_the_clinics_date_cannot_sign_their_own_consent_and_a_guardian_signs_it_under_their_own_name()
    {
        // 18 on 15 June (the UTC date) but 17 on 14 June, the visit's date in the clinic.
        var (world, visit) = await VisitOfPatientBornAsync(new DateOnly(2013, 6, 15));
        var desk = world.Desk();

        var refused = await desk.ProblemAsync(HttpMethod.Post, Consents(visit),
            new { operationId = "c1", method = "typed", typedName = "Jane Doe", signerName = "Jane Doe", purpose = "treatment-consent" },
            HttpStatusCode.Conflict, "chart_consent_guardian_required");
        Assert.Equal("2031-06-14", refused.GetProperty("visitDate").GetString());
        // Saying "patient" out loud changes nothing.
        await desk.ProblemAsync(HttpMethod.Post, Consents(visit),
            new { operationId = "c2", method = "typed", typedName = "Jane Doe", signerName = "Jane Doe", signerRole = "patient", purpose = "photo-consent" },
            HttpStatusCode.Conflict, "chart_consent_guardian_required");

        // A guardian without a relationship, or an unknown role: 400 naming the field.
        var noRelationship = await desk.ProblemAsync(HttpMethod.Post, Consents(visit),
            new { operationId = "c3", method = "typed", typedName = "Mary Doe", signerName = "Mary Doe", signerRole = "guardian", purpose = "treatment-consent" },
            HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(noRelationship.GetProperty("errors").TryGetProperty("guardianRelationship", out _), noRelationship.ToString());
        var badRole = await desk.ProblemAsync(HttpMethod.Post, Consents(visit),
            new { operationId = "c4", method = "typed", typedName = "Mary Doe", signerName = "Mary Doe", signerRole = "neighbour", purpose = "treatment-consent" },
            HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(badRole.GetProperty("errors").TryGetProperty("signerRole", out _), badRole.ToString());
        Assert.Empty((await desk.SendAsync(HttpMethod.Get, ChartWorld.Chart(visit), null)).GetProperty("signatures").EnumerateArray());

        // The mother signs, under her own name (not the patient's: the name check is the patient's only), twice (a resend).
        var consent = new
        {
            operationId = "c5", method = "typed", typedName = "Mary Doe", signerName = "Mary Doe", signerRole = "guardian",
            guardianRelationship = "mother", purpose = "treatment-consent",
        };
        await desk.SendAsync(HttpMethod.Post, Consents(visit), consent);
        var chart = await desk.SendAsync(HttpMethod.Post, Consents(visit), consent);
        var signature = Assert.Single(chart.GetProperty("signatures").EnumerateArray());
        Assert.Equal("treatment-consent", signature.GetProperty("purpose").GetString());
        Assert.Equal("guardian", signature.GetProperty("signerKind").GetString());
        Assert.Equal("Mary Doe", signature.GetProperty("signerName").GetString());
        Assert.Equal("mother", signature.GetProperty("guardianRelationship").GetString());

        // The signed record prints who signed the consent, and as what.
        var provider = world.ProviderClient();
        await provider.AddPointAsync(visit, ChartWorld.Toxin("forehead", 8m, world.Botox));
        await provider.SendAsync(HttpMethod.Post, ChartWorld.Chart(visit) + "/sign", new { operationId = "s1", method = "typed", typedName = "Ana Rivera" });
        using var response = await desk.GetAsync($"/api/charts/{visit}/record.pdf");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var pdf = PdfDocument.Open(await response.Content.ReadAsByteArrayAsync());
        var text = string.Join("\n", pdf.GetPages().SelectMany(p => p.Letters
            .GroupBy(l => Math.Round(l.StartBaseLine.Y, 1))
            .OrderByDescending(g => g.Key)
            .Select(g => string.Concat(g.OrderBy(l => l.StartBaseLine.X).Select(l => l.Value)))));
        Assert.True(text.Contains("Treatment consent: Mary Doe (guardian, mother, for the patient)", StringComparison.Ordinal), text);
    }

    [Fact]
    public async Task An_adult_on_the_clinics_date_signs_their_own_consent_and_a_guardian_may_still_sign_for_a_patient_who_cannot()
    {
        // 18 on 14 June, the visit's date in the clinic.
        var (world, visit) = await VisitOfPatientBornAsync(new DateOnly(2013, 6, 14));
        var desk = world.Desk();
        var own = await desk.SendAsync(HttpMethod.Post, Consents(visit),
            new { operationId = "a1", method = "typed", typedName = "Jane Doe", signerName = "Jane Doe", purpose = "treatment-consent" });
        var patientSigned = Assert.Single(own.GetProperty("signatures").EnumerateArray());
        Assert.Equal("patient", patientSigned.GetProperty("signerKind").GetString());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, patientSigned.GetProperty("guardianRelationship").ValueKind);

        // A relationship without a guardian is a mistake, not ignored.
        await desk.ProblemAsync(HttpMethod.Post, Consents(visit),
            new { operationId = "a2", method = "typed", typedName = "Jane Doe", signerName = "Jane Doe", guardianRelationship = "self", purpose = "photo-consent" },
            HttpStatusCode.BadRequest, "validation_failed");

        // An adult who cannot sign (incapacitated): the legal guardian signs the photo consent, which uploads then need.
        var guardian = await desk.SendAsync(HttpMethod.Post, Consents(visit),
            new
            {
                operationId = "a3", method = "typed", typedName = "John Roe", signerName = "John Roe", signerRole = "guardian",
                guardianRelationship = "legal guardian", purpose = "photo-consent",
            });
        var byGuardian = guardian.GetProperty("signatures").EnumerateArray().Single(s => s.GetProperty("purpose").GetString() == "photo-consent");
        Assert.Equal(("guardian", "John Roe", "legal guardian"),
            (byGuardian.GetProperty("signerKind").GetString(), byGuardian.GetProperty("signerName").GetString(),
                byGuardian.GetProperty("guardianRelationship").GetString()));
        await PhotoWorld.UploadOkAsync(world.ProviderClient(), visit, PhotoWorld.Jpeg(320, 240, seed: 3), "forehead");
    }
}
