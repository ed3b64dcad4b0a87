using Npgsql;

namespace MedSpa.Silo.Data;

/// <summary>
/// The one way the server opens a PostgreSQL connection (issue 13 §1): every handler and store asks for a connection
/// scoped to a tenant — the caller's (HTTP) or the grain key's (grains, through their stores) — and row-level
/// security on the tenant tables lets that connection see only that tenant's rows. The few reads that are global by
/// nature (sign-in lookup by email, housekeeping across tenants, ...) ask for an unscoped connection and say why.
/// Nothing else calls <c>OpenConnectionAsync</c> (a conventions test enforces it).
/// </summary>
public static class TenantConnections
{
    /// <summary>A connection that sees the rows of <paramref name="tenantId"/> only.</summary>
    public static ValueTask<NpgsqlConnection> OpenTenantConnectionAsync(
        this NpgsqlDataSource dataSource, Guid tenantId, CancellationToken cancellationToken = default)
    {
        // Issue 13 §1 sets the tenant for row-level security here; until it lands this opens the connection as before.
        _ = tenantId;
        return dataSource.OpenConnectionAsync(cancellationToken);
    }

    /// <summary>
    /// A connection with no tenant: it sees only the tables that are global by nature. <paramref name="reason"/>
    /// names why the caller needs it (read by whoever reviews the call, kept out of logs).
    /// </summary>
    public static ValueTask<NpgsqlConnection> OpenUnscopedConnectionAsync(
        this NpgsqlDataSource dataSource, string reason, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        return dataSource.OpenConnectionAsync(cancellationToken);
    }
}
