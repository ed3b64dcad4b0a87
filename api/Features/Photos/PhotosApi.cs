using System.Buffers;
using System.Security.Cryptography;
using MedSpa.Api.Features.Audit;
using MedSpa.Api.Features.Charts;
using MedSpa.Api.Features.Visits;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Charts;
using MedSpa.Silo.Audit;
using MedSpa.Silo.Blobs;
using MedSpa.Silo.Photos;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;
using Polly;

namespace MedSpa.Api.Features.Photos;

/// <summary>The refusal codes of photos and photo consent (their statuses are in <see cref="Refusals"/>).</summary>
public static class PhotoRefusals
{
    public const string TooLarge = "photo_too_large";
    public const string UnsupportedType = "photo_unsupported_type";
    public const string ConsentRequired = "consent_required";
    public const string StorageNotConfigured = "photo_storage_not_configured";
    public const string LinkInvalid = "photo_link_invalid";
    public const string LinkExpired = "photo_link_expired";
    /// <summary>409: the upload's Idempotency-Key already names another photo of the visit (other bytes).</summary>
    public const string IdempotencyConflict = "photo_idempotency_key_reused";
}

public sealed record PhotoResponse(
    Guid Id, Guid VisitId, Guid PatientId, Guid ClinicId, string? Zone, string? Pairing, string ContentType, long ByteSize, string Sha256,
    bool HasThumbnail, int? Width, int? Height, Guid UploadedBy, DateTimeOffset UploadedAt, bool LegalHold)
{
    public static PhotoResponse From(PhotoRecord p) => new(p.Id, p.VisitId, p.PatientId, p.ClinicId, p.Zone, p.Pairing, p.ContentType, p.ByteSize,
        Convert.ToHexStringLower(p.Sha256), p.ThumbnailKey is not null, p.Width, p.Height, p.UploadedBy, p.UploadedAt, p.LegalHold);
}

/// <summary>The newest before and after photo of one zone of a visit.</summary>
public sealed record PhotoPair(string Zone, PhotoResponse? Before, PhotoResponse? After);

public sealed record VisitPhotosResponse(Guid VisitId, IReadOnlyList<PhotoResponse> Photos, IReadOnlyList<PhotoPair> Pairs);

public sealed record PhotoConsentRequest(bool? Granted, string? Method, string? Note);

public sealed record PhotoConsentResponse(Guid Id, Guid PatientId, bool Granted, string Method, string? Note, Guid RecordedBy, DateTimeOffset RecordedAt)
{
    public static PhotoConsentResponse From(PhotoConsent c) => new(c.Id, c.PatientId, c.Granted, c.Method, c.Note, c.RecordedBy, c.RecordedAt);
}

public sealed record PhotoConsentStatus(Guid PatientId, bool Granted, PhotoConsentResponse? Current, IReadOnlyList<PhotoConsentResponse> History);

public sealed record PhotoLinkRequest(string? Variant, int? ExpiresInSeconds);

public sealed record PhotoLinkResponse(string Url, DateTimeOffset ExpiresAt, string Variant);

public sealed record LegalHoldRequest(bool? Hold);

public sealed record PhotoRetentionRequest(int? Years);

public sealed record PhotoRetentionResponse(Guid ClinicId, int? Years);

/// <summary>
/// Photos and documents of a visit's chart (issue 17 §3). An upload is multipart (<c>file</c>, optional <c>zone</c> and
/// <c>pairing</c> = before/after), at most 20 MB, a JPEG, PNG, WebP or HEIC by its magic bytes; the patient's photo
/// consent must be on record first. The bytes are encrypted (<see cref="BlobCipher"/>) into the blob store under a
/// random key; reads go through short-lived signed links. Every read and upload is in the audit trail. An upload with an
/// <c>Idempotency-Key</c> (the tablet's queued photo) stores the photo once: a resend after a lost answer gets the same
/// photo back (its id derives from the visit and the key).
/// </summary>
public static class PhotosApi
{
    private static readonly string[] Methods = ["verbal", "written", "electronic"];

    public static IHostApplicationBuilder AddMedSpaPhotosFeature(this IHostApplicationBuilder builder)
    {
        PhotosHosting.AddMedSpaPhotos(builder.Services, builder.Configuration, withHousekeeping: false);
        builder.Services.AddSingleton<PhotoLinkSigner>();
        return builder;
    }

    public static IEndpointRouteBuilder MapPhotosApi(this IEndpointRouteBuilder app)
    {
        var consent = app.MapGroup("/api/patients/{patientId:guid}/photo-consent").RequireAuthorization(Policies.Staff).WithTags("Photos");
        consent.MapGet("", GetConsentAsync).WithName("GetPhotoConsent");
        consent.MapPost("", RecordConsentAsync).WithName("RecordPhotoConsent")
            .WithSummary("Records the patient's photo consent (granted, or withdrawn with granted=false): who, when, how.");

        var visit = app.MapGroup("/api/visits/{visitId:guid}/chart/photos").RequireAuthorization(Policies.Staff).WithTags("Photos");
        visit.MapPost("", UploadAsync).WithName("UploadChartPhoto").WithMetadata(new PanGuardOwnBodyScan()).DisableAntiforgery()
            .WithSummary("multipart/form-data: file (JPEG/PNG/WebP/HEIC, at most 20 MB), zone, pairing (before/after).");
        visit.MapGet("", ListAsync).WithName("ListChartPhotos");

        var photo = app.MapGroup("/api/photos/{photoId:guid}").RequireAuthorization(Policies.Staff).WithTags("Photos");
        photo.MapGet("", GetAsync).WithName("GetPhoto");
        photo.MapPost("/links", LinkAsync).WithName("CreatePhotoLink")
            .WithSummary("A signed download link of the original or its thumbnail, valid 30 s to 1 h (default 5 min). It is a secret.");
        photo.MapPut("/legal-hold", LegalHoldAsync).RequireAuthorization(Policies.Admin).WithName("SetPhotoLegalHold");

        app.MapGet("/api/photo-links/content", DownloadAsync).AllowAnonymous().WithTags("Photos").WithName("DownloadPhoto");

        var retention = app.MapGroup("/api/clinics/{clinicId:guid}/photo-retention").RequireAuthorization(Policies.Admin).WithTags("Photos");
        retention.MapGet("", GetRetentionAsync).WithName("GetPhotoRetention");
        retention.MapPut("", SetRetentionAsync).WithName("SetPhotoRetention")
            .WithSummary("Photos of visits older than this many years are deleted by housekeeping unless on legal hold; null keeps them.");
        return app;
    }

    // ---- consent -------------------------------------------------------------------------------------------------

    private static async Task<Results<Ok<PhotoConsentStatus>, ProblemHttpResult>> GetConsentAsync(
        Guid patientId, CurrentUser user, PhotoStore store, CancellationToken ct)
    {
        if (!await store.PatientExistsAsync(user.TenantId, patientId, ct))
        {
            return ApiProblems.NotFound("Patient");
        }

        var history = (await store.ConsentsAsync(user.TenantId, patientId, ct)).Select(PhotoConsentResponse.From).ToList();
        return TypedResults.Ok(new PhotoConsentStatus(patientId, history.FirstOrDefault()?.Granted == true, history.FirstOrDefault(), history));
    }

    private static async Task<Results<Created<PhotoConsentResponse>, ProblemHttpResult>> RecordConsentAsync(
        Guid patientId, [FromBody] PhotoConsentRequest? request, CurrentUser user, PhotoStore store, AuditTrail audit, TimeProvider time,
        HttpContext http, CancellationToken ct)
    {
        var method = request?.Method?.Trim().ToLowerInvariant();
        if (method is null || !Methods.Contains(method))
        {
            return Refusal.Invalid("method", "method must be one of: verbal, written, electronic.").ToProblem();
        }

        if (request!.Note is { Length: > 1000 })
        {
            return Refusal.Invalid("note", "note must be at most 1000 characters.").ToProblem();
        }

        if (!await store.PatientExistsAsync(user.TenantId, patientId, ct))
        {
            return ApiProblems.NotFound("Patient");
        }

        var consent = new PhotoConsent(Guid.NewGuid(), patientId, request.Granted ?? true, method, request.Note?.Trim(), user.UserId, time.GetUtcNow());
        await store.RecordConsentAsync(user.TenantId, consent, ct);
        await audit.RecordAsync(http, user, consent.Granted ? "consent.photo_granted" : "consent.photo_withdrawn", patientId, null,
            "photo-consent", consent.Id, method, CancellationToken.None);
        return TypedResults.Created($"/api/patients/{patientId}/photo-consent", PhotoConsentResponse.From(consent));
    }

    // ---- upload --------------------------------------------------------------------------------------------------

    private static async Task<Results<Created<PhotoResponse>, ProblemHttpResult>> UploadAsync(
        Guid visitId, HttpRequest request, CurrentUser user, IGrainFactory grains,
        [FromKeyedServices(GrainCallRetry.Key)] ResiliencePipeline retry, PhotoStore store, IBlobStore blobs, BlobKeyRing keys,
        AuditTrail audit, TimeProvider time, ILoggerFactory loggers, [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey,
        CancellationToken ct)
    {
        if (!ChartsApi.MayChart(user))
        {
            return new Refusal(ErrorCodes.Forbidden, "Only providers, admins and owners add photos to a chart.").ToProblem();
        }

        if (idempotencyKey is not null && (string.IsNullOrWhiteSpace(idempotencyKey) || idempotencyKey.Length > 200))
        {
            return Refusal.Invalid("Idempotency-Key", "Idempotency-Key is 1 to 200 characters.").ToProblem();
        }

        var visit = await VisitsApi.ReadAsync(grains, retry, user, visitId, ct);
        if (visit is null)
        {
            return ApiProblems.NotFound("Visit");
        }

        // The photos are part of the signed record (by their hash): a signed chart takes none (issue 17 §4).
        var chart = await retry.ExecuteAsync(async _ => await grains.GetGrain<ITreatmentChartGrain>(TenantKeys.For(user.TenantId, visitId)).GetAsync(), ct);
        if (chart is not null && MedSpa.Grains.Domain.Charts.ChartSigningRules.RefuseIfSigned(chart) is { } signed)
        {
            return signed.ToProblem();
        }

        // Multipart framing adds a little; anything announced well beyond the limit is refused before it is read.
        if (request.ContentLength is > PhotoImages.MaxBytes + 64 * 1024)
        {
            return TooLarge();
        }

        // A request that is not an upload at all is the caller's mistake whatever this server's configuration: 400 first.
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var media)
            || !media.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase)
            || HeaderUtilities.RemoveQuotes(media.Boundary).Value is not { Length: > 0 and <= 200 } boundary)
        {
            return Refusal.Invalid("file", "Send the photo as multipart/form-data with a part named 'file'.").ToProblem();
        }

        if (!keys.IsConfigured)
        {
            return new Refusal(PhotoRefusals.StorageNotConfigured, "Photo encryption keys are not configured (Photos:Keys, Photos:CurrentKeyId).").ToProblem();
        }

        if (await store.CurrentConsentAsync(user.TenantId, visit.PatientId, ct) is not { Granted: true })
        {
            return new Refusal(PhotoRefusals.ConsentRequired,
                "The patient's photo consent must be recorded first (POST /api/patients/{patientId}/photo-consent).")
                .With("patientId", visit.PatientId).ToProblem();
        }

        var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        byte[]? buffer = null;
        var length = 0L;
        try
        {
            try
            {
                var reader = new MultipartReader(boundary, request.Body);
                while (await reader.ReadNextSectionAsync(ct) is { } section)
                {
                    var disposition = section.GetContentDispositionHeader();
                    var name = disposition?.Name.Value?.Trim('"') ?? "";
                    if (disposition is not null && disposition.IsFileDisposition())
                    {
                        if (buffer is not null)
                        {
                            return Refusal.Invalid("file", "One photo per upload.").ToProblem();
                        }

                        // One buffer for the plaintext: Skia needs the whole image for the thumbnail anyway, and it never
                        // touches the disk unencrypted. Rented, so 20 MB buffers are reused between uploads.
                        buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(PhotoImages.MaxBytes + 1, Math.Max(request.ContentLength ?? 0, 1024 * 1024)));
                        (buffer, length) = await ReadCappedAsync(section.Body, buffer, PhotoImages.MaxBytes + 1, ct);
                        if (length > PhotoImages.MaxBytes)
                        {
                            return TooLarge();
                        }
                    }
                    else
                    {
                        using var text = new StreamReader(section.Body);
                        var chars = new char[201];
                        var read = await text.ReadBlockAsync(chars, ct);
                        if (read > 200)
                        {
                            return Refusal.Invalid(name, $"{name} must be at most 200 characters.").ToProblem();
                        }

                        var value = new string(chars, 0, read);
                        // The pan guard leaves this body to the handler (see PanGuardOwnBodyScan): the text fields get its check here.
                        if (PanDetector.FindLast4(value) is not null)
                        {
                            return new Refusal(PanGuardMiddleware.ErrorCode, "Card numbers are not accepted.", name).ToProblem();
                        }

                        fields[name] = value;
                    }
                }
            }
            catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                return TooLarge();
            }
            catch (Exception e) when (e is InvalidDataException or IOException && e is not BadHttpRequestException)
            {
                return Refusal.Invalid("file", "The multipart body is malformed.").ToProblem();
            }

            if (buffer is null || length == 0)
            {
                return Refusal.Invalid("file", "A non-empty part named 'file' is required.").ToProblem();
            }

            var zone = fields.GetValueOrDefault("zone")?.Trim() is { Length: > 0 } z ? z : null;
            var pairing = fields.GetValueOrDefault("pairing")?.Trim().ToLowerInvariant() is { Length: > 0 } pr ? pr : null;
            if (pairing is not (null or "before" or "after"))
            {
                return Refusal.Invalid("pairing", "pairing must be 'before' or 'after'.").ToProblem();
            }

            if (pairing is not null && zone is null)
            {
                return Refusal.Invalid("zone", "A before/after photo names its zone.").ToProblem();
            }

            if (zone is { Length: > 100 })
            {
                return Refusal.Invalid("zone", "zone must be at most 100 characters.").ToProblem();
            }

            var plaintext = buffer.AsMemory(0, (int)length);
            var sha256 = SHA256.HashData(plaintext.Span);
            var photoId = idempotencyKey is null ? Guid.NewGuid() : MedSpa.Grains.Domain.Charts.ChartSigningRules.DerivedId(visitId, idempotencyKey, "photo");
            if (idempotencyKey is not null && await ReplayAsync(store, user, visitId, photoId, sha256, ct) is { } replay)
            {
                return replay;
            }

            var contentType = PhotoImages.Sniff(plaintext.Span[..(int)Math.Min(length, 32)]);
            if (contentType is null)
            {
                return new Refusal(PhotoRefusals.UnsupportedType, "The file is not a JPEG, PNG, WebP or HEIC image (judged by its content).").ToProblem();
            }

            PhotoImages.Thumbnail? thumbnail = null;
            if (contentType != "image/heic")
            {
                thumbnail = PhotoImages.MakeThumbnail(plaintext.Span);
                if (thumbnail is null)
                {
                    return new Refusal(PhotoRefusals.UnsupportedType, $"The file starts like {contentType} but does not decode as one.").ToProblem();
                }
            }

            var keyId = keys.CurrentKeyId!;
            var key = keys.Current;
            var objectKey = BlobKeys.New();
            var thumbnailKey = thumbnail is null ? null : BlobKeys.Thumbnail(objectKey);
            await blobs.PutAsync(objectKey, (target, token) => BlobCipher.EncryptAsync(new MemoryStream(buffer, 0, (int)length, writable: false), target, keyId, key, token), ct);
            try
            {
                if (thumbnail is not null)
                {
                    await blobs.PutAsync(thumbnailKey!, (target, token) => BlobCipher.EncryptAsync(new MemoryStream(thumbnail.Jpeg, writable: false), target, keyId, key, token), ct);
                }

                var record = new PhotoRecord(photoId, visitId, visit.ClinicId, visit.PatientId, visit.ScheduledStart, zone, pairing, contentType, length,
                    sha256, objectKey, keyId, thumbnailKey, thumbnail?.SourceWidth, thumbnail?.SourceHeight, user.UserId,
                    time.GetUtcNow(), LegalHold: false);
                await store.InsertAsync(user.TenantId, record, ct);
                await audit.RecordAsync(request.HttpContext, user, "photo.uploaded", visit.PatientId, visitId, "photo", record.Id,
                    $"{contentType}, {length} bytes" + (zone is null ? "" : $", {zone}") + (pairing is null ? "" : $" {pairing}"), CancellationToken.None);
                return TypedResults.Created($"/api/photos/{record.Id}", PhotoResponse.From(record));
            }
            catch (Npgsql.PostgresException e) when (e.SqlState == Npgsql.PostgresErrorCodes.UniqueViolation && idempotencyKey is not null)
            {
                // The same upload sent twice at once: the other one stored it; these objects are spare.
                await DeleteQuietlyAsync(blobs, objectKey, loggers);
                if (thumbnailKey is not null)
                {
                    await DeleteQuietlyAsync(blobs, thumbnailKey, loggers);
                }

                return await ReplayAsync(store, user, visitId, photoId, sha256, ct) ?? throw new InvalidOperationException("A photo id collided but is not there.");
            }
            catch
            {
                // No row names these objects: remove them rather than leave encrypted orphans behind.
                await DeleteQuietlyAsync(blobs, objectKey, loggers);
                if (thumbnailKey is not null)
                {
                    await DeleteQuietlyAsync(blobs, thumbnailKey, loggers);
                }

                throw;
            }
        }
        finally
        {
            // Every way out, early refusals included, wipes and returns the plaintext buffer.
            Return(buffer);
        }
    }

    /// <summary>
    /// The photo an earlier upload with the same Idempotency-Key stored (the same bytes for the same visit), answered
    /// as it was; a refusal when the key named other bytes or another visit; null when there is none yet.
    /// </summary>
    private static async Task<Results<Created<PhotoResponse>, ProblemHttpResult>?> ReplayAsync(
        PhotoStore store, CurrentUser user, Guid visitId, Guid photoId, byte[] sha256, CancellationToken ct)
    {
        if (await store.GetAsync(user.TenantId, photoId, ct) is not { } earlier)
        {
            return null;
        }

        if (earlier.VisitId != visitId || !earlier.Sha256.AsSpan().SequenceEqual(sha256))
        {
            return new Refusal(PhotoRefusals.IdempotencyConflict, "This Idempotency-Key was already used for another photo: use a new key for a new photo.",
                "Idempotency-Key").ToProblem();
        }

        return TypedResults.Created($"/api/photos/{earlier.Id}", PhotoResponse.From(earlier));
    }

    private static ProblemHttpResult TooLarge() =>
        new Refusal(PhotoRefusals.TooLarge, $"A photo is at most {PhotoImages.MaxBytes / (1024 * 1024)} MB.").With("maxBytes", PhotoImages.MaxBytes).ToProblem();

    /// <summary>Reads up to <paramref name="cap"/> bytes, growing the rented buffer when the length was not announced.</summary>
    private static async Task<(byte[] Buffer, long Length)> ReadCappedAsync(Stream source, byte[] buffer, long cap, CancellationToken ct)
    {
        var length = 0;
        while (length < cap)
        {
            if (length == buffer.Length)
            {
                var bigger = ArrayPool<byte>.Shared.Rent((int)Math.Min(cap, (long)buffer.Length * 2));
                buffer.AsSpan(0, length).CopyTo(bigger);
                CryptographicOperations.ZeroMemory(buffer.AsSpan(0, length));
                ArrayPool<byte>.Shared.Return(buffer);
                buffer = bigger;
            }

            var read = await source.ReadAsync(buffer.AsMemory(length, (int)Math.Min(buffer.Length - length, cap - length)), ct);
            if (read == 0)
            {
                break;
            }

            length += read;
        }

        return (buffer, length);
    }

    private static void Return(byte[]? buffer)
    {
        if (buffer is not null)
        {
            CryptographicOperations.ZeroMemory(buffer);
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task DeleteQuietlyAsync(IBlobStore blobs, string key, ILoggerFactory loggers)
    {
        try
        {
            await blobs.DeleteAsync(key, CancellationToken.None);
        }
        catch (Exception e)
        {
            loggers.CreateLogger(typeof(PhotosApi).FullName!).LogWarning(e, "Could not remove the unreferenced object of a failed upload");
        }
    }

    // ---- reads ---------------------------------------------------------------------------------------------------

    private static async Task<Results<Ok<VisitPhotosResponse>, ProblemHttpResult>> ListAsync(
        Guid visitId, CurrentUser user, IGrainFactory grains, [FromKeyedServices(GrainCallRetry.Key)] ResiliencePipeline retry,
        PhotoStore store, AuditTrail audit, HttpContext http, CancellationToken ct)
    {
        var visit = await VisitsApi.ReadAsync(grains, retry, user, visitId, ct);
        if (visit is null)
        {
            return ApiProblems.NotFound("Visit");
        }

        var photos = (await store.ListForVisitAsync(user.TenantId, visitId, ct)).Select(PhotoResponse.From).ToList();
        var pairs = photos.Where(p => p.Pairing is not null).GroupBy(p => p.Zone!, StringComparer.OrdinalIgnoreCase).OrderBy(g => g.Key, StringComparer.OrdinalIgnoreCase)
            .Select(g => new PhotoPair(g.Key, g.LastOrDefault(p => p.Pairing == "before"), g.LastOrDefault(p => p.Pairing == "after")))
            .ToList();
        await audit.RecordAsync(http, user, "photo.list_read", visit.PatientId, visitId, "chart", visitId, $"{photos.Count} photos", CancellationToken.None);
        return TypedResults.Ok(new VisitPhotosResponse(visitId, photos, pairs));
    }

    /// <summary>The photo when it is the caller's tenant's and in one of the caller's clinics; null looks like "not there".</summary>
    private static async Task<PhotoRecord?> VisibleAsync(Guid photoId, CurrentUser user, PhotoStore store, CancellationToken ct) =>
        await store.GetAsync(user.TenantId, photoId, ct) is { } p && user.CanAccessClinic(p.ClinicId) ? p : null;

    private static async Task<Results<Ok<PhotoResponse>, ProblemHttpResult>> GetAsync(
        Guid photoId, CurrentUser user, PhotoStore store, AuditTrail audit, HttpContext http, CancellationToken ct)
    {
        if (await VisibleAsync(photoId, user, store, ct) is not { } photo)
        {
            return ApiProblems.NotFound("Photo");
        }

        await audit.RecordAsync(http, user, "photo.read", photo.PatientId, photo.VisitId, "photo", photo.Id, null, CancellationToken.None);
        return TypedResults.Ok(PhotoResponse.From(photo));
    }

    private static async Task<Results<Ok<PhotoLinkResponse>, ProblemHttpResult>> LinkAsync(
        Guid photoId, [FromBody] PhotoLinkRequest? request, CurrentUser user, PhotoStore store, PhotoLinkSigner signer, AuditTrail audit,
        TimeProvider time, HttpContext http, CancellationToken ct)
    {
        var variant = request?.Variant?.Trim().ToLowerInvariant() ?? "original";
        if (variant is not ("original" or "thumbnail"))
        {
            return Refusal.Invalid("variant", "variant must be 'original' or 'thumbnail'.").ToProblem();
        }

        var seconds = request?.ExpiresInSeconds ?? 300;
        if (seconds is < 30 or > 3600)
        {
            return Refusal.Invalid("expiresInSeconds", "expiresInSeconds must be between 30 and 3600.").ToProblem();
        }

        if (await VisibleAsync(photoId, user, store, ct) is not { } photo)
        {
            return ApiProblems.NotFound("Photo");
        }

        if (variant == "thumbnail" && photo.ThumbnailKey is null)
        {
            return ApiProblems.NotFound("Thumbnail (HEIC photos have none)");
        }

        var expires = DateTimeOffset.FromUnixTimeSeconds(time.GetUtcNow().AddSeconds(seconds).ToUnixTimeSeconds());
        var token = signer.Create(new PhotoLink(user.TenantId, photo.Id, variant == "thumbnail", expires, user.UserId));
        await audit.RecordAsync(http, user, "photo.link_issued", photo.PatientId, photo.VisitId, "photo", photo.Id,
            $"{variant}, expires {expires:O}", CancellationToken.None);
        return TypedResults.Ok(new PhotoLinkResponse($"/api/photo-links/content?token={token}", expires, variant));
    }

    /// <summary>The link's bytes, decrypted as they stream out. Anything but a valid, unexpired link is a 404/410.</summary>
    private static async Task<Results<FileStreamHttpResult, ProblemHttpResult>> DownloadAsync(
        string? token, PhotoLinkSigner signer, PhotoStore store, IBlobStore blobs, BlobKeyRing keys, AuditTrail audit, TimeProvider time,
        HttpContext http, CancellationToken ct)
    {
        if (signer.Read(token) is not { } link)
        {
            return new Refusal(PhotoRefusals.LinkInvalid, "This link is not valid.").ToProblem();
        }

        if (link.ExpiresAt <= time.GetUtcNow())
        {
            return new Refusal(PhotoRefusals.LinkExpired, "This link has expired: ask for a new one.").ToProblem();
        }

        // A photo deleted since (retention) makes the link invalid rather than an error.
        if (await store.GetAsync(link.TenantId, link.PhotoId, ct) is not { } photo
            || (link.Thumbnail ? photo.ThumbnailKey : photo.ObjectKey) is not { } key
            || await blobs.OpenReadAsync(key, ct) is not { } encrypted)
        {
            return new Refusal(PhotoRefusals.LinkInvalid, "This link is not valid.").ToProblem();
        }

        var plaintext = await BlobCipher.OpenDecryptingAsync(encrypted, keys, ct);
        await audit.AppendAsync(link.TenantId, new AuditEntry(link.IssuedTo, null, AuditRecorder.Device(http, null) is { Length: > 0 } d ? d : null,
            AuditRecorder.UserAgent(http), "photo.downloaded", photo.PatientId, photo.VisitId, "photo", photo.Id,
            link.Thumbnail ? "thumbnail" : "original"), CancellationToken.None);
        http.Response.Headers.CacheControl = "private, no-store";
        return TypedResults.Stream(plaintext, link.Thumbnail ? "image/jpeg" : photo.ContentType);
    }

    // ---- legal hold and retention --------------------------------------------------------------------------------

    private static async Task<Results<Ok<PhotoResponse>, ProblemHttpResult>> LegalHoldAsync(
        Guid photoId, [FromBody] LegalHoldRequest? request, CurrentUser user, PhotoStore store, AuditTrail audit, HttpContext http, CancellationToken ct)
    {
        if (request?.Hold is not { } hold)
        {
            return Refusal.Invalid("hold", "hold (true or false) is required.").ToProblem();
        }

        if (await VisibleAsync(photoId, user, store, ct) is not { } photo)
        {
            return ApiProblems.NotFound("Photo");
        }

        await store.SetLegalHoldAsync(user.TenantId, photoId, hold, ct);
        await audit.RecordAsync(http, user, hold ? "photo.legal_hold_set" : "photo.legal_hold_released", photo.PatientId, photo.VisitId, "photo",
            photo.Id, null, CancellationToken.None);
        return TypedResults.Ok(PhotoResponse.From(photo with { LegalHold = hold }));
    }

    private static async Task<Results<Ok<PhotoRetentionResponse>, ProblemHttpResult>> GetRetentionAsync(
        Guid clinicId, CurrentUser user, PhotoStore store, CancellationToken ct)
    {
        if (!await ClinicVisibleAsync(clinicId, user, store, ct))
        {
            return ApiProblems.NotFound("Clinic");
        }

        return TypedResults.Ok(new PhotoRetentionResponse(clinicId, await store.RetentionYearsAsync(user.TenantId, clinicId, ct)));
    }

    private static async Task<Results<Ok<PhotoRetentionResponse>, ProblemHttpResult>> SetRetentionAsync(
        Guid clinicId, [FromBody] PhotoRetentionRequest? request, CurrentUser user, PhotoStore store, TimeProvider time, CancellationToken ct)
    {
        if (request is null)
        {
            return Refusal.Invalid("body", "A JSON body is required: {\"years\": 7} (null keeps photos for ever).").ToProblem();
        }

        if (request.Years is < 1 or > 100)
        {
            return Refusal.Invalid("years", "years must be between 1 and 100, or null to keep photos for ever.").ToProblem();
        }

        if (!await ClinicVisibleAsync(clinicId, user, store, ct))
        {
            return ApiProblems.NotFound("Clinic");
        }

        await store.SetRetentionAsync(user.TenantId, clinicId, request.Years, user.UserId, time.GetUtcNow(), ct);
        return TypedResults.Ok(new PhotoRetentionResponse(clinicId, request.Years));
    }

    private static async Task<bool> ClinicVisibleAsync(Guid clinicId, CurrentUser user, PhotoStore store, CancellationToken ct) =>
        user.CanAccessClinic(clinicId) && await store.ClinicExistsAsync(user.TenantId, clinicId, ct);
}
