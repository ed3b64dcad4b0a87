using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Dapper;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.Photos;
using Npgsql;
using SkiaSharp;
using UglyToad.PdfPig;

namespace MedSpa.Tests.Charts;

/// <summary>The chart world's server with photo keys and a blob directory (photos belong to the signed record).</summary>
public sealed class ChartSigningApiFactory : PhotoApiFactory;

/// <summary>
/// Signing a chart through the HTTP API (issue 17 §4): the provider's signature (drawn or typed, with time, IP and user
/// agent), the co-signature a clinic may require, patient consent signatures, immutability (<c>chart_signed</c>),
/// signed addenda, and the legal record PDF (§6) read back by extracting its text.
/// </summary>
public sealed class ChartSigningTests(ChartSigningApiFactory factory) : IClassFixture<ChartSigningApiFactory>
{
    /// <summary>A small drawn signature: a stroke on a transparent pad, encoded as PNG.</summary>
    public static byte[] SignaturePng(int seed = 1)
    {
        using var bitmap = new SKBitmap(240, 80);
        using (var canvas = new SKCanvas(bitmap))
        using (var pen = new SKPaint { Color = SKColors.Black, StrokeWidth = 3, Style = SKPaintStyle.Stroke, IsAntialias = true })
        {
            canvas.Clear(SKColors.Transparent);
            canvas.DrawLine(10, 60, 80 + seed, 15, pen);
            canvas.DrawLine(80 + seed, 15, 150, 65, pen);
            canvas.DrawLine(150, 65, 230, 20 + seed, pen);
        }

        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    private static object Typed(string name, string? op = null, string? text = null) =>
        new { operationId = op ?? Guid.NewGuid().ToString("N"), method = "typed", typedName = name, text };

    private static object Drawn(byte[] png, string? op = null, string? text = null, string? signerName = null, string? purpose = null) =>
        new { operationId = op ?? Guid.NewGuid().ToString("N"), method = "drawn", image = "data:image/png;base64," + Convert.ToBase64String(png), text, signerName, purpose };

    private static string Url(Guid visit, string what) => $"{ChartWorld.Chart(visit)}/{what}";

    private static HttpClient WithAgent(HttpClient client, string agent)
    {
        client.DefaultRequestHeaders.UserAgent.ParseAdd(agent);
        return client;
    }

    /// <summary>A visit with a toxin point, a filler point and notes, charted by the world's provider.</summary>
    private static async Task<(Guid Visit, Guid Point, JsonElement Chart)> ChartedVisitAsync(ChartWorld world, int patient = 0)
    {
        var visit = await world.BookVisitAsync(patient);
        var provider = world.ProviderClient();
        var point = Guid.NewGuid();
        await provider.AddPointAsync(visit, ChartWorld.Toxin("glabella", 20, world.Botox, pointId: point, x: 50, y: 28));
        await provider.AddPointAsync(visit, ChartWorld.Filler("cheek-left", 1.0m, world.Voluma));
        var chart = await provider.SendAsync(HttpMethod.Put, Url(visit, "notes"), new
        {
            operationId = Guid.NewGuid().ToString("N"), expectedVersion = 0, subjective = "Wants softer frown lines",
            objective = "Dynamic glabellar rhytids", assessment = "Good candidate", plan = "Review in two weeks",
        });
        return (visit, point, chart);
    }

    [Fact]
    public async Task A_signed_chart_refuses_every_change_with_chart_signed_and_changes_only_by_signed_addenda()
    {
        var world = await ChartWorld.CreateAsync(factory);
        var (visit, point, charted) = await ChartedVisitAsync(world);
        var provider = WithAgent(world.ProviderClient(), "MedSpaTablet/2.1");

        var signed = await provider.SendAsync(HttpMethod.Post, Url(visit, "sign"), Typed("Ana Rivera NP", op: "sign-1"));
        Assert.Equal("signed", signed.GetProperty("status").GetString());
        var hash = signed.GetProperty("recordHash").GetString()!;
        Assert.Matches("^[0-9a-f]{64}$", hash);
        var signature = signed.GetProperty("signatures").EnumerateArray().Single();
        Assert.Equal("provider", signature.GetProperty("purpose").GetString());
        Assert.Equal("typed", signature.GetProperty("method").GetString());
        Assert.Equal("Ana Rivera NP", signature.GetProperty("typedName").GetString());
        Assert.Equal(world.Provider.UserId, signature.GetProperty("signerUserId").GetGuid());
        Assert.Equal("MedSpaTablet/2.1", signature.GetProperty("userAgent").GetString());
        Assert.False(string.IsNullOrEmpty(signature.GetProperty("ip").GetString()), signature.ToString());
        Assert.Equal(hash, signature.GetProperty("signs").GetString());
        var version = signed.GetProperty("version").GetInt64();
        var onHand = await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot);

        // Every change the chart knows is refused, and none of them changes it or the stock.
        var chart = ChartWorld.Chart(visit);
        (HttpMethod, string, object?)[] changes =
        [
            (HttpMethod.Post, chart + "/points", ChartWorld.Toxin("forehead", 10, world.Botox)),
            (HttpMethod.Put, $"{chart}/points/{point}", ChartWorld.Toxin("glabella", 30, world.Botox, expectedVersion: 1)),
            (HttpMethod.Post, $"{chart}/points/{point}/move", new { operationId = "mv", expectedVersion = 1, x = 10, y = 10 }),
            (HttpMethod.Delete, $"{chart}/points/{point}?operationId=rm&expectedVersion=1", null),
            (HttpMethod.Put, chart + "/notes", new { operationId = "n2", expectedVersion = 1, plan = "changed" }),
            (HttpMethod.Put, chart + "/status", new { operationId = "st", status = "in-progress" }),
            (HttpMethod.Post, chart + "/sign", Typed("Ana Rivera NP")),
            (HttpMethod.Post, chart + "/consents", new { operationId = "c1", method = "typed", typedName = "Jane Doe", signerName = "Jane Doe", purpose = "treatment-consent" }),
        ];
        foreach (var (method, url, body) in changes)
        {
            var refused = await provider.ProblemAsync(method, url, body, HttpStatusCode.Conflict, "chart_signed");
            Assert.Equal("signed", refused.GetProperty("chartStatus").GetString());
        }

        var unchanged = await world.Desk().SendAsync(HttpMethod.Get, chart, null);
        Assert.Equal(version, unchanged.GetProperty("version").GetInt64());
        Assert.Equal(charted.GetProperty("points").ToString(), unchanged.GetProperty("points").ToString());
        Assert.Equal(onHand, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));

        // A later change is an addendum, signed (here drawn); a retry of it adds nothing.
        var png = SignaturePng();
        var addendum = Drawn(png, op: "add-1", text: "Patient called: mild bruising at the left cheek, resolved.");
        var amended = await provider.SendAsync(HttpMethod.Post, Url(visit, "addenda"), addendum);
        Assert.Equal("signed", amended.GetProperty("status").GetString());
        Assert.Equal(hash, amended.GetProperty("recordHash").GetString());
        var entry = amended.GetProperty("addenda").EnumerateArray().Single();
        Assert.Equal("Patient called: mild bruising at the left cheek, resolved.", entry.GetProperty("text").GetString());
        var addendumSignature = amended.GetProperty("signatures").EnumerateArray().Single(s => s.GetProperty("purpose").GetString() == "addendum");
        Assert.Equal(entry.GetProperty("signatureId").GetGuid(), addendumSignature.GetProperty("id").GetGuid());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(png)), addendumSignature.GetProperty("imageSha256").GetString());
        Assert.Equal(entry.GetProperty("sha256").GetString(), addendumSignature.GetProperty("signs").GetString());
        var replay = await provider.SendAsync(HttpMethod.Post, Url(visit, "addenda"), addendum);
        Assert.True(replay.GetProperty("replayed").GetBoolean());
        Assert.Single(replay.GetProperty("addenda").EnumerateArray());
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            // The drawn image is kept once, byte for byte, under the signature's id.
            var stored = await conn.QuerySingleAsync<byte[]>(
                "SELECT png FROM chart_signature_images WHERE tenant_id = @t AND signature_id = @s",
                new { t = world.TenantId, s = addendumSignature.GetProperty("id").GetGuid() });
            Assert.Equal(png, stored);
            Assert.Equal("signed", await conn.QuerySingleAsync<string>(
                "SELECT status FROM treatment_charts WHERE tenant_id = @t AND visit_id = @visit", new { t = world.TenantId, visit }));
        }

        // The audit trail has each signature (who, device, user agent) besides the chart's changes.
        var audit = (await world.Owner().SendAsync(HttpMethod.Get, $"/api/patients/{world.Flow.Patients[0]}/audit?pageSize=100", null))
            .GetProperty("items").EnumerateArray().ToList();
        var signatures = audit.Where(e => e.GetProperty("action").GetString() == "chart.signature").ToList();
        Assert.Equal(2, signatures.Count);
        Assert.Contains(signatures, e => e.GetProperty("details").GetString()!.StartsWith("provider typed", StringComparison.Ordinal));
        Assert.Contains(signatures, e => e.GetProperty("details").GetString()!.StartsWith("addendum drawn", StringComparison.Ordinal));
        Assert.All(signatures, e => Assert.Equal("MedSpaTablet/2.1", e.GetProperty("userAgent").GetString()));
        Assert.Contains(audit, e => e.GetProperty("action").GetString() == "chart.changed"
                                    && e.GetProperty("details").GetString()!.StartsWith("SignChart", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Where_the_clinic_requires_it_a_signed_chart_is_pending_review_until_a_supervising_physician_cosigns()
    {
        var world = await ChartWorld.CreateAsync(factory);
        var owner = world.Owner();
        var settingsUrl = $"/api/clinics/{world.ClinicId}/chart-signing";
        Assert.False((await owner.SendAsync(HttpMethod.Get, settingsUrl, null)).GetProperty("cosignRequired").GetBoolean());
        await owner.SendAsync(HttpMethod.Put, settingsUrl, new { cosignRequired = true });
        var (visit, _, _) = await ChartedVisitAsync(world);
        var provider = world.ProviderClient();

        var signed = await provider.SendAsync(HttpMethod.Post, Url(visit, "sign"), Drawn(SignaturePng()));
        Assert.Equal("pending-review", signed.GetProperty("status").GetString());
        await provider.ProblemAsync(HttpMethod.Post, ChartWorld.Chart(visit) + "/points", ChartWorld.Toxin("forehead", 10, world.Botox),
            HttpStatusCode.Conflict, "chart_signed");

        // Not the provider who signed, not the front desk; with supervisors named, only one of them.
        await provider.ProblemAsync(HttpMethod.Post, Url(visit, "cosign"), Typed("Ana Rivera NP"), HttpStatusCode.Forbidden, "chart_cosigner_not_allowed");
        await world.Desk().ProblemAsync(HttpMethod.Post, Url(visit, "cosign"), Typed("Desk"), HttpStatusCode.Forbidden, "forbidden");
        await owner.SendAsync(HttpMethod.Put, settingsUrl, new { cosignRequired = true, supervisorUserIds = new[] { world.Provider2.UserId } });
        await owner.ProblemAsync(HttpMethod.Post, Url(visit, "cosign"), Typed("The Owner"), HttpStatusCode.Forbidden, "chart_cosigner_not_allowed");
        Assert.Equal("pending-review", (await world.Desk().SendAsync(HttpMethod.Get, ChartWorld.Chart(visit), null)).GetProperty("status").GetString());

        var cosigned = await world.Provider2Client().SendAsync(HttpMethod.Post, Url(visit, "cosign"), Typed("Dr. Lee MD"));
        Assert.Equal("signed", cosigned.GetProperty("status").GetString());
        var cosignature = cosigned.GetProperty("signatures").EnumerateArray().Single(s => s.GetProperty("purpose").GetString() == "co-signature");
        Assert.Equal(world.Provider2.UserId, cosignature.GetProperty("signerUserId").GetGuid());
        Assert.Equal("witness", cosignature.GetProperty("signerKind").GetString());
        Assert.Equal(signed.GetProperty("recordHash").GetString(), cosignature.GetProperty("signs").GetString());
        await world.Provider2Client().ProblemAsync(HttpMethod.Post, Url(visit, "cosign"), Typed("Dr. Lee MD"), HttpStatusCode.Conflict,
            "chart_not_pending_review");

        // A supervisor who is not a clinician of this organisation is refused when the setting is saved.
        var other = await ChartWorld.CreateAsync(factory);
        var bad = await owner.ProblemAsync(HttpMethod.Put, settingsUrl, new { cosignRequired = true, supervisorUserIds = new[] { other.Provider.UserId } },
            HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(bad.GetProperty("errors").TryGetProperty("supervisorUserIds", out _), bad.ToString());
        await owner.ProblemAsync(HttpMethod.Put, settingsUrl, new { supervisorUserIds = Array.Empty<Guid>() }, HttpStatusCode.BadRequest, "validation_failed");
        // Another organisation's clinic is not there; a provider does not manage the setting.
        await owner.ProblemAsync(HttpMethod.Get, $"/api/clinics/{other.ClinicId}/chart-signing", null, HttpStatusCode.NotFound, "not_found");
        await owner.ProblemAsync(HttpMethod.Put, $"/api/clinics/{other.ClinicId}/chart-signing", new { cosignRequired = true }, HttpStatusCode.NotFound, "not_found");
        await provider.ProblemAsync(HttpMethod.Put, settingsUrl, new { cosignRequired = false }, HttpStatusCode.Forbidden, "forbidden");
    }

    [Fact]
    public async Task Patient_consent_signatures_are_captured_and_a_signed_photo_consent_is_the_consent_uploads_need()
    {
        var world = await ChartWorld.CreateAsync(factory);
        var visit = await world.BookVisitAsync(patient: 1);
        var desk = WithAgent(world.Desk(), "FrontDeskTablet/1.0");
        var provider = world.ProviderClient();
        var (status, _) = await PhotoWorld.UploadAsync(provider, visit, PhotoWorld.Jpeg(seed: 3), "forehead", "before");
        Assert.Equal(HttpStatusCode.Conflict, status);

        var png = SignaturePng(seed: 7);
        var consented = await desk.SendAsync(HttpMethod.Post, Url(visit, "consents"),
            Drawn(png, op: "photo-consent-1", signerName: "John Smith", purpose: "photo-consent"));
        var photoConsent = consented.GetProperty("signatures").EnumerateArray().Single();
        Assert.Equal("photo-consent", photoConsent.GetProperty("purpose").GetString());
        Assert.Equal("patient", photoConsent.GetProperty("signerKind").GetString());
        Assert.Equal("John Smith", photoConsent.GetProperty("signerName").GetString());
        Assert.Equal("FrontDeskTablet/1.0", photoConsent.GetProperty("userAgent").GetString());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(png)), photoConsent.GetProperty("imageSha256").GetString());

        // It is the patient's photo consent of record (once, also when the tablet resends it), so the upload passes.
        await desk.SendAsync(HttpMethod.Post, Url(visit, "consents"), Drawn(png, op: "photo-consent-1", signerName: "John Smith", purpose: "photo-consent"));
        var record = await desk.SendAsync(HttpMethod.Get, $"/api/patients/{world.Flow.Patients[1]}/photo-consent", null);
        Assert.True(record.GetProperty("granted").GetBoolean());
        Assert.Equal("electronic", record.GetProperty("current").GetProperty("method").GetString());
        Assert.Equal(photoConsent.GetProperty("id").GetGuid(), record.GetProperty("current").GetProperty("id").GetGuid());
        Assert.Single(record.GetProperty("history").EnumerateArray());
        await PhotoWorld.UploadOkAsync(provider, visit, PhotoWorld.Jpeg(seed: 3), "forehead", "before");

        var treatment = await desk.SendAsync(HttpMethod.Post, Url(visit, "consents"),
            new { operationId = "treatment-consent-1", method = "typed", typedName = "John Smith", signerName = "John Smith", purpose = "treatment-consent" });
        Assert.Equal(["photo-consent", "treatment-consent"],
            treatment.GetProperty("signatures").EnumerateArray().Select(s => s.GetProperty("purpose").GetString()));

        // Consent needs a signer's name and a known purpose; the chart itself is signed by clinicians only.
        await desk.ProblemAsync(HttpMethod.Post, Url(visit, "consents"), new { operationId = "c2", method = "typed", typedName = "J", purpose = "treatment-consent" },
            HttpStatusCode.BadRequest, "validation_failed");
        await desk.ProblemAsync(HttpMethod.Post, Url(visit, "consents"), new { operationId = "c3", method = "typed", typedName = "J", signerName = "J", purpose = "marketing" },
            HttpStatusCode.BadRequest, "validation_failed");
        await desk.ProblemAsync(HttpMethod.Post, Url(visit, "sign"), Typed("Desk"), HttpStatusCode.Forbidden, "forbidden");
    }

    [Fact]
    public async Task Bad_signatures_are_refused_with_a_clear_4xx_and_change_nothing()
    {
        var world = await ChartWorld.CreateAsync(factory);
        var other = await ChartWorld.CreateAsync(factory);
        var provider = world.ProviderClient();
        var empty = await world.BookVisitAsync(patient: 2);

        // Nothing charted: nothing to sign; an addendum or co-signature needs a signed chart; so does the record.
        await provider.ProblemAsync(HttpMethod.Post, Url(empty, "sign"), Typed("Ana"), HttpStatusCode.Conflict, "chart_nothing_to_sign");
        var (visit, _, charted) = await ChartedVisitAsync(world);
        await provider.ProblemAsync(HttpMethod.Post, Url(visit, "addenda"), Typed("Ana", text: "late note"), HttpStatusCode.Conflict, "chart_not_signed");
        await world.Provider2Client().ProblemAsync(HttpMethod.Post, Url(visit, "cosign"), Typed("Dr"), HttpStatusCode.Conflict, "chart_not_signed");
        await provider.ProblemAsync(HttpMethod.Get, $"/api/charts/{visit}/record.pdf", null, HttpStatusCode.Conflict, "chart_not_signed");

        // The drawn image: a PNG by its content, within the size limit, valid base64, readable.
        var jpeg = PhotoWorld.Jpeg(width: 200, height: 80);
        var wrongType = await provider.ProblemAsync(HttpMethod.Post, Url(visit, "sign"), Drawn(jpeg), HttpStatusCode.UnsupportedMediaType,
            "chart_signature_unsupported_type");
        Assert.Equal("image", wrongType.GetProperty("field").GetString());
        var big = new byte[300 * 1024];
        SignaturePng().AsSpan(0, 8).CopyTo(big);
        var tooLarge = await provider.ProblemAsync(HttpMethod.Post, Url(visit, "sign"), Drawn(big), HttpStatusCode.RequestEntityTooLarge,
            "chart_signature_too_large");
        Assert.Equal(256 * 1024, tooLarge.GetProperty("maxBytes").GetInt32());
        var broken = SignaturePng()[..40];
        await provider.ProblemAsync(HttpMethod.Post, Url(visit, "sign"), Drawn(broken), HttpStatusCode.BadRequest, "validation_failed");
        await provider.ProblemAsync(HttpMethod.Post, Url(visit, "sign"), new { operationId = "x1", method = "drawn", image = "not base64 !!" },
            HttpStatusCode.BadRequest, "validation_failed");
        await provider.ProblemAsync(HttpMethod.Post, Url(visit, "sign"), new { operationId = "x2", method = "drawn" }, HttpStatusCode.BadRequest, "validation_failed");
        await provider.ProblemAsync(HttpMethod.Post, Url(visit, "sign"), new { operationId = "x3", method = "typed", typedName = " " },
            HttpStatusCode.BadRequest, "validation_failed");
        await provider.ProblemAsync(HttpMethod.Post, Url(visit, "sign"), new { operationId = "x4", method = "stamped", typedName = "Ana" },
            HttpStatusCode.BadRequest, "validation_failed");
        await provider.ProblemAsync(HttpMethod.Post, Url(visit, "sign"), new { method = "typed", typedName = "Ana" }, HttpStatusCode.BadRequest, "validation_failed");
        await provider.ProblemAsync(HttpMethod.Post, Url(visit, "addenda"), Typed("Ana"), HttpStatusCode.Conflict, "chart_not_signed");

        // Another organisation's visit is not there, for signing and for its record.
        var theirs = await other.BookVisitAsync();
        await provider.ProblemAsync(HttpMethod.Post, Url(theirs, "sign"), Typed("Ana"), HttpStatusCode.NotFound, "not_found");
        await provider.ProblemAsync(HttpMethod.Post, Url(theirs, "consents"), new { operationId = "c", method = "typed", typedName = "J", signerName = "J", purpose = "treatment-consent" },
            HttpStatusCode.NotFound, "not_found");
        await provider.ProblemAsync(HttpMethod.Get, $"/api/charts/{theirs}/record.pdf", null, HttpStatusCode.NotFound, "not_found");

        // Still unsigned and unchanged: the chart can be signed now, and the same operation id for another signature is refused.
        var read = await provider.SendAsync(HttpMethod.Get, ChartWorld.Chart(visit), null);
        Assert.Equal("in-progress", read.GetProperty("status").GetString());
        Assert.Equal(charted.GetProperty("version").GetInt64(), read.GetProperty("version").GetInt64());
        Assert.Empty(read.GetProperty("signatures").EnumerateArray());
        await provider.SendAsync(HttpMethod.Post, Url(visit, "sign"), Typed("Ana", op: "once"));
        await provider.ProblemAsync(HttpMethod.Post, Url(visit, "sign"), Typed("Someone else", op: "once"), HttpStatusCode.Conflict, "chart_operation_conflict");
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        Assert.Equal(0, await conn.QuerySingleAsync<int>("SELECT count(*)::int FROM chart_signature_images WHERE tenant_id = @t", new { t = world.TenantId }));
    }

    [Fact]
    public async Task The_record_pdf_of_a_signed_chart_prints_the_whole_record_as_extractable_text()
    {
        var world = await ChartWorld.CreateAsync(factory);
        var (visit, _, _) = await ChartedVisitAsync(world);
        var desk = world.Desk();
        var provider = world.ProviderClient();
        await desk.SendAsync(HttpMethod.Post, Url(visit, "consents"), Drawn(SignaturePng(seed: 4), signerName: "Jane Doe", purpose: "photo-consent"));
        await PhotoWorld.UploadOkAsync(provider, visit, PhotoWorld.Jpeg(seed: 5), "glabella", "before");
        var signed = await provider.SendAsync(HttpMethod.Post, Url(visit, "sign"), Drawn(SignaturePng(seed: 9)));
        await provider.SendAsync(HttpMethod.Post, Url(visit, "addenda"), Typed("Ana Rivera NP", text: "Follow-up call: no complications."));
        var hash = signed.GetProperty("recordHash").GetString()!;
        string clinic;
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            clinic = await conn.QuerySingleAsync<string>("SELECT name FROM clinics WHERE tenant_id = @t AND id = @c", new { t = world.TenantId, c = world.ClinicId });
        }

        using var response = await desk.GetAsync($"/api/charts/{visit}/record.pdf");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/pdf", response.Content.Headers.ContentType?.MediaType);
        var pdf = await response.Content.ReadAsByteArrayAsync();
        using var doc = PdfDocument.Open(pdf);
        var text = string.Join("\n", doc.GetPages().SelectMany(p => p.Letters
            .GroupBy(l => Math.Round(l.StartBaseLine.Y, 1))
            .OrderByDescending(g => g.Key)
            .Select(g => string.Concat(g.OrderBy(l => l.StartBaseLine.X).Select(l => l.Value)))));

        string[] expected =
        [
            "Jane Doe", "Ana Rivera 0", clinic, "glabella", "cheek-left", "20 U", "1 ml", "Botox Cosmetic", "Juvederm Voluma XC",
            ChartWorld.BotoxLot, ChartWorld.VolumaLot, "2031-06-30", "2031-03-31", "Wants softer frown lines", "Dynamic glabellar rhytids",
            "Good candidate", "Review in two weeks", "Photo consent", "Provider signature", "Addendum signature",
            "Follow-up call: no complications.", hash, "intramuscular",
        ];
        foreach (var s in expected)
        {
            Assert.True(text.Contains(s, StringComparison.Ordinal), $"The record does not print \"{s}\":\n{text}");
        }

        // Signature times as recorded (UTC), and the images: the photo's thumbnail and the two drawn signatures.
        var signedAt = signed.GetProperty("signatures").EnumerateArray().Single(s => s.GetProperty("purpose").GetString() == "provider")
            .GetProperty("signedAt").GetDateTimeOffset().UtcDateTime;
        Assert.Contains(signedAt.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture) + " UTC", text, StringComparison.Ordinal);
        Assert.True(doc.GetPages().SelectMany(p => p.GetImages()).Count() >= 3, "photo thumbnail and two signature images");

        // The read is in the audit trail.
        var audit = (await world.Owner().SendAsync(HttpMethod.Get, $"/api/patients/{world.Flow.Patients[0]}/audit?pageSize=100", null))
            .GetProperty("items").EnumerateArray();
        Assert.Contains(audit, e => e.GetProperty("action").GetString() == "chart.record_read");
    }
}
