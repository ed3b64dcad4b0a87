using System.Net;
using Dapper;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.Photos;
using Npgsql;
using UglyToad.PdfPig;

namespace MedSpa.Tests.Charts;

/// <summary>
/// Issue 17 §4: a consent signed by a parent or guardian for the patient (a minor, or a patient who cannot sign). The
/// consent records who signed (patient or guardian), the guardian's name and relationship; a patient under 18 on the
/// visit's date in the clinic's time zone cannot sign their own consent; the name check is the patient's only.
/// </summary>
public sealed class GuardianConsentTests(PhotoApiFactory factory) : IClassFixture<PhotoApiFactory>
{
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
