using System.Collections.Immutable;
using Dapper;
using MedSpa.Api.Features.Audit;
using MedSpa.Api.Features.Photos;
using MedSpa.Api.Features.Visits;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Board;
using MedSpa.GrainInterfaces.Charts;
using MedSpa.Grains.Domain.Charts;
using MedSpa.Silo.Audit;
using MedSpa.Silo.Charts;
using MedSpa.Silo.Data;
using MedSpa.Silo.Blobs;
using MedSpa.Silo.Photos;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using Polly;
using SkiaSharp;

namespace MedSpa.Api.Features.Charts;

/// <summary>A signature as a client sends it: <c>method</c> <c>drawn</c> with <c>image</c> (a PNG, base64 or a data
/// URL) or <c>typed</c> with <c>typedName</c>. <c>signerName</c> is the patient's (or guardian's) name on a consent;
/// staff sign under their account's name. <c>text</c> is an addendum's. On a consent, <c>signerRole</c> is
/// <c>patient</c> (the default) or <c>guardian</c> (a parent or legal guardian, who names their
/// <c>guardianRelationship</c> to the patient); a patient under 18 on the visit's date needs a guardian.</summary>
public sealed record ChartSignRequest(
    string? OperationId, string? Method, string? TypedName, string? Image, string? SignerName, string? Purpose, string? Text,
    string? SignerRole = null, string? GuardianRelationship = null);

public sealed record ChartSigningSettingsRequest(bool? CosignRequired, Guid[]? SupervisorUserIds);

/// <summary>
/// Signing a chart (issue 17 §4), under <c>/api/visits/{visitId}/chart</c>: the provider signs (<c>/sign</c>); where the
/// clinic requires it the chart is then <c>pending-review</c> until a supervising physician co-signs (<c>/cosign</c>);
/// the patient signs treatment and photo consent (<c>/consents</c>; a photo consent also records the photo consent
/// uploads need); a signed chart changes only by signed addenda (<c>/addenda</c>). Each signature keeps its time, the
/// caller's IP and user agent; the audit trail records each one (the chart filter, plus the signature itself).
/// </summary>
public static class ChartSigningApi
{
    /// <summary>A drawn signature is a small PNG: 256 KiB is far more than a tablet's signature pad makes.</summary>
    public const int MaxImageBytes = 256 * 1024;
    public const int MaxImageEdge = 4096;

    public static IEndpointRouteBuilder MapChartSigningApi(this IEndpointRouteBuilder app)
    {
        var chart = app.MapGroup("/api/visits/{visitId:guid}/chart").RequireAuthorization(Policies.Staff).WithTags("Charts");
        chart.AddEndpointFilter(AuditRecorder.ChartFilter);
        chart.MapPost("/sign", (Guid visitId, [FromBody] ChartSignRequest? r, HttpContext http, CurrentUser user, Deps d, CancellationToken ct) =>
                SignAsync(visitId, r, ChartSignaturePurposes.Provider, http, user, d, ct))
            .WithName("SignChart").WithSummary("The provider signs the chart (drawn PNG or typed name); it no longer changes afterwards.");
        chart.MapPost("/cosign", (Guid visitId, [FromBody] ChartSignRequest? r, HttpContext http, CurrentUser user, Deps d, CancellationToken ct) =>
                SignAsync(visitId, r, ChartSignaturePurposes.Cosign, http, user, d, ct))
            .WithName("CosignChart").WithSummary("The supervising physician co-signs a pending-review chart.");
        chart.MapPost("/consents", (Guid visitId, [FromBody] ChartSignRequest? r, HttpContext http, CurrentUser user, Deps d, CancellationToken ct) =>
                SignAsync(visitId, r, r?.Purpose, http, user, d, ct))
            .WithName("SignChartConsent").WithSummary("The patient signs treatment-consent or photo-consent (purpose).");
        chart.MapPost("/addenda", (Guid visitId, [FromBody] ChartSignRequest? r, HttpContext http, CurrentUser user, Deps d, CancellationToken ct) =>
                SignAsync(visitId, r, ChartSignaturePurposes.Addendum, http, user, d, ct))
            .WithName("AddChartAddendum").WithSummary("A signed addendum to a signed chart.");

        app.MapGet("/api/charts/{visitId:guid}/record.pdf", RecordPdfAsync).RequireAuthorization(Policies.Staff).WithTags("Charts")
            .WithName("GetChartRecordPdf").WithSummary("The legal record of a signed chart as PDF (409 chart_not_signed before it is signed).");

        var settings = app.MapGroup("/api/clinics/{clinicId:guid}/chart-signing").RequireAuthorization(Policies.Admin).WithTags("Charts");
        settings.MapGet("", GetSettingsAsync).WithName("GetChartSigningSettings");
        settings.MapPut("", PutSettingsAsync).WithName("SetChartSigningSettings")
            .WithSummary("Whether charts need a supervising physician's co-signature, and who may give it (empty: any other clinician).");
        return app;
    }

    /// <summary>What the signing endpoints need, bound once.</summary>
    public sealed record Deps(
        IGrainFactory Grains, TimeProvider Time, ResiliencePipeline Retry,
        PostgresChartSignatureStore Signing, PhotoStore Photos, AuditTrail Audit, NpgsqlDataSource Db)
    {
        public static ValueTask<Deps?> BindAsync(HttpContext http)
        {
            var s = http.RequestServices;
            return ValueTask.FromResult<Deps?>(new Deps(s.GetRequiredService<IGrainFactory>(), s.GetRequiredService<TimeProvider>(),
                s.GetRequiredKeyedService<ResiliencePipeline>(GrainCallRetry.Key), s.GetRequiredService<PostgresChartSignatureStore>(),
                s.GetRequiredService<PhotoStore>(), s.GetRequiredService<AuditTrail>(), s.GetRequiredService<NpgsqlDataSource>()));
        }
    }

    private static async Task<Results<Ok<ChartResponse>, ProblemHttpResult>> SignAsync(
        Guid visitId, ChartSignRequest? r, string? purpose, HttpContext http, CurrentUser user, Deps d, CancellationToken ct)
    {
        var (answer, refusal) = await SignCoreAsync(visitId, r, purpose, http, user, d, ct);
        return refusal is not null ? refusal.ToProblem() : TypedResults.Ok(ChartResponse.From(answer!.Chart!, answer.Replayed));
    }

    /// <summary>
    /// Signs as the endpoints do (also for a tablet's queued <c>sign</c> operation, <see cref="ChartSyncApi"/>): the
    /// grain's answer, or the refusal (nothing changed).
    /// </summary>
    public static async Task<(ChartAnswer? Answer, Refusal? Refusal)> SignCoreAsync(
        Guid visitId, ChartSignRequest? r, string? purpose, HttpContext http, CurrentUser user, Deps d, CancellationToken ct)
    {
        if (r is null)
        {
            return (null, Refusal.Invalid("body", "A JSON body is required."));
        }

        var consent = purpose is ChartSignaturePurposes.TreatmentConsent or ChartSignaturePurposes.PhotoConsent;
        if (!consent && purpose is not (ChartSignaturePurposes.Provider or ChartSignaturePurposes.Cosign or ChartSignaturePurposes.Addendum))
        {
            return (null, Refusal.Invalid("purpose", $"purpose is one of {string.Join(", ", ChartSignaturePurposes.Consents)}."));
        }

        // Patients sign consent on the tablet the staff hands them (any staff may capture it); only clinicians sign,
        // co-sign or amend a chart.
        if (!consent && !ChartsApi.MayChart(user))
        {
            return (null, new Refusal(ErrorCodes.Forbidden, "Only providers, admins and owners sign charts."));
        }

        var visit = await VisitsApi.ReadAsync(d.Grains, d.Retry, user, visitId, ct);
        if (visit is null)
        {
            return (null, new Refusal(ErrorCodes.NotFound, "Visit was not found."));
        }

        var signerRole = consent ? r.SignerRole?.Trim().ToLowerInvariant() : null;
        if (consent && signerRole is not null && !ChartSignerKinds.ConsentSigners.Contains(signerRole))
        {
            return (null, Refusal.Invalid("signerRole", $"signerRole is one of {string.Join(", ", ChartSignerKinds.ConsentSigners)}."));
        }

        // A patient's consent is signed by that patient (the name signed must be theirs as on file) unless they are a
        // minor on the visit's date in the clinic's time zone: then a parent or guardian signs, under their own name.
        if (consent && !string.IsNullOrWhiteSpace(r.SignerName) && signerRole != ChartSignerKinds.Guardian)
        {
            await using var conn = await d.Db.OpenTenantConnectionAsync(user.TenantId, ct);
            var patient = await conn.QuerySingleOrDefaultAsync<(string First, string Last, string? Preferred, DateTime? BirthDate, string? TimeZone)>(
                new CommandDefinition(
                    """
                    SELECT p.first_name, p.last_name, p.preferred_name, p.date_of_birth, c.time_zone
                    FROM patients p LEFT JOIN clinics c ON c.tenant_id = p.tenant_id AND c.id = @ClinicId
                    WHERE p.tenant_id = @TenantId AND p.id = @PatientId
                    """,
                    new { user.TenantId, visit.PatientId, visit.ClinicId }, cancellationToken: ct));
            if (patient.First is null || !ChartSigningRules.SignerIsPatient(r.SignerName, patient.First, patient.Last, patient.Preferred))
            {
                return (null, Refusal.Invalid("signerName",
                    "signerName is the patient's name as on file (first or preferred name, and last name): the patient signs their own consent, "
                    + "or a guardian signs for them (signerRole guardian)."));
            }

            var zone = patient.TimeZone is { } tz && TimeZoneInfo.TryFindSystemTimeZoneById(tz, out var found) ? found : TimeZoneInfo.Utc;
            var visitDate = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(visit.ScheduledStart, zone).DateTime);
            if (patient.BirthDate is { } born && ChartSigningRules.IsMinor(DateOnly.FromDateTime(born), visitDate))
            {
                var day = visitDate.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
                return (null, new Refusal(ChartSigningRefusals.GuardianRequired,
                        $"The patient is under {ChartSigningRules.AgeOfConsent} on the visit's date ({day}): a parent or guardian signs "
                        + "the consent (signerRole guardian, signerName the guardian's, guardianRelationship).", "signerRole")
                    .With("visitDate", day));
            }
        }

        var (image, bad) = DecodeImage(r);
        if (bad is not null)
        {
            return (null, bad);
        }

        var settings = purpose is ChartSignaturePurposes.Provider or ChartSignaturePurposes.Cosign
            ? await d.Signing.SettingsAsync(user.TenantId, visit.ClinicId, ct)
            : null;
        if (purpose == ChartSignaturePurposes.Cosign && settings!.SupervisorUserIds.Length > 0 && !settings.SupervisorUserIds.Contains(user.UserId))
        {
            return (null, new Refusal(ChartSigningRefusals.CosignerNotAllowed,
                "Only the clinic's supervising physicians co-sign its charts."));
        }

        // The photos of the visit are part of what the provider signs (by their content hash).
        var photos = purpose == ChartSignaturePurposes.Provider
            ? [.. (await d.Photos.ListForVisitAsync(user.TenantId, visitId, ct)).Select(p => new ChartPhotoRef(p.Id, Convert.ToHexStringLower(p.Sha256)))]
            : ImmutableArray<ChartPhotoRef>.Empty;
        var signerName = consent ? r.SignerName ?? "" : StaffName(http, user);
        var signing = new ChartSigning(r.OperationId ?? "", purpose!, r.Method ?? "", signerName, r.TypedName, image,
            http.Connection.RemoteIpAddress?.ToString(), AuditRecorder.UserAgent(http), settings?.CosignRequired ?? false, r.Text, photos,
            signerRole, consent ? r.GuardianRelationship : null);

        // Not retried: the operation id makes a client's own retry safe, and a timed-out call may have been applied.
        var answer = await d.Grains.GetGrain<ITreatmentChartGrain>(TenantKeys.For(user.TenantId, visitId))
            .SignAsync(ChartsApi.Visit(visit), signing, new ChartActor(user.UserId, user.Role, d.Time.GetUtcNow()));
        if (answer.Refusal is { } refusal)
        {
            return (null, refusal);
        }

        var chart = answer.Chart!;
        var signature = chart.Signatures.LastOrDefault(s => s.Id == ChartSigningRules.DerivedId(chart.VisitId, signing.OperationId, "signature"));
        if (signature is not null)
        {
            if (purpose == ChartSignaturePurposes.PhotoConsent)
            {
                await RecordPhotoConsentAsync(http, user, d, chart, signature, ct);
            }

            if (!answer.Replayed)
            {
                await d.Audit.RecordAsync(http, user, "chart.signature", chart.PatientId, chart.VisitId, "signature", signature.Id,
                    $"{signature.Purpose} {signature.Method} by {signature.SignerKind} -> {chart.Status}", CancellationToken.None);
            }
        }

        return (answer, null);
    }

    /// <summary>
    /// A signed photo consent is the patient's photo consent of §3 (what uploads check), recorded once under the
    /// signature's id, also when the answer of the first attempt was lost and the client retried.
    /// </summary>
    private static async Task RecordPhotoConsentAsync(HttpContext http, CurrentUser user, Deps d, TreatmentChart chart, ChartSignature signature,
        CancellationToken ct)
    {
        var history = await d.Photos.ConsentsAsync(user.TenantId, chart.PatientId, ct);
        if (history.Any(c => c.Id == signature.Id))
        {
            return;
        }

        var record = new PhotoConsent(signature.Id, chart.PatientId, true, "electronic",
            $"Signed ({signature.Method}) by {signature.SignerName} on the chart of visit {chart.VisitId}", user.UserId, signature.SignedAt);
        await d.Photos.RecordConsentAsync(user.TenantId, record, ct);
        await d.Audit.RecordAsync(http, user, "consent.photo_granted", chart.PatientId, chart.VisitId, "photo-consent", record.Id, "electronic",
            CancellationToken.None);
    }

    /// <summary>The name a staff member signs under: the account's name (from the access token), else the email.</summary>
    private static string StaffName(HttpContext http, CurrentUser user) =>
        http.User.FindFirst(MedSpaClaims.Name)?.Value is { Length: > 0 } name ? name
        : http.User.FindFirst(MedSpaClaims.Email)?.Value is { Length: > 0 } email ? email
        : $"user {user.UserId}";

    /// <summary>
    /// The drawn image: base64 (optionally a <c>data:image/png;base64,</c> URL), at most <see cref="MaxImageBytes"/>,
    /// and a PNG by its content (magic bytes, then an actual decode with sane dimensions), not by what the client says.
    /// </summary>
    public static (byte[]? Image, Refusal? Refusal) DecodeImage(ChartSignRequest r)
    {
        if (r.Image is not { Length: > 0 } text)
        {
            return (null, null);
        }

        var comma = text.StartsWith("data:", StringComparison.OrdinalIgnoreCase) ? text.IndexOf(',') : -1;
        var base64 = comma >= 0 ? text.AsSpan(comma + 1) : text.AsSpan();
        if (base64.Length > (MaxImageBytes + 2) / 3 * 4 + 16)
        {
            return (null, TooLarge());
        }

        var buffer = new byte[base64.Length * 3 / 4 + 3];
        if (!Convert.TryFromBase64Chars(base64, buffer, out var length))
        {
            return (null, Refusal.Invalid("image", "image is not valid base64."));
        }

        if (length > MaxImageBytes)
        {
            return (null, TooLarge());
        }

        var png = buffer.AsSpan(0, length).ToArray();
        if (PhotoImages.Sniff(png) != "image/png")
        {
            return (null, new Refusal(ChartSigningRefusals.SignatureUnsupported, "A drawn signature is a PNG image.", "image"));
        }

        using var data = SKData.CreateCopy(png);
        using var codec = SKCodec.Create(data);
        if (codec is null || codec.Info.Width is < 1 or > MaxImageEdge || codec.Info.Height is < 1 or > MaxImageEdge)
        {
            return (null, Refusal.Invalid("image", $"image is not a readable PNG of at most {MaxImageEdge}×{MaxImageEdge} pixels."));
        }

        return (png, null);

        static Refusal TooLarge() => new Refusal(ChartSigningRefusals.SignatureTooLarge,
            $"A drawn signature is at most {MaxImageBytes} bytes.", "image").With("maxBytes", MaxImageBytes);
    }

    /// <summary>At most this many photo thumbnails go into the record (each photo is listed by its hash either way).</summary>
    private const int MaxRecordPhotos = 24;

    /// <summary>
    /// The legal record (issue 17 §6) of a signed chart: read from the chart grain (the signed state), with the names
    /// from SQL, the photos' thumbnails decrypted from the blob store and the drawn signatures' images. Every read is
    /// in the audit trail.
    /// </summary>
    private static async Task<Results<FileContentHttpResult, ProblemHttpResult>> RecordPdfAsync(
        Guid visitId, HttpContext http, CurrentUser user, Deps d, IBlobStore blobs, BlobKeyRing keys, ILoggerFactory loggers, CancellationToken ct)
    {
        var visit = await VisitsApi.ReadAsync(d.Grains, d.Retry, user, visitId, ct);
        if (visit is null)
        {
            return ApiProblems.NotFound("Visit");
        }

        var chart = await d.Retry.ExecuteAsync(async _ => await d.Grains.GetGrain<ITreatmentChartGrain>(TenantKeys.For(user.TenantId, visitId)).GetAsync(), ct);
        if (chart is not { IsSigned: true })
        {
            return new Refusal(ChartSigningRefusals.NotSigned, "The legal record exists once the chart is signed.")
                .With("chartStatus", chart?.Status ?? ChartVocabulary.InProgress).ToProblem();
        }

        var context = await d.Signing.RecordContextAsync(user.TenantId, chart.ClinicId, chart.PatientId, chart.ProviderId,
            [.. chart.ProductsUsed.Select(u => (u.ProductId, u.LotNumber))], ct);
        if (context is null)
        {
            return ApiProblems.NotFound("Visit");
        }

        var photos = new List<ChartRecordPhoto>();
        foreach (var p in (await d.Photos.ListForVisitAsync(user.TenantId, visitId, ct)).Take(MaxRecordPhotos))
        {
            photos.Add(new ChartRecordPhoto(p.Id, p.Zone, p.Pairing, p.UploadedAt, Convert.ToHexStringLower(p.Sha256),
                await ThumbnailAsync(p, blobs, keys, loggers, ct)));
        }

        var address = context.ClinicAddressJson is { Length: > 0 } json
            ? System.Text.Json.JsonSerializer.Deserialize<PostalAddress>(json, System.Text.Json.JsonSerializerOptions.Web)
            : null;
        var provider = context.ProviderName
                       ?? chart.Signatures.FirstOrDefault(s => s.Purpose == ChartSignaturePurposes.Provider)?.SignerName ?? "-";
        var document = new ChartRecordDocument(chart, context.ClinicName,
            address is null ? null : string.Join(", ", new[] { address.Line1, address.Line2, address.City, address.Region, address.PostalCode }
                .Where(x => !string.IsNullOrWhiteSpace(x))),
            TimeZoneInfo.TryFindSystemTimeZoneById(context.TimeZone, out var zone) ? zone : TimeZoneInfo.Utc,
            context.PatientName, context.PatientBirthDate, provider, context.LotExpiry, photos,
            await d.Signing.ImagesAsync(user.TenantId, visitId, ct), d.Time.GetUtcNow());
        var pdf = ChartRecordPdf.Render(document);
        await d.Audit.RecordAsync(http, user, "chart.record_read", chart.PatientId, chart.VisitId, "chart", chart.VisitId,
            $"record.pdf {chart.RecordHash}", CancellationToken.None);
        http.Response.Headers.CacheControl = "private, no-store";
        return TypedResults.File(pdf, "application/pdf", $"treatment-record-{visitId}.pdf");
    }

    /// <summary>The photo's thumbnail decrypted from the blob store; null (the record says so) when it has none or
    /// it cannot be read here (no keys configured, object gone).</summary>
    private static async Task<byte[]?> ThumbnailAsync(PhotoRecord photo, IBlobStore blobs, BlobKeyRing keys, ILoggerFactory loggers, CancellationToken ct)
    {
        if (photo.ThumbnailKey is not { } key || !keys.IsConfigured)
        {
            return null;
        }

        try
        {
            await using var encrypted = await blobs.OpenReadAsync(key, ct);
            if (encrypted is null)
            {
                return null;
            }

            await using var plain = await BlobCipher.OpenDecryptingAsync(encrypted, keys, ct);
            using var buffer = new MemoryStream();
            await plain.CopyToAsync(buffer, ct);
            return buffer.ToArray();
        }
        catch (Exception e) when (e is IOException or System.Security.Cryptography.CryptographicException or InvalidDataException)
        {
            loggers.CreateLogger(typeof(ChartSigningApi)).LogWarning(e, "A photo thumbnail could not be read for a chart record");
            return null;
        }
    }

    private static async Task<Results<Ok<ChartSigningSettings>, ProblemHttpResult>> GetSettingsAsync(
        Guid clinicId, CurrentUser user, PostgresChartSignatureStore store, CancellationToken ct)
    {
        if (!await ClinicExistsAsync(user, clinicId, store, ct))
        {
            return ApiProblems.NotFound("Clinic");
        }

        return TypedResults.Ok(await store.SettingsAsync(user.TenantId, clinicId, ct));
    }

    private static async Task<Results<Ok<ChartSigningSettings>, ProblemHttpResult>> PutSettingsAsync(
        Guid clinicId, [FromBody] ChartSigningSettingsRequest? r, CurrentUser user, PostgresChartSignatureStore store, TimeProvider time,
        CancellationToken ct)
    {
        if (r?.CosignRequired is not { } required)
        {
            return Refusal.Invalid("cosignRequired", "cosignRequired (true or false) is required.").ToProblem();
        }

        var supervisors = (r.SupervisorUserIds ?? []).Distinct().ToArray();
        if (supervisors.Length > 50)
        {
            return Refusal.Invalid("supervisorUserIds", "At most 50 supervising physicians.").ToProblem();
        }

        if (!await ClinicExistsAsync(user, clinicId, store, ct))
        {
            return ApiProblems.NotFound("Clinic");
        }

        if (await store.UnknownClinicianAsync(user.TenantId, supervisors, ct) is { } unknown)
        {
            return Refusal.Invalid("supervisorUserIds", $"{unknown} is not a provider, admin or owner of this organisation.").ToProblem();
        }

        return TypedResults.Ok(await store.SaveSettingsAsync(user.TenantId,
            new ChartSigningSettings(clinicId, required, supervisors, user.UserId, time.GetUtcNow()), ct));
    }

    private static async Task<bool> ClinicExistsAsync(CurrentUser user, Guid clinicId, PostgresChartSignatureStore store, CancellationToken ct) =>
        user.CanAccessClinic(clinicId) && await store.ClinicExistsAsync(user.TenantId, clinicId, ct);
}
