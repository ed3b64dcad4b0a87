using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Npgsql;

namespace MedSpa.Silo.Data;

/// <summary>
/// The one way the server opens a PostgreSQL connection (issue 13 §1): every handler and store asks for a connection
/// scoped to a tenant — the caller's (HTTP) or the grain key's (grains, through their stores) — and row-level
/// security on the tenant tables lets that connection see only that tenant's rows. The few reads that are global by
/// nature (sign-in lookup by email, housekeeping across tenants, ...) ask for an unscoped connection and say why.
/// Nothing else calls <c>OpenConnectionAsync</c> (a conventions test enforces it).
/// </summary>
/// <remarks>
/// What PostgreSQL sees (migration 0210): the setting <c>app.tenant_id</c> names the tenant whose rows the
/// connection may read and write; <c>app.scope = 'global'</c> switches on the few named <c>global_*</c> policies.
/// Both are session settings and the pool does not reset connections (<c>No Reset On Close</c>, see
/// <see cref="DatabaseHosting"/>), so every open sets both: a connection is never handed out with the previous
/// renter's tenant.
/// <para>
/// Cost: setting them is one round trip per open (a checkout opens about 29 connections). It is skipped when the
/// physical connection already carries the wanted tenant and scope: the data source built by
/// <see cref="BuildTracked"/> remembers, per backend process id, what the last open set there. Why a wrong memory
/// can only ever fail closed (see nothing), never show another tenant's rows:
/// the entry is removed before the round trip and written only after it succeeded, so a failed or cancelled set
/// leaves no entry and the next open sets again; a new physical connection (whose process id may be a dead
/// backend's) drops its entry in the physical-connection initializer before anyone uses it; only this class sets
/// the settings at session level (a conventions test keeps <c>app.tenant_id</c> out of every other file), and
/// <see cref="ScopeToTenantAsync"/> sets them transaction-locally, so they revert when the transaction ends and the
/// session value the memory describes is back. What could still clear them behind our back (<c>DISCARD ALL</c>,
/// <c>RESET ALL</c>, a reset-on-close pool) leaves no tenant: the connection sees nothing. A data source whose pool
/// resets connections, or one not built by <see cref="BuildTracked"/> (tests), does not remember and always sets.
/// Chosen over sending the setting in the same round trip as the first statement because that would mean wrapping
/// every Dapper call; the memory makes the steady state free instead. Measured on loopback (open + one statement,
/// best of six runs of 10,000): 57 µs raw open as the owner, 62 µs with the tenant remembered, 94 µs when it is set.
/// </para>
/// </remarks>
public static class TenantConnections
{
    /// <summary>The role the server's statements run as (created by migration 0210): not the owner, no BYPASSRLS.</summary>
    public const string RuntimeRole = "medspa_app";

    private const string SetSql = "SELECT set_config('app.tenant_id', $1, false), set_config('app.scope', $2, false)";

    private static readonly ConditionalWeakTable<NpgsqlDataSource, BackendScopes> Tracked = [];

    /// <summary>A connection that sees the rows of <paramref name="tenantId"/> only.</summary>
    public static ValueTask<NpgsqlConnection> OpenTenantConnectionAsync(
        this NpgsqlDataSource dataSource, Guid tenantId, CancellationToken cancellationToken = default)
    {
        if (tenantId == Guid.Empty)
        {
            throw new ArgumentException("A tenant-scoped connection needs a tenant.", nameof(tenantId));
        }

        return OpenScopedAsync(dataSource, new Scope(tenantId, Global: false), cancellationToken);
    }

    /// <summary>
    /// Every tenant's id, for housekeeping that works across tenants one tenant-scoped connection at a time (the tenant
    /// rows it touches are under row-level security; the tenants table is global). <paramref name="reason"/> as for
    /// <see cref="OpenUnscopedConnectionAsync"/>.
    /// </summary>
    public static async Task<IReadOnlyList<Guid>> TenantIdsAsync(
        this NpgsqlDataSource dataSource, string reason, CancellationToken cancellationToken = default)
    {
        await using var global = await dataSource.OpenUnscopedConnectionAsync(reason, cancellationToken);
        return [.. await Dapper.SqlMapper.QueryAsync<Guid>(global,
            new Dapper.CommandDefinition("SELECT id FROM tenants", cancellationToken: cancellationToken))];
    }

    /// <summary>
    /// A connection with no tenant: it sees only the tables that are global by nature and the rows the named
    /// <c>global_*</c> policies of migration 0210 open to it. <paramref name="reason"/> names why the caller needs it
    /// (read by whoever reviews the call, kept out of logs).
    /// </summary>
    public static ValueTask<NpgsqlConnection> OpenUnscopedConnectionAsync(
        this NpgsqlDataSource dataSource, string reason, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        return OpenScopedAsync(dataSource, new Scope(Guid.Empty, Global: true), cancellationToken);
    }

    /// <summary>
    /// Scopes the rest of <paramref name="transaction"/> to <paramref name="tenantId"/>, for a global lookup that has
    /// just found the tenant it must now write to (a refresh token, a Stripe event). Transaction-local: when the
    /// transaction ends the connection is back to what it was opened as.
    /// </summary>
    public static async Task ScopeToTenantAsync(
        this NpgsqlConnection connection, NpgsqlTransaction transaction, Guid tenantId, CancellationToken cancellationToken = default)
    {
        if (tenantId == Guid.Empty)
        {
            throw new ArgumentException("A tenant-scoped transaction needs a tenant.", nameof(tenantId));
        }

        await using var cmd = new NpgsqlCommand("SELECT set_config('app.tenant_id', $1, true)", connection, transaction);
        cmd.Parameters.Add(new NpgsqlParameter { Value = tenantId.ToString("D") });
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Builds the data source the server uses: its connections switch to <see cref="RuntimeRole"/> as they start,
    /// and it remembers per backend which tenant is set (see the remarks on this class).
    /// </summary>
    public static NpgsqlDataSource BuildTracked(NpgsqlDataSourceBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = builder.ConnectionStringBuilder.Options;
        builder.ConnectionStringBuilder.Options = (string.IsNullOrWhiteSpace(options) ? "" : options + " ") + "-c role=" + RuntimeRole;
        var backends = builder.ConnectionStringBuilder.NoResetOnClose ? new BackendScopes() : null;
        if (backends is not null)
        {
            builder.UsePhysicalConnectionInitializer(
                c => backends.Forget(c.ProcessID),
                c =>
                {
                    backends.Forget(c.ProcessID);
                    return Task.CompletedTask;
                });
        }

        var dataSource = builder.Build();
        if (backends is not null)
        {
            Tracked.AddOrUpdate(dataSource, backends);
        }

        return dataSource;
    }

    private static async ValueTask<NpgsqlConnection> OpenScopedAsync(NpgsqlDataSource dataSource, Scope scope, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(dataSource);

        var connection = await dataSource.OpenConnectionAsync(ct);
        try
        {
            Tracked.TryGetValue(dataSource, out var backends);
            var pid = connection.ProcessID;
            if (backends is not null && backends.Has(pid, scope))
            {
                return connection;
            }

            backends?.Forget(pid);
            await using (var cmd = new NpgsqlCommand(SetSql, connection))
            {
                cmd.Parameters.Add(new NpgsqlParameter { Value = scope.Global ? "" : scope.TenantId.ToString("D") });
                cmd.Parameters.Add(new NpgsqlParameter { Value = scope.Global ? "global" : "" });
                await cmd.ExecuteNonQueryAsync(ct);
            }

            backends?.Remember(pid, scope);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private readonly record struct Scope(Guid TenantId, bool Global);

    /// <summary>What the last open set on each physical connection of one data source (one server), by process id.</summary>
    private sealed class BackendScopes
    {
        private readonly ConcurrentDictionary<int, Scope> _byProcess = new();

        public bool Has(int processId, Scope scope) => _byProcess.TryGetValue(processId, out var set) && set == scope;

        public void Remember(int processId, Scope scope) => _byProcess[processId] = scope;

        public void Forget(int processId) => _byProcess.TryRemove(processId, out _);
    }
}
