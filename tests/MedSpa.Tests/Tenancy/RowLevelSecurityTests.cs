using Dapper;
using MedSpa.Silo.Data;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MedSpa.Tests.Tenancy;

/// <summary>The server with two tenants, A and B, each with a row in every tenant table (see <see cref="TenantSeed"/>).</summary>
public sealed class TwoTenantsFactory : MedSpaApiFactory
{
    public TenantSeed A { get; private set; } = null!;
    public TenantSeed B { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        A = await TenantSeed.CreateAsync(this);
        B = await TenantSeed.CreateAsync(this);
    }
}

/// <summary>
/// Issue 13 §1: PostgreSQL itself keeps tenants apart. Every table with a tenant_id column is found from the catalog,
/// so a table added later is checked without editing these tests. Queries here carry no tenant filter on purpose:
/// only row-level security stands between tenant B's connection and tenant A's rows.
/// </summary>
public sealed class RowLevelSecurityTests(TwoTenantsFactory factory) : IClassFixture<TwoTenantsFactory>, IAsyncLifetime
{
    private NpgsqlDataSource _runtime = null!;

    /// <summary>Connections as the server makes them: logged in as the owner, running as the runtime role.</summary>
    public Task InitializeAsync()
    {
        _runtime = TenantConnections.BuildTracked(new NpgsqlDataSourceBuilder(factory.ConnectionString));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _runtime.DisposeAsync();

    private async Task<List<string>> TenantTablesAsync()
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        var tables = (await conn.QueryAsync<string>(
            """
            SELECT c.relname FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
            ORDER BY 1
            """)).ToList();
        // Guards the catalog query itself: the schema has some thirty tenant tables.
        Assert.Contains("clinics", tables);
        Assert.Contains("invoices", tables);
        Assert.True(tables.Count >= 25, $"only {tables.Count} tenant tables found");
        return tables;
    }

    private async Task<long> OwnerCountAsync(string table, Guid tenantId)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return await conn.ExecuteScalarAsync<long>($"SELECT count(*) FROM \"{table}\" WHERE tenant_id = @tenantId", new { tenantId });
    }

    [Fact]
    public async Task Every_tenant_table_has_row_level_security_enabled_and_forced_with_the_tenant_policy()
    {
        var tables = await TenantTablesAsync();
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        var state = (await conn.QueryAsync<(string Table, bool Enabled, bool Forced, bool Policy)>(
            """
            SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                   EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = 'tenant_isolation'
                           AND pg_get_expr(p.polqual, p.polrelid) LIKE '%app.tenant_id%'
                           AND pg_get_expr(p.polwithcheck, p.polrelid) LIKE '%app.tenant_id%')
            FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY(@tables)
            """, new { tables })).ToList();

        Assert.Equal(tables.Count, state.Count);
        Assert.Empty(state.Where(s => !s.Enabled).Select(s => s.Table));
        Assert.Empty(state.Where(s => !s.Forced).Select(s => s.Table));
        Assert.Empty(state.Where(s => !s.Policy).Select(s => s.Table));
    }

    [Fact]
    public async Task The_runtime_role_owns_nothing_is_no_superuser_and_cannot_bypass_row_level_security()
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        var role = await conn.QuerySingleAsync<(bool Super, bool Bypass, bool Login)>(
            "SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = @RuntimeRole", new { TenantConnections.RuntimeRole });
        Assert.False(role.Super);
        Assert.False(role.Bypass);
        Assert.False(role.Login);
        Assert.Equal(0, await conn.ExecuteScalarAsync<long>(
            "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = @RuntimeRole)",
            new { TenantConnections.RuntimeRole }));
    }

    [Fact]
    public async Task The_servers_own_connections_run_as_the_runtime_role()
    {
        var db = factory.Services.GetRequiredService<NpgsqlDataSource>();
        await using (var scoped = await db.OpenTenantConnectionAsync(factory.A.TenantId))
        {
            Assert.Equal(TenantConnections.RuntimeRole, await scoped.ExecuteScalarAsync<string>("SELECT current_user"));
            Assert.Equal(factory.A.TenantId.ToString(), await scoped.ExecuteScalarAsync<string>("SELECT current_setting('app.tenant_id')"));
        }

        await using var unscoped = await db.OpenUnscopedConnectionAsync("test: the role of an unscoped connection");
        Assert.Equal(TenantConnections.RuntimeRole, await unscoped.ExecuteScalarAsync<string>("SELECT current_user"));
        Assert.Equal("", await unscoped.ExecuteScalarAsync<string>("SELECT current_setting('app.tenant_id')"));
    }

    [Fact]
    public async Task In_tenant_B_context_no_table_shows_a_row_of_tenant_A()
    {
        var failures = new List<string>();
        foreach (var table in await TenantTablesAsync())
        {
            var ownerA = await OwnerCountAsync(table, factory.A.TenantId);
            var ownerB = await OwnerCountAsync(table, factory.B.TenantId);
            if (ownerA == 0 || ownerB == 0)
            {
                failures.Add($"{table}: the seed wrote no row for tenant {(ownerA == 0 ? "A" : "B")} (add one in TenantSeed)");
                continue;
            }

            await using (var b = await _runtime.OpenTenantConnectionAsync(factory.B.TenantId))
            {
                var aRows = await b.ExecuteScalarAsync<long>(
                    $"SELECT count(*) FROM \"{table}\" WHERE tenant_id = @A", new { A = factory.A.TenantId });
                var all = await b.ExecuteScalarAsync<long>($"SELECT count(*) FROM \"{table}\"");
                if (aRows != 0)
                {
                    failures.Add($"{table}: tenant B's connection sees {aRows} of tenant A's rows");
                }

                if (all != ownerB)
                {
                    failures.Add($"{table}: tenant B's connection sees {all} rows, tenant B has {ownerB}");
                }
            }

            // The same query in A's own context does see A's rows: the check above could have failed.
            await using (var a = await _runtime.OpenTenantConnectionAsync(factory.A.TenantId))
            {
                var aRows = await a.ExecuteScalarAsync<long>(
                    $"SELECT count(*) FROM \"{table}\" WHERE tenant_id = @A", new { A = factory.A.TenantId });
                if (aRows != ownerA)
                {
                    failures.Add($"{table}: tenant A's connection sees {aRows} of its {ownerA} rows");
                }
            }
        }

        Assert.Empty(failures);
    }

    [Fact]
    public async Task An_insert_of_a_tenant_A_row_from_tenant_B_context_is_refused_in_every_table()
    {
        var failures = new List<string>();
        foreach (var table in await TenantTablesAsync())
        {
            var fromB = await TryInsertAsync(table, context: factory.B.TenantId, rowTenant: factory.A.TenantId);
            if (fromB != PostgresErrorCodes.InsufficientPrivilege)
            {
                failures.Add($"{table}: inserting tenant A's row from tenant B's context gave {fromB ?? "success"}, not a policy refusal");
            }

            // In A's own context the policy lets the row through (other constraints may still refuse it): the
            // refusal above comes from the tenant, not from the table.
            var fromA = await TryInsertAsync(table, context: factory.A.TenantId, rowTenant: factory.A.TenantId);
            if (fromA == PostgresErrorCodes.InsufficientPrivilege)
            {
                failures.Add($"{table}: inserting tenant A's row from tenant A's context was refused by the policy");
            }
        }

        Assert.Empty(failures);
    }

    /// <summary>Inserts a row with only tenant_id given, in a transaction rolled back; returns the SQLSTATE or null.</summary>
    private async Task<string?> TryInsertAsync(string table, Guid context, Guid rowTenant)
    {
        await using var conn = await _runtime.OpenTenantConnectionAsync(context);
        return await TryInsertBareAsync(conn, table, rowTenant);
    }

    [Fact]
    public async Task A_connection_with_no_tenant_sees_no_tenant_row()
    {
        // Fresh connections as the runtime role, opened without the opener: nothing set at all.
        await using var fresh = TenantConnections.BuildTracked(new NpgsqlDataSourceBuilder(factory.ConnectionString)
        {
            ConnectionStringBuilder = { Pooling = false },
        });
        var failures = new List<string>();
        foreach (var table in await TenantTablesAsync())
        {
            await using var bare = await fresh.OpenConnectionAsync();
            Assert.Equal(TenantConnections.RuntimeRole, await bare.ExecuteScalarAsync<string>("SELECT current_user"));
            var seen = await bare.ExecuteScalarAsync<long>($"SELECT count(*) FROM \"{table}\"");
            if (seen != 0)
            {
                failures.Add($"{table}: a connection with no tenant sees {seen} rows");
            }

            var refused = await TryInsertBareAsync(bare, table, factory.A.TenantId);
            if (refused != PostgresErrorCodes.InsufficientPrivilege)
            {
                failures.Add($"{table}: a connection with no tenant could insert ({refused ?? "success"})");
            }
        }

        Assert.Empty(failures);
    }

    private static async Task<string?> TryInsertBareAsync(NpgsqlConnection conn, string table, Guid rowTenant)
    {
        await using var tx = await conn.BeginTransactionAsync();
        try
        {
            await conn.ExecuteAsync($"INSERT INTO \"{table}\" (tenant_id) VALUES (@rowTenant)", new { rowTenant }, tx);
            return null;
        }
        catch (PostgresException e)
        {
            return e.SqlState;
        }
        finally
        {
            await tx.RollbackAsync();
        }
    }

    [Fact]
    public async Task An_unscoped_connection_sees_tenant_rows_only_where_a_global_exception_is_named()
    {
        // The tables migration 0210 opens to unscoped connections for reading, each with its reason there.
        string[] globalReads =
        [
            "users", "user_clinics", "refresh_tokens", "access_revocations", "sign_in_known_addresses", "idempotency_records",
            "display_links", "card_payments", "payment_customers", "saved_cards", "gateway_events",
        ];
        var failures = new List<string>();
        await using var unscoped = await _runtime.OpenUnscopedConnectionAsync("test: what an unscoped connection sees");
        foreach (var table in await TenantTablesAsync())
        {
            var seen = await unscoped.ExecuteScalarAsync<long>(
                $"SELECT count(*) FROM \"{table}\" WHERE tenant_id = @A", new { A = factory.A.TenantId });
            if (globalReads.Contains(table) ? seen == 0 : seen != 0)
            {
                failures.Add($"{table}: an unscoped connection sees {seen} of tenant A's rows");
            }

            var refused = await TryInsertBareAsync(unscoped, table, factory.A.TenantId);
            if (table != "gateway_events" && refused != PostgresErrorCodes.InsufficientPrivilege)
            {
                failures.Add($"{table}: an unscoped connection could insert ({refused ?? "success"})");
            }
        }

        Assert.Empty(failures);
    }

    [Fact]
    public async Task A_pooled_connection_handed_from_one_tenant_to_another_sees_only_the_new_tenant()
    {
        // One physical connection, not reset on close: what the server's pool does, and what the opener remembers.
        await using var single = TenantConnections.BuildTracked(new NpgsqlDataSourceBuilder(factory.ConnectionString)
        {
            ConnectionStringBuilder = { MaxPoolSize = 1, NoResetOnClose = true },
        });
        var a = factory.A.TenantId;
        const string CountA = "SELECT count(*) FROM clinics WHERE tenant_id = @a";

        int pid;
        await using (var first = await single.OpenTenantConnectionAsync(a))
        {
            pid = first.ProcessID;
            Assert.Equal(1, await first.ExecuteScalarAsync<long>(CountA, new { a }));
        }

        await using (var asB = await single.OpenTenantConnectionAsync(factory.B.TenantId))
        {
            Assert.Equal(pid, asB.ProcessID);
            Assert.Equal(0, await asB.ExecuteScalarAsync<long>(CountA, new { a }));
        }

        await using (var unscoped = await single.OpenUnscopedConnectionAsync("test: the pool hands the connection on"))
        {
            Assert.Equal(pid, unscoped.ProcessID);
            Assert.Equal(0, await unscoped.ExecuteScalarAsync<long>(CountA, new { a }));
        }

        // Back to A twice: the second open finds A already set and skips the round trip, and still sees A.
        await using (var again = await single.OpenTenantConnectionAsync(a))
        {
            Assert.Equal(1, await again.ExecuteScalarAsync<long>(CountA, new { a }));
        }

        await using (var remembered = await single.OpenTenantConnectionAsync(a))
        {
            Assert.Equal(pid, remembered.ProcessID);
            Assert.Equal(1, await remembered.ExecuteScalarAsync<long>(CountA, new { a }));
        }

        // A transaction scoped to a tenant after a global look-up reverts when it ends.
        await using (var global = await single.OpenUnscopedConnectionAsync("test: scope a transaction"))
        {
            await using (var tx = await global.BeginTransactionAsync())
            {
                await global.ScopeToTenantAsync(tx, a);
                Assert.Equal(1, await global.ExecuteScalarAsync<long>(CountA, new { a }, tx));
                await tx.CommitAsync();
            }

            Assert.Equal(0, await global.ExecuteScalarAsync<long>(CountA, new { a }));
        }
    }
}
