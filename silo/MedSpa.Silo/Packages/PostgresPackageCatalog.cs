using Dapper;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Packages;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Silo.Packages;

/// <summary><see cref="IPackageCatalog"/> over <c>package_definitions</c>.</summary>
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
}
