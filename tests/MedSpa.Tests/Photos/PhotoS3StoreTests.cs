using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Dapper;
using MedSpa.Tests.Charts;
using MedSpa.Tests.Checkout;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MedSpa.Tests.Photos;

/// <summary>The S3 blob store against s3rver, a real S3-compatible server on loopback (started by the factory).</summary>
public sealed class PhotoS3StoreTests(S3PhotoApiFactory factory) : IClassFixture<S3PhotoApiFactory>
{
    [Fact]
    public async Task Photos_go_encrypted_into_the_bucket_come_back_through_links_and_leave_it_with_retention()
    {
        var world = await PhotoWorld.CreateAsync(factory);
        var visit = await world.BookVisitAsync();
        await world.ConsentAsync();
        var provider = world.ProviderClient();
        var jpeg = PhotoWorld.Jpeg(1200, 900, seed: 21);
        var photo = (await PhotoWorld.UploadOkAsync(provider, visit, jpeg, "cheek left", "before")).GetProperty("id").GetGuid();

        await using var db = new NpgsqlConnection(factory.ConnectionString);
        var key = await db.QuerySingleAsync<string>("SELECT object_key FROM chart_photos WHERE tenant_id = @TenantId AND id = @photo",
            new { world.TenantId, photo });

        // Read the bucket as any S3 client would: the object and its thumbnail are there, and they are ciphertext.
        using var s3 = new AmazonS3Client(new BasicAWSCredentials("S3RVER", "S3RVER"),
            new AmazonS3Config
            {
                ServiceURL = factory.S3.Url, ForcePathStyle = true, AuthenticationRegion = "us-east-1",
                RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED, ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            });
        Assert.True((await s3.GetObjectMetadataAsync(factory.S3.Bucket, key + ".thumb")).ContentLength > 0);
        using (var stored = await s3.GetObjectAsync(factory.S3.Bucket, key))
        using (var bytes = new MemoryStream())
        {
            await stored.ResponseStream.CopyToAsync(bytes);
            Assert.Equal(MedSpa.Silo.Blobs.BlobCipher.EncryptedLength(jpeg.Length, "k2"), bytes.Length);
            Assert.True(bytes.ToArray().AsSpan().IndexOf(jpeg.AsSpan(1000, 64)) < 0);
        }

        Assert.Equal(jpeg, await PhotoWorld.DownloadAsync(factory, provider, photo));

        await world.Owner().SendAsync(HttpMethod.Put, $"/api/clinics/{world.ClinicId}/photo-retention", new { years = 2 });
        await db.ExecuteAsync("UPDATE chart_photos SET visit_date = now() - interval '3 years' WHERE tenant_id = @TenantId", new { world.TenantId });
        var housekeeping = factory.Services.GetRequiredService<IGrainFactory>().GetGrain<MedSpa.GrainInterfaces.Housekeeping.IHousekeepingGrain>(
            MedSpa.GrainInterfaces.Housekeeping.IHousekeepingGrain.GlobalKey);
        Assert.Null(Assert.Single((await housekeeping.RunNowAsync()).Tasks, t => t.Name == "photo-retention").LastError);
        foreach (var gone in new[] { key, key + ".thumb" })
        {
            var missing = await Assert.ThrowsAsync<AmazonS3Exception>(() => s3.GetObjectMetadataAsync(factory.S3.Bucket, gone));
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }
        await provider.ProblemAsync(HttpMethod.Get, $"/api/photos/{photo}", null, HttpStatusCode.NotFound, "not_found");
    }
}
