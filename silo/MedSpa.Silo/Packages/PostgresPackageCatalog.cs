using Dapper;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Packages;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Silo.Packages;

/// <summary><see cref="IPackageCatalog"/> over <c>package_definitions</c> (and, for accruals, <c>package_purchases</c> and
/// <c>package_members</c>).</summary>
public sealed class PostgresPackageCatalog(NpgsqlDataSource db) : IPackageCatalog
{
    public async Task<PackageCatalogEntry?> FindAsync(Guid tenantId, Guid definitionId, CancellationToken cancellationToken = default)
    {
        await using var connection = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<(string Terms, string Status, string? DraftStep, int Version)>(
            new CommandDefinition(
                "SELECT terms::text, status, draft_step, version FROM package_definitions WHERE tenant_id = @tenantId AND id = @definitionId",
                new { tenantId, definitionId }, cancellationToken: cancellationToken));
        if (row.Terms is null)
        {
            return null;
        }

        var terms = PackageTermsJson.Read(row.Terms) with { DefinitionId = definitionId, DefinitionVersion = row.Version };
        var status = row.Status switch
        {
            "active" => PackageDefinitionStatus.Active,
            "inactive" => PackageDefinitionStatus.Inactive,
            _ => PackageDefinitionStatus.Archived,
        };
        return new PackageCatalogEntry(terms, status, row.DraftStep is not null);
    }

    public async Task<IReadOnlyList<Guid>> FindThresholdPackagesAsync(Guid tenantId, Guid patientId, DateTimeOffset at,
        CancellationToken cancellationToken = default)
    {
        await using var connection = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        var ids = await connection.QueryAsync<Guid>(new CommandDefinition(
            """
            SELECT p.id FROM package_purchases p
            WHERE p.tenant_id = @tenantId AND p.type = 'threshold' AND p.purchased_at <= @at
              AND (p.owner_patient_id = @patientId
                   OR EXISTS (SELECT 1 FROM package_members m
                              WHERE m.tenant_id = p.tenant_id AND m.purchase_id = p.id AND m.patient_id = @patientId
                                AND m.added_at <= @at AND (m.removed_at IS NULL OR m.removed_at > @at)))
            ORDER BY p.purchased_at, p.id
            """,
            new { tenantId, patientId, at }, cancellationToken: cancellationToken));
        return [.. ids];
    }
}
