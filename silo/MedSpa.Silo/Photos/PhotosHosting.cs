using MedSpa.Grains.Housekeeping;
using MedSpa.Silo.Audit;
using MedSpa.Silo.Blobs;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace MedSpa.Silo.Photos;

/// <summary>
/// Photos and the audit trail (issue 17 §3, §5): the key ring, the blob store chosen by <c>Photos:Store</c>, the SQL
/// store and the audit trail. Called by the silo (for the retention sweep) and by the api (uploads, downloads, audit),
/// so everything is TryAdd: co-hosted, both calls meet one set of singletons.
/// </summary>
public static class PhotosHosting
{
    public static void AddMedSpaPhotos(IServiceCollection services, IConfiguration configuration, bool withHousekeeping)
    {
        services.AddOptions<BlobOptions>().Bind(configuration.GetSection(BlobOptions.Section))
            .Validate(o => o.Store is "filesystem" or "s3", "Photos:Store must be 'filesystem' or 's3'.");
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<BlobKeyRing>();
        services.TryAddSingleton<IBlobStore>(sp => sp.GetRequiredService<IOptions<BlobOptions>>().Value.Store == "s3"
            ? ActivatorUtilities.CreateInstance<S3BlobStore>(sp)
            : ActivatorUtilities.CreateInstance<FileSystemBlobStore>(sp));
        services.TryAddSingleton<PhotoStore>();
        services.TryAddSingleton<AuditTrail>();
        if (withHousekeeping)
        {
            services.AddSingleton<IHousekeepingTask, PhotoRetentionSweep>();
        }
    }
}
