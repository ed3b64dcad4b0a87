using System.Collections.Immutable;
using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;

namespace MedSpa.Api.Features.Charts;

public sealed record HistoryPoint(Guid PointId, string Zone, decimal X, decimal Y, Guid ProductId, string ProductName, string LotNumber,
    decimal? Units, decimal? VolumeMl, string? Depth, string? Technique, string? NeedleGauge, string? Notes);

public sealed record ZoneTotal(string Zone, decimal Units, decimal VolumeMl, int Points);

public sealed record ProductTotal(Guid ProductId, string ProductName, decimal Units, decimal VolumeMl, int Points);

public sealed record HistoryChart(Guid VisitId, DateTimeOffset VisitDate, Guid ClinicId, Guid? ProviderId, string Status,
    IReadOnlyList<ZoneTotal> Zones, IReadOnlyList<ProductTotal> Products, IReadOnlyList<HistoryPoint> Points);

public sealed record ChartHistoryResponse(Guid PatientId, IReadOnlyList<HistoryChart> Charts);

public sealed record ChartZone(string Name, string Kind, decimal? DefaultUnits, decimal? DefaultVolumeMl);

public sealed record ChartZonesRequest(IReadOnlyList<ChartZone>? Zones);

/// <summary>
/// A patient's charts newest first with totals per zone and product (a provider sees what was done last time before
/// injecting), and each clinic's zone list with default doses (seeded from DOMAIN.md's presets on first read).
/// </summary>
public static class ChartHistoryApi
{
    /// <summary>DOMAIN.md "Injectables": preset zones with typical toxin units and filler millilitres.</summary>
    public static readonly ImmutableArray<ChartZone> Presets =
    [
        new("forehead", "toxin", 20, null), new("glabella", "toxin", 20, null), new("crow's feet left", "toxin", 12, null),
        new("crow's feet right", "toxin", 12, null), new("bunny lines", "toxin", 4, null), new("nasalis", "toxin", 4, null),
        new("upper lip", "toxin", 4, null), new("lower lip", "toxin", 4, null), new("chin", "toxin", 6, null),
        new("marionette left", "toxin", 4, null), new("marionette right", "toxin", 4, null), new("masseter left", "toxin", 25, null),
        new("masseter right", "toxin", 25, null), new("neck/platysma", "toxin", 25, null),
        new("nasolabial left", "filler", null, 0.5m), new("nasolabial right", "filler", null, 0.5m), new("cheek left", "filler", null, 1.0m),
        new("cheek right", "filler", null, 1.0m), new("jawline left", "filler", null, 1.0m), new("jawline right", "filler", null, 1.0m),
        new("temple left", "filler", null, 0.5m), new("temple right", "filler", null, 0.5m), new("tear trough left", "filler", null, 0.3m),
        new("tear trough right", "filler", null, 0.3m), new("nose", "filler", null, 0.5m),
    ];

    public static IEndpointRouteBuilder MapChartHistoryApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/patients/{patientId:guid}/charts", HistoryAsync).RequireAuthorization(Policies.Staff).WithTags("Charts")
            .WithName("PatientChartHistory").AddEndpointFilter(Audit.AuditRecorder.ChartFilter); // audited read (issue 17 §5)
        var zones = app.MapGroup("/api/clinics/{clinicId:guid}/chart-zones").WithTags("Charts");
        zones.MapGet("", GetZonesAsync).RequireAuthorization(Policies.Staff).WithName("GetChartZones");
        zones.MapPut("", PutZonesAsync).RequireAuthorization(Policies.Admin).WithName("SetChartZones");
        return app;
    }

    private static async Task<Results<Ok<ChartHistoryResponse>, ProblemHttpResult>> HistoryAsync(
        Guid patientId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
                "SELECT EXISTS (SELECT 1 FROM patients WHERE tenant_id = @TenantId AND id = @patientId)", new { user.TenantId, patientId },
                cancellationToken: ct)))
        {
            return ApiProblems.NotFound("Patient");
        }

        var charts = (await conn.QueryAsync<ChartRow>(new CommandDefinition(
            """
            SELECT visit_id, visit_date, clinic_id, provider_id, status FROM treatment_charts
            WHERE tenant_id = @TenantId AND patient_id = @patientId AND (@all OR clinic_id = ANY(@clinics))
            ORDER BY visit_date DESC, visit_id
            """, new { user.TenantId, patientId, all = user.IsAdmin, clinics = user.ClinicIds.ToArray() }, cancellationToken: ct))).ToList();
        var points = (await conn.QueryAsync<PointRow>(new CommandDefinition(
            """
            SELECT visit_id, point_id, zone, x, y, product_id, product_name, lot_number, units, volume_ml, depth, technique, needle_gauge, notes
            FROM chart_points WHERE tenant_id = @TenantId AND visit_id = ANY(@visits)
            ORDER BY visit_id, zone, point_id
            """, new { user.TenantId, visits = charts.Select(c => c.VisitId).ToArray() }, cancellationToken: ct)))
            .ToLookup(p => p.VisitId);
        return TypedResults.Ok(new ChartHistoryResponse(patientId, [.. charts.Select(c =>
        {
            var mine = points[c.VisitId].ToList();
            return new HistoryChart(c.VisitId, new DateTimeOffset(DateTime.SpecifyKind(c.VisitDate, DateTimeKind.Utc)), c.ClinicId, c.ProviderId,
                c.Status,
                [.. mine.GroupBy(p => p.Zone).OrderBy(g => g.Key, StringComparer.Ordinal)
                    .Select(g => new ZoneTotal(g.Key, g.Sum(p => p.Units ?? 0), g.Sum(p => p.VolumeMl ?? 0), g.Count()))],
                [.. mine.GroupBy(p => (p.ProductId, p.ProductName)).OrderBy(g => g.Key.ProductName, StringComparer.Ordinal)
                    .Select(g => new ProductTotal(g.Key.ProductId, g.Key.ProductName, g.Sum(p => p.Units ?? 0), g.Sum(p => p.VolumeMl ?? 0), g.Count()))],
                [.. mine.Select(p => new HistoryPoint(p.PointId, p.Zone, p.X, p.Y, p.ProductId, p.ProductName, p.LotNumber, p.Units, p.VolumeMl,
                    p.Depth, p.Technique, p.NeedleGauge, p.Notes))]);
        })]));
    }

    private sealed record ChartRow(Guid VisitId, DateTime VisitDate, Guid ClinicId, Guid? ProviderId, string Status);

    private sealed record PointRow(Guid VisitId, Guid PointId, string Zone, decimal X, decimal Y, Guid ProductId, string ProductName,
        string LotNumber, decimal? Units, decimal? VolumeMl, string? Depth, string? Technique, string? NeedleGauge, string? Notes);

    private static async Task<Results<Ok<IReadOnlyList<ChartZone>>, ProblemHttpResult>> GetZonesAsync(
        Guid clinicId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        if (!user.CanAccessClinic(clinicId))
        {
            return ApiProblems.NotFound("Clinic");
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await ClinicExistsAsync(conn, user.TenantId, clinicId, ct))
        {
            return ApiProblems.NotFound("Clinic");
        }

        // A clinic that never edited its zones starts from the presets; written once so later edits start from them.
        await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO chart_zones (tenant_id, clinic_id, name, kind, default_units, default_volume_ml, position)
            SELECT @TenantId, @clinicId, z.name, z.kind, z.units, z.volume, z.position
            FROM unnest(@names, @kinds, @units, @volumes, @positions) AS z(name, kind, units, volume, position)
            WHERE NOT EXISTS (SELECT 1 FROM chart_zones WHERE tenant_id = @TenantId AND clinic_id = @clinicId)
            ON CONFLICT DO NOTHING
            """, Arrays(user.TenantId, clinicId, Presets), cancellationToken: ct));
        return TypedResults.Ok(await ReadZonesAsync(conn, user.TenantId, clinicId, ct));
    }

    private static async Task<Results<Ok<IReadOnlyList<ChartZone>>, ProblemHttpResult>> PutZonesAsync(
        Guid clinicId, [FromBody] ChartZonesRequest? request, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        if (!user.CanAccessClinic(clinicId))
        {
            return ApiProblems.NotFound("Clinic");
        }

        var zones = request?.Zones;
        if (zones is null || zones.Count is 0 or > 200)
        {
            return Refusal.Invalid("zones", "zones is a list of 1 to 200 zones.").ToProblem();
        }

        for (var i = 0; i < zones.Count; i++)
        {
            var z = zones[i];
            var problem = z is null ? "is required" :
                string.IsNullOrWhiteSpace(z.Name) || z.Name.Trim().Length > 60 ? "name is required (at most 60 characters)" :
                z.Kind is not ("toxin" or "filler") ? "kind is toxin or filler" :
                z.Kind == "toxin" && (z.DefaultVolumeMl is not null || z.DefaultUnits is <= 0 or > 1000) ? "a toxin zone has defaultUnits (0-1000), no defaultVolumeMl" :
                z.Kind == "filler" && (z.DefaultUnits is not null || z.DefaultVolumeMl is <= 0 or > 50) ? "a filler zone has defaultVolumeMl (0-50), no defaultUnits" :
                null;
            if (problem is not null)
            {
                return Refusal.Invalid($"zones[{i}]", $"zones[{i}]: {problem}.").ToProblem();
            }
        }

        if (zones.Select(z => z.Name.Trim().ToLowerInvariant()).Distinct().Count() != zones.Count)
        {
            return Refusal.Invalid("zones", "Zone names are unique.").ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await ClinicExistsAsync(conn, user.TenantId, clinicId, ct))
        {
            return ApiProblems.NotFound("Clinic");
        }

        await using var tx = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("DELETE FROM chart_zones WHERE tenant_id = @TenantId AND clinic_id = @clinicId",
            new { user.TenantId, clinicId }, tx, cancellationToken: ct));
        await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO chart_zones (tenant_id, clinic_id, name, kind, default_units, default_volume_ml, position)
            SELECT @TenantId, @clinicId, z.name, z.kind, z.units, z.volume, z.position
            FROM unnest(@names, @kinds, @units, @volumes, @positions) AS z(name, kind, units, volume, position)
            """, Arrays(user.TenantId, clinicId, [.. zones.Select(z => z with { Name = z.Name.Trim() })]), tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return TypedResults.Ok(await ReadZonesAsync(conn, user.TenantId, clinicId, ct));
    }

    private static object Arrays(Guid tenantId, Guid clinicId, IReadOnlyList<ChartZone> zones) => new
    {
        TenantId = tenantId, clinicId, names = zones.Select(z => z.Name).ToArray(), kinds = zones.Select(z => z.Kind).ToArray(),
        units = zones.Select(z => z.DefaultUnits).ToArray(), volumes = zones.Select(z => z.DefaultVolumeMl).ToArray(),
        positions = Enumerable.Range(0, zones.Count).ToArray(),
    };

    private static Task<bool> ClinicExistsAsync(NpgsqlConnection conn, Guid tenantId, Guid clinicId, CancellationToken ct) =>
        conn.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT EXISTS (SELECT 1 FROM clinics WHERE tenant_id = @tenantId AND id = @clinicId)",
            new { tenantId, clinicId }, cancellationToken: ct));

    private static async Task<IReadOnlyList<ChartZone>> ReadZonesAsync(NpgsqlConnection conn, Guid tenantId, Guid clinicId, CancellationToken ct) =>
    [
        .. await conn.QueryAsync<ChartZone>(new CommandDefinition(
            """
            SELECT name, kind, default_units AS DefaultUnits, default_volume_ml AS DefaultVolumeMl
            FROM chart_zones WHERE tenant_id = @tenantId AND clinic_id = @clinicId ORDER BY position, name
            """, new { tenantId, clinicId }, cancellationToken: ct)),
    ];
}
