using System.Text.Json;
using Dapper;
using MedSpa.GrainInterfaces.Charts;
using MedSpa.Grains.Charts;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Silo.Charts;

/// <summary>
/// The chart grain's SQL copy. One transaction per projection: the chart row moves forward only (version guard), and
/// only then are the points the grain changed since the last projection written (upserted by point id, guarded by
/// the point's version; deleted once removed), so a late or repeated projection of an older version writes nothing
/// and an operation costs the rows it touched, not the whole chart.
/// </summary>
public sealed class PostgresChartStore(NpgsqlDataSource db) : IChartStore
{
    public async Task ProjectAsync(Guid tenantId, TreatmentChart chart, IReadOnlyCollection<Guid>? changedPoints = null)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId);
        await using var tx = await conn.BeginTransactionAsync();
        var moved = await conn.ExecuteAsync(
            """
            INSERT INTO treatment_charts (tenant_id, visit_id, clinic_id, patient_id, provider_id, status, version, notes, visit_date,
                                          created_at, updated_at)
            VALUES (@tenantId, @VisitId, @ClinicId, @PatientId, @ProviderId, @Status, @Version, @notes::jsonb, @VisitDate, @CreatedAt, @UpdatedAt)
            ON CONFLICT (tenant_id, visit_id) DO UPDATE
            SET provider_id = excluded.provider_id, status = excluded.status, version = excluded.version, notes = excluded.notes,
                updated_at = excluded.updated_at
            WHERE treatment_charts.version < excluded.version
            """,
            new
            {
                tenantId, chart.VisitId, chart.ClinicId, chart.PatientId, chart.ProviderId, chart.Status, chart.Version,
                notes = JsonSerializer.Serialize(chart.Notes, JsonSerializerOptions.Web), chart.VisitDate, chart.CreatedAt, chart.UpdatedAt,
            }, tx);
        if (moved == 0)
        {
            await tx.RollbackAsync();
            return;
        }

        var p = changedPoints is null ? chart.Points : [.. chart.Points.Where(x => changedPoints.Contains(x.Id))];
        await conn.ExecuteAsync(
            changedPoints is null
                ? "DELETE FROM chart_points WHERE tenant_id = @tenantId AND visit_id = @VisitId"
                : "DELETE FROM chart_points WHERE tenant_id = @tenantId AND visit_id = @VisitId AND point_id = ANY(@removed)",
            new { tenantId, chart.VisitId, removed = changedPoints?.Except(p.Select(x => x.Id)).ToArray() ?? [] }, tx);
        if (p.Count == 0)
        {
            await tx.CommitAsync();
            return;
        }

        await conn.ExecuteAsync(
            """
            INSERT INTO chart_points AS cp (tenant_id, visit_id, point_id, clinic_id, patient_id, provider_id, visit_date, zone, x, y, product_id,
                                      product_name, product_kind, lot_number, units, volume_ml, depth, technique, needle_gauge, notes, version)
            SELECT @tenantId, @VisitId, u.point_id, @ClinicId, @PatientId, @ProviderId, @VisitDate, u.zone, u.x, u.y, u.product_id,
                   u.product_name, u.product_kind, u.lot_number, u.units, u.volume_ml, u.depth, u.technique, u.needle_gauge, u.notes, u.version
            FROM unnest(@ids, @zones, @xs, @ys, @products, @names, @kinds, @lots, @units, @volumes, @depths, @techniques, @gauges, @notes, @versions)
                AS u(point_id, zone, x, y, product_id, product_name, product_kind, lot_number, units, volume_ml, depth, technique,
                     needle_gauge, notes, version)
            ON CONFLICT (tenant_id, visit_id, point_id) DO UPDATE
            SET provider_id = excluded.provider_id, zone = excluded.zone, x = excluded.x, y = excluded.y, product_id = excluded.product_id,
                product_name = excluded.product_name, product_kind = excluded.product_kind, lot_number = excluded.lot_number,
                units = excluded.units, volume_ml = excluded.volume_ml, depth = excluded.depth, technique = excluded.technique,
                needle_gauge = excluded.needle_gauge, notes = excluded.notes, version = excluded.version
            WHERE cp.version <= excluded.version
            """,
            new
            {
                tenantId, chart.VisitId, chart.ClinicId, chart.PatientId, chart.ProviderId, chart.VisitDate,
                ids = p.Select(x => x.Id).ToArray(), zones = p.Select(x => x.Zone).ToArray(), xs = p.Select(x => x.X).ToArray(),
                ys = p.Select(x => x.Y).ToArray(), products = p.Select(x => x.ProductId).ToArray(),
                names = p.Select(x => x.ProductName).ToArray(), kinds = p.Select(x => x.ProductKind).ToArray(),
                lots = p.Select(x => x.LotNumber).ToArray(), units = p.Select(x => x.Units).ToArray(),
                volumes = p.Select(x => x.VolumeMl).ToArray(), depths = p.Select(x => x.Depth).ToArray(),
                techniques = p.Select(x => x.Technique).ToArray(), gauges = p.Select(x => x.NeedleGauge).ToArray(),
                notes = p.Select(x => x.Notes).ToArray(), versions = p.Select(x => x.Version).ToArray(),
            }, tx);
        await tx.CommitAsync();
    }

    public async Task<ChartProduct?> ProductAsync(Guid tenantId, Guid productId)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId);
        return await conn.QuerySingleOrDefaultAsync<ChartProduct>(
            """
            SELECT id AS ProductId, name, kind, unit FROM products WHERE tenant_id = @tenantId AND id = @productId AND active
            """, new { tenantId, productId });
    }
}
