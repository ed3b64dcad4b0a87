using System.Globalization;
using Dapper;
using MedSpa.Grains.Housekeeping;
using MedSpa.Silo.Audit;
using MedSpa.Silo.Blobs;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Silo.Photos;

/// <summary>
/// Housekeeping (the reminder of <c>grains/Housekeeping</c>): deletes photos older than their clinic's retention
/// (<c>photo_retention</c>) unless they are on legal hold — the encrypted objects first, then the row with an audit
/// event in one transaction, so a failure half-way leaves a row whose deletion the next tick repeats (deleting a
/// missing object is not an error), never an object nobody knows about.
/// </summary>
public sealed class PhotoRetentionSweep(NpgsqlDataSource db, PhotoStore photos, IBlobStore blobs, AuditTrail audit) : IHousekeepingTask
{
    public const string TaskName = "photo-retention";

    /// <summary>Photos per tenant per pass: keeps one tick bounded; the rest go on the next ticks.</summary>
    public const int BatchSize = 200;

    public string Name => TaskName;

    public async Task<int> RunAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        // Across tenants by design, one tenant at a time: photos are tenant rows (row-level security).
        var tenants = await db.TenantIdsAsync("photo retention walks every tenant", cancellationToken);

        var removed = 0;
        foreach (var tenantId in tenants)
        {
            foreach (var photo in await photos.ExpiredAsync(tenantId, now, BatchSize, cancellationToken))
            {
                await blobs.DeleteAsync(photo.ObjectKey, cancellationToken);
                if (photo.ThumbnailKey is { } thumbnail)
                {
                    await blobs.DeleteAsync(thumbnail, cancellationToken);
                }

                var why = new AuditEntry(null, "system", null, null, "photo.deleted_by_retention", photo.PatientId, photo.VisitId, "photo", photo.Id,
                    "visit of " + photo.VisitDate.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) + " past the clinic's retention");
                if (await photos.DeleteAsync(tenantId, photo.Id, audit, why, cancellationToken))
                {
                    removed++;
                }
            }
        }

        return removed;
    }
}
