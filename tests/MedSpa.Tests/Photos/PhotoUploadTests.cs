using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.Api.Features.Photos;
using MedSpa.Tests.Charts;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;
using MedSpa.GrainInterfaces;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using SkiaSharp;

namespace MedSpa.Tests.Photos;

/// <summary>Photos through the API on the local filesystem store: consent, sniffing, limits, encryption at rest, links, tenants.</summary>
public sealed class PhotoUploadTests(PhotoApiFactory factory) : IClassFixture<PhotoApiFactory>
{
    [Fact]
    public async Task A_photo_needs_consent_first_then_is_stored_encrypted_under_a_random_key_and_comes_back_whole_through_a_link()
    {
        var world = await PhotoWorld.CreateAsync(factory);
        var visit = await world.BookVisitAsync();
        var provider = world.ProviderClient();
        var jpeg = PhotoWorld.Jpeg(800, 600);

        int StoredObjects() => Directory.Exists(factory.BlobDirectory) ? Directory.GetFiles(factory.BlobDirectory, "*", SearchOption.AllDirectories).Length : 0;
        var before = StoredObjects();
        var (status, refused) = await PhotoWorld.UploadAsync(provider, visit, jpeg, "glabella", "before");
        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Equal("consent_required", refused.GetProperty("code").GetString());
        Assert.Equal(world.Patient, refused.GetProperty("patientId").GetGuid());
        Assert.Equal(before, StoredObjects());

        await world.ConsentAsync();
        var consent = await world.Desk().SendAsync(HttpMethod.Get, $"/api/patients/{world.Patient}/photo-consent", null);
        Assert.True(consent.GetProperty("granted").GetBoolean());
        Assert.Equal("written", consent.GetProperty("current").GetProperty("method").GetString());
        Assert.Equal(world.Flow.FrontDesk.UserId, consent.GetProperty("current").GetProperty("recordedBy").GetGuid());

        var photo = await PhotoWorld.UploadOkAsync(provider, visit, jpeg, "glabella", "before");
        var photoId = photo.GetProperty("id").GetGuid();
        Assert.Equal("image/jpeg", photo.GetProperty("contentType").GetString());
        Assert.Equal(jpeg.Length, photo.GetProperty("byteSize").GetInt64());
        Assert.True(photo.GetProperty("hasThumbnail").GetBoolean());
        Assert.Equal(800, photo.GetProperty("width").GetInt32());
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(jpeg)), photo.GetProperty("sha256").GetString());

        // At rest: two objects (photo, thumbnail) named by a random key — no tenant, patient or visit in the name — and
        // neither holds the photo's bytes: no 64-byte run of the JPEG appears in what is stored.
        await using var db = new NpgsqlConnection(factory.ConnectionString);
        var row = await db.QuerySingleAsync<(string ObjectKey, string KeyId)>(
            "SELECT object_key, key_id FROM chart_photos WHERE tenant_id = @TenantId AND id = @photoId", new { world.TenantId, photoId });
        Assert.Equal("k2", row.KeyId);
        var files = Directory.GetFiles(factory.BlobDirectory, "*", SearchOption.AllDirectories)
            .Where(f => Path.GetFileName(f).StartsWith(row.ObjectKey, StringComparison.Ordinal)).ToList();
        Assert.Equal(2, files.Count);
        foreach (var file in files)
        {
            var name = Path.GetRelativePath(factory.BlobDirectory, file);
            Assert.DoesNotContain(world.TenantId.ToString("N"), name.Replace("-", ""), StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(world.Patient.ToString("N"), name.Replace("-", ""), StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("Jane", name, StringComparison.OrdinalIgnoreCase);
        }

        var stored = await File.ReadAllBytesAsync(files.Single(f => !f.EndsWith(".thumb", StringComparison.Ordinal)));
        Assert.False(stored.AsSpan().StartsWith(jpeg.AsSpan(0, 3)));
        for (var offset = 0; offset + 64 <= jpeg.Length; offset += 4096)
        {
            Assert.True(stored.AsSpan().IndexOf(jpeg.AsSpan(offset, 64)) < 0, $"plaintext at offset {offset} found in the stored object");
        }

        // The link (no credentials needed) gives the original back byte for byte, and a thumbnail at most 320 px wide.
        Assert.Equal(jpeg, await PhotoWorld.DownloadAsync(factory, provider, photoId));
        using var thumbnail = SKBitmap.Decode(await PhotoWorld.DownloadAsync(factory, provider, photoId, "thumbnail"));
        Assert.Equal((320, 240), (thumbnail.Width, thumbnail.Height));

        // The after photo of the same zone makes a pair.
        var after = await PhotoWorld.UploadOkAsync(provider, visit, PhotoWorld.Jpeg(640, 480, seed: 2), "glabella", "after");
        await PhotoWorld.UploadOkAsync(provider, visit, PhotoWorld.Jpeg(300, 300, seed: 3), "chin");
        var list = await world.Desk().SendAsync(HttpMethod.Get, $"/api/visits/{visit}/chart/photos", null);
        Assert.Equal(3, list.GetProperty("photos").GetArrayLength());
        var pair = Assert.Single(list.GetProperty("pairs").EnumerateArray());
        Assert.Equal("glabella", pair.GetProperty("zone").GetString());
        Assert.Equal(photoId, pair.GetProperty("before").GetProperty("id").GetGuid());
        Assert.Equal(after.GetProperty("id").GetGuid(), pair.GetProperty("after").GetProperty("id").GetGuid());

        // A withdrawn consent stops further photos.
        await world.Desk().SendAsync(HttpMethod.Post, $"/api/patients/{world.Patient}/photo-consent", new { granted = false, method = "verbal" },
            HttpStatusCode.Created);
        Assert.Equal(HttpStatusCode.Conflict, (await PhotoWorld.UploadAsync(provider, visit, jpeg)).Status);
    }

    [Fact]
    public async Task Content_decides_the_type_not_the_declared_one_and_bad_uploads_change_nothing()
    {
        var world = await PhotoWorld.CreateAsync(factory);
        var visit = await world.BookVisitAsync();
        await world.ConsentAsync();
        var provider = world.ProviderClient();

        // A text file declared as a JPEG: refused by its content.
        var (status, body) = await PhotoWorld.UploadAsync(provider, visit, "not a photo at all, just text"u8.ToArray());
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, status);
        Assert.Equal("photo_unsupported_type", body.GetProperty("code").GetString());

        // A PNG declared as application/octet-stream is a PNG; an HEIC is stored without a thumbnail.
        using (var png = new SKBitmap(50, 40))
        {
            using var encoded = png.Encode(SKEncodedImageFormat.Png, 100);
            var (pngStatus, pngBody) = await PhotoWorld.UploadAsync(provider, visit, encoded.ToArray(), declaredType: "application/octet-stream");
            Assert.Equal(HttpStatusCode.Created, pngStatus);
            Assert.Equal("image/png", pngBody.GetProperty("contentType").GetString());
        }

        var heic = PhotoWorld.Heic();
        var stored = await PhotoWorld.UploadOkAsync(provider, visit, heic, "forehead");
        Assert.Equal("image/heic", stored.GetProperty("contentType").GetString());
        Assert.False(stored.GetProperty("hasThumbnail").GetBoolean());
        Assert.Equal(heic, await PhotoWorld.DownloadAsync(factory, provider, stored.GetProperty("id").GetGuid()));
        await provider.ProblemAsync(HttpMethod.Post, $"/api/photos/{stored.GetProperty("id").GetGuid()}/links", new { variant = "thumbnail" },
            HttpStatusCode.NotFound, "not_found");

        // Over 20 MB: 413 with the limit, and nothing stored.
        var big = new byte[PhotoImages.MaxBytes + 1];
        PhotoWorld.Jpeg(10, 10).CopyTo(big, 0);
        (status, body) = await PhotoWorld.UploadAsync(provider, visit, big);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Equal("photo_too_large", body.GetProperty("code").GetString());
        Assert.Equal(PhotoImages.MaxBytes, body.GetProperty("maxBytes").GetInt64());

        // Before/after without a zone, and a pairing that is neither.
        (status, body) = await PhotoWorld.UploadAsync(provider, visit, PhotoWorld.Jpeg(20, 20), pairing: "before");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.True(body.GetProperty("errors").TryGetProperty("zone", out _));
        (status, _) = await PhotoWorld.UploadAsync(provider, visit, PhotoWorld.Jpeg(20, 20), "chin", "during");
        Assert.Equal(HttpStatusCode.BadRequest, status);

        // The front desk does not chart.
        (status, body) = await PhotoWorld.UploadAsync(world.Desk(), visit, PhotoWorld.Jpeg(20, 20));
        Assert.Equal(HttpStatusCode.Forbidden, status);

        var list = await provider.SendAsync(HttpMethod.Get, $"/api/visits/{visit}/chart/photos", null);
        Assert.Equal(2, list.GetProperty("photos").GetArrayLength());
    }

    [Fact]
    public async Task Another_organisations_ids_are_not_found_and_links_cannot_be_forged_or_used_after_expiry()
    {
        var mine = await PhotoWorld.CreateAsync(factory);
        var theirs = await PhotoWorld.CreateAsync(factory);
        var myVisit = await mine.BookVisitAsync();
        await mine.ConsentAsync();
        var photo = (await PhotoWorld.UploadOkAsync(mine.ProviderClient(), myVisit, PhotoWorld.Jpeg(64, 64))).GetProperty("id").GetGuid();

        var other = theirs.ProviderClient();
        await theirs.ConsentAsync();
        Assert.Equal(HttpStatusCode.NotFound, (await PhotoWorld.UploadAsync(other, myVisit, PhotoWorld.Jpeg(64, 64))).Status);
        await other.ProblemAsync(HttpMethod.Get, $"/api/visits/{myVisit}/chart/photos", null, HttpStatusCode.NotFound, "not_found");
        await other.ProblemAsync(HttpMethod.Get, $"/api/photos/{photo}", null, HttpStatusCode.NotFound, "not_found");
        await other.ProblemAsync(HttpMethod.Post, $"/api/photos/{photo}/links", new { variant = "original" }, HttpStatusCode.NotFound, "not_found");
        await theirs.Owner().ProblemAsync(HttpMethod.Put, $"/api/photos/{photo}/legal-hold", new { hold = true }, HttpStatusCode.NotFound, "not_found");
        await theirs.Owner().ProblemAsync(HttpMethod.Put, $"/api/clinics/{mine.ClinicId}/photo-retention", new { years = 1 }, HttpStatusCode.NotFound,
            "not_found");
        await other.ProblemAsync(HttpMethod.Post, $"/api/patients/{mine.Patient}/photo-consent", new { method = "verbal" }, HttpStatusCode.NotFound,
            "not_found");

        // A link is only what the server signed: a changed character, or a genuine one past its time, opens nothing.
        var link = (await mine.ProviderClient().SendAsync(HttpMethod.Post, $"/api/photos/{photo}/links", new { variant = "original", expiresInSeconds = 60 }))
            .GetProperty("url").GetString()!;
        var token = link[(link.IndexOf("token=", StringComparison.Ordinal) + 6)..];
        var forged = token[..10] + (token[10] == 'A' ? 'B' : 'A') + token[11..];
        var anonymous = factory.CreateClient();
        await anonymous.ProblemAsync(HttpMethod.Get, "/api/photo-links/content?token=" + forged, null, HttpStatusCode.NotFound, "photo_link_invalid");
        var signer = factory.Services.GetRequiredService<PhotoLinkSigner>();
        var expired = signer.Create(new PhotoLink(mine.TenantId, photo, false, DateTimeOffset.UtcNow.AddSeconds(-1), mine.Provider.UserId));
        await anonymous.ProblemAsync(HttpMethod.Get, "/api/photo-links/content?token=" + expired, null, HttpStatusCode.Gone, "photo_link_expired");
        // A link names its tenant: the same photo id under another tenant is not there.
        var crossTenant = signer.Create(new PhotoLink(theirs.TenantId, photo, false, DateTimeOffset.UtcNow.AddMinutes(1), theirs.Provider.UserId));
        await anonymous.ProblemAsync(HttpMethod.Get, "/api/photo-links/content?token=" + crossTenant, null, HttpStatusCode.NotFound, "photo_link_invalid");
        using var ok = await anonymous.GetAsync(link);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    [Fact]
    public async Task Housekeeping_deletes_photos_past_the_clinics_retention_except_those_on_legal_hold()
    {
        var world = await PhotoWorld.CreateAsync(factory);
        var visit = await world.BookVisitAsync();
        await world.ConsentAsync();
        var provider = world.ProviderClient();
        var old = (await PhotoWorld.UploadOkAsync(provider, visit, PhotoWorld.Jpeg(64, 64, seed: 11))).GetProperty("id").GetGuid();
        var held = (await PhotoWorld.UploadOkAsync(provider, visit, PhotoWorld.Jpeg(64, 64, seed: 12))).GetProperty("id").GetGuid();
        var recent = (await PhotoWorld.UploadOkAsync(provider, visit, PhotoWorld.Jpeg(64, 64, seed: 13))).GetProperty("id").GetGuid();
        var link = (await provider.SendAsync(HttpMethod.Post, $"/api/photos/{old}/links", new { variant = "original" })).GetProperty("url").GetString()!;

        // Only owners and admins set retention and legal hold.
        await provider.ProblemAsync(HttpMethod.Put, $"/api/clinics/{world.ClinicId}/photo-retention", new { years = 1 }, HttpStatusCode.Forbidden, "forbidden");
        await world.Owner().ProblemAsync(HttpMethod.Put, $"/api/clinics/{world.ClinicId}/photo-retention", new { years = 0 }, HttpStatusCode.BadRequest,
            "validation_failed");
        var retention = await world.Owner().SendAsync(HttpMethod.Put, $"/api/clinics/{world.ClinicId}/photo-retention", new { years = 7 });
        Assert.Equal(7, retention.GetProperty("years").GetInt32());
        var hold = await world.Owner().SendAsync(HttpMethod.Put, $"/api/photos/{held}/legal-hold", new { hold = true });
        Assert.True(hold.GetProperty("legalHold").GetBoolean());

        // Two of the photos are of a visit eight years back (the booking API takes no past dates, so the age is set here).
        await using var db = new NpgsqlConnection(factory.ConnectionString);
        await db.ExecuteAsync("UPDATE chart_photos SET visit_date = now() - interval '8 years' WHERE tenant_id = @TenantId AND id = ANY(@ids)",
            new { world.TenantId, ids = new[] { old, held } });
        var keys = (await db.QueryAsync<string>("SELECT object_key FROM chart_photos WHERE tenant_id = @TenantId AND id = @old",
            new { world.TenantId, old })).Single();

        // As the reminder runs it.
        var housekeeping = factory.Services.GetRequiredService<IGrainFactory>().GetGrain<MedSpa.GrainInterfaces.Housekeeping.IHousekeepingGrain>(
            MedSpa.GrainInterfaces.Housekeeping.IHousekeepingGrain.GlobalKey);
        var status = await housekeeping.RunNowAsync();
        var task = Assert.Single(status.Tasks, t => t.Name == "photo-retention");
        Assert.Null(task.LastError);

        await provider.ProblemAsync(HttpMethod.Get, $"/api/photos/{old}", null, HttpStatusCode.NotFound, "not_found");
        await provider.SendAsync(HttpMethod.Get, $"/api/photos/{held}", null);
        await provider.SendAsync(HttpMethod.Get, $"/api/photos/{recent}", null);
        Assert.Empty(Directory.GetFiles(factory.BlobDirectory, keys + "*", SearchOption.AllDirectories));
        await factory.CreateClient().ProblemAsync(HttpMethod.Get, link, null, HttpStatusCode.NotFound, "photo_link_invalid");
        var audit = await world.Owner().SendAsync(HttpMethod.Get, $"/api/patients/{world.Patient}/audit?pageSize=100", null);
        var deletion = Assert.Single(audit.GetProperty("items").EnumerateArray(), e => e.GetProperty("action").GetString() == "photo.deleted_by_retention");
        Assert.Equal(old, deletion.GetProperty("subjectId").GetGuid());

        // Released from hold, the next run takes it too.
        await world.Owner().SendAsync(HttpMethod.Put, $"/api/photos/{held}/legal-hold", new { hold = false });
        await housekeeping.RunNowAsync();
        await provider.ProblemAsync(HttpMethod.Get, $"/api/photos/{held}", null, HttpStatusCode.NotFound, "not_found");
        await provider.SendAsync(HttpMethod.Get, $"/api/photos/{recent}", null);
    }

    // ---- Idempotency-Key (issue 17 §2/§3): a tablet's queued photo, resent after a lost answer, is stored once ----

    private static async Task<(HttpStatusCode Status, JsonElement Body)> UploadAsync(HttpClient client, Guid visitId, byte[] file, string? key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/visits/{visitId}/chart/photos") { Content = PhotoWorld.Form(file, "glabella") };
        if (key is not null)
        {
            request.Headers.TryAddWithoutValidation("Idempotency-Key", key);
        }

        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    private async Task<int> RowsAsync(PhotoWorld world, Guid visit)
    {
        await using var db = new NpgsqlConnection(factory.ConnectionString);
        return await db.ExecuteScalarAsync<int>("SELECT count(*) FROM chart_photos WHERE tenant_id = @TenantId AND visit_id = @visit",
            new { world.TenantId, visit });
    }

    /// <summary>The blob store's files (new ones are what an upload added; housekeeping may only take some away).</summary>
    private HashSet<string> StoredFiles() =>
        Directory.Exists(factory.BlobDirectory) ? [.. Directory.GetFiles(factory.BlobDirectory, "*", SearchOption.AllDirectories)] : [];

    [Fact]
    public async Task A_resent_upload_with_the_same_key_stores_the_photo_once_and_answers_the_same_photo()
    {
        var world = await PhotoWorld.CreateAsync(factory);
        var visit = await world.BookVisitAsync();
        await world.ConsentAsync();
        var provider = world.ProviderClient();
        var jpeg = PhotoWorld.Jpeg(640, 480, seed: 11);
        var key = "photo-" + Guid.NewGuid().ToString("N");

        var first = await UploadAsync(provider, visit, jpeg, key);
        Assert.True(first.Status == HttpStatusCode.Created, $"{(int)first.Status} {first.Body}");
        var objects = StoredFiles();

        // The answer was lost: the tablet sends the same photo with the same key. Same photo, nothing stored again.
        var again = await UploadAsync(provider, visit, jpeg, key);
        Assert.True(again.Status == HttpStatusCode.Created, $"{(int)again.Status} {again.Body}");
        Assert.Equal(first.Body.GetProperty("id").GetGuid(), again.Body.GetProperty("id").GetGuid());
        Assert.Equal(first.Body.GetProperty("sha256").GetString(), again.Body.GetProperty("sha256").GetString());
        Assert.Equal(1, await RowsAsync(world, visit));
        Assert.Empty(StoredFiles().Except(objects));

        // Two sends of another photo racing each other: one photo.
        var raced = PhotoWorld.Jpeg(640, 480, seed: 12);
        var racedKey = "photo-" + Guid.NewGuid().ToString("N");
        var beforeRace = StoredFiles();
        var both = await Task.WhenAll(UploadAsync(provider, visit, raced, racedKey), UploadAsync(world.ProviderClient(), visit, raced, racedKey));
        Assert.All(both, r => Assert.True(r.Status == HttpStatusCode.Created, $"{(int)r.Status} {r.Body}"));
        Assert.Equal(both[0].Body.GetProperty("id").GetGuid(), both[1].Body.GetProperty("id").GetGuid());
        Assert.Equal(2, await RowsAsync(world, visit));
        // The photo and its thumbnail; the other send's spare objects are not left behind.
        Assert.Equal(2, StoredFiles().Except(beforeRace).Count());
        var listed = await world.Desk().SendAsync(HttpMethod.Get, $"/api/visits/{visit}/chart/photos", null);
        Assert.Equal(2, listed.GetProperty("photos").GetArrayLength());

        // Without a key, each upload is a photo of its own (as before).
        await PhotoWorld.UploadOkAsync(provider, visit, jpeg);
        await PhotoWorld.UploadOkAsync(provider, visit, jpeg);
        Assert.Equal(4, await RowsAsync(world, visit));
    }

    [Fact]
    public async Task A_key_reused_for_other_bytes_is_refused_409_and_a_bad_key_400_and_nothing_is_stored()
    {
        var world = await PhotoWorld.CreateAsync(factory);
        var visit = await world.BookVisitAsync();
        await world.ConsentAsync();
        var provider = world.ProviderClient();
        var key = "photo-" + Guid.NewGuid().ToString("N");
        var first = await UploadAsync(provider, visit, PhotoWorld.Jpeg(320, 240, seed: 21), key);
        Assert.Equal(HttpStatusCode.Created, first.Status);
        var objects = StoredFiles();

        var other = await UploadAsync(provider, visit, PhotoWorld.Jpeg(320, 240, seed: 22), key);
        Assert.True(other.Status == HttpStatusCode.Conflict, $"{(int)other.Status} {other.Body}");
        Assert.Equal("photo_idempotency_key_reused", other.Body.GetProperty("code").GetString());
        Assert.Equal(1, await RowsAsync(world, visit));

        var tooLong = await UploadAsync(provider, visit, PhotoWorld.Jpeg(320, 240, seed: 23), new string('k', 201));
        Assert.True(tooLong.Status == HttpStatusCode.BadRequest, $"{(int)tooLong.Status} {tooLong.Body}");
        Assert.True(tooLong.Body.GetProperty("errors").TryGetProperty("Idempotency-Key", out _), tooLong.Body.ToString());
        Assert.Equal(1, await RowsAsync(world, visit));
        Assert.Empty(StoredFiles().Except(objects));
    }
}
