using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.Tests.Checkout;
using Npgsql;

namespace MedSpa.Tests.Photos;

/// <summary>
/// Issue 17 §2/§3: a tablet uploads a photo it queued offline with the photo's own Idempotency-Key, so a resend after a
/// lost answer (or two sends racing on a flaky network) stores the photo once and answers the same photo.
/// </summary>
public sealed class PhotoIdempotencyTests(PhotoApiFactory factory) : IClassFixture<PhotoApiFactory>
{
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

    private int StoredObjects() =>
        Directory.Exists(factory.BlobDirectory) ? Directory.GetFiles(factory.BlobDirectory, "*", SearchOption.AllDirectories).Length : 0;

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
        var objects = StoredObjects();

        // The answer was lost: the tablet sends the same photo with the same key. Same photo, nothing stored again.
        var again = await UploadAsync(provider, visit, jpeg, key);
        Assert.True(again.Status == HttpStatusCode.Created, $"{(int)again.Status} {again.Body}");
        Assert.Equal(first.Body.GetProperty("id").GetGuid(), again.Body.GetProperty("id").GetGuid());
        Assert.Equal(first.Body.GetProperty("sha256").GetString(), again.Body.GetProperty("sha256").GetString());
        Assert.Equal(1, await RowsAsync(world, visit));
        Assert.Equal(objects, StoredObjects());

        // Two sends of another photo racing each other: one photo.
        var raced = PhotoWorld.Jpeg(640, 480, seed: 12);
        var racedKey = "photo-" + Guid.NewGuid().ToString("N");
        var both = await Task.WhenAll(UploadAsync(provider, visit, raced, racedKey), UploadAsync(world.ProviderClient(), visit, raced, racedKey));
        Assert.All(both, r => Assert.True(r.Status == HttpStatusCode.Created, $"{(int)r.Status} {r.Body}"));
        Assert.Equal(both[0].Body.GetProperty("id").GetGuid(), both[1].Body.GetProperty("id").GetGuid());
        Assert.Equal(2, await RowsAsync(world, visit));
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
        var otherVisit = await world.BookVisitAsync();
        await world.ConsentAsync();
        var provider = world.ProviderClient();
        var key = "photo-" + Guid.NewGuid().ToString("N");
        var first = await UploadAsync(provider, visit, PhotoWorld.Jpeg(320, 240, seed: 21), key);
        Assert.Equal(HttpStatusCode.Created, first.Status);
        var objects = StoredObjects();

        var other = await UploadAsync(provider, visit, PhotoWorld.Jpeg(320, 240, seed: 22), key);
        Assert.True(other.Status == HttpStatusCode.Conflict, $"{(int)other.Status} {other.Body}");
        Assert.Equal("photo_idempotency_key_reused", other.Body.GetProperty("code").GetString());
        Assert.Equal(1, await RowsAsync(world, visit));

        var tooLong = await UploadAsync(provider, visit, PhotoWorld.Jpeg(320, 240, seed: 23), new string('k', 201));
        Assert.True(tooLong.Status == HttpStatusCode.BadRequest, $"{(int)tooLong.Status} {tooLong.Body}");
        Assert.True(tooLong.Body.GetProperty("errors").TryGetProperty("Idempotency-Key", out _), tooLong.Body.ToString());
        Assert.Equal(1, await RowsAsync(world, visit));
        Assert.Equal(0, await RowsAsync(world, otherVisit));
        Assert.Equal(objects, StoredObjects());
    }
}
