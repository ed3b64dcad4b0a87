using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace MedSpa.Silo;

/// <summary>Work that must run after migrations and before the silo starts (for example seeding the demo clinic).</summary>
public interface IDatabaseStartupTask
{
    Task RunAsync(CancellationToken cancellationToken);
}

public static class DatabaseHosting
{
    public const string ConnectionStringName = "Postgres";

    /// <summary>
    /// The configured connection string, with <c>No Reset On Close</c> turned on unless the configuration says
    /// otherwise: without it every connection rent from the pool costs a <c>DISCARD ALL</c> round trip (about 29 per
    /// checkout, measured by the checkout benchmark). Safe because nothing here leaves session state on a pooled
    /// connection: no SET, no temporary tables, and the one session-level advisory lock (migrations) is taken on an
    /// unpooled connection. The tenant settings of row-level security are session state on purpose: the connection
    /// opener sets them on every open (see <see cref="Data.TenantConnections"/>).
    /// And with Npgsql's automatic preparation (<c>Max Auto Prepare</c>, unless the configuration sets it; 0 turns it
    /// off, e.g. behind a transaction-pooling PgBouncer): a statement run a few times on a connection is prepared there
    /// once, so PostgreSQL stops parsing and planning it on every call — the board's publish, the grains' state reads
    /// and writes, the checkout's statements all repeat the same few texts.
    /// </summary>
    public static string RequireConnectionString(IConfiguration configuration)
    {
        if (configuration.GetConnectionString(ConnectionStringName) is not { Length: > 0 } configured)
        {
            throw new InvalidOperationException(
                "No PostgreSQL connection string: set ConnectionStrings__Postgres (./medspa run sets it for you).");
        }

        // The keywords the configuration spells out, spaces dropped ("No Reset On Close" and "NoResetOnClose" alike).
        var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = configured }.Keys
            .Cast<string>().Select(k => k.Replace(" ", "", StringComparison.Ordinal)).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var builder = new NpgsqlConnectionStringBuilder(configured);
        if (!given.Contains("NoResetOnClose"))
        {
            builder.NoResetOnClose = true;
        }

        if (!given.Contains("MaxAutoPrepare"))
        {
            builder.MaxAutoPrepare = AutoPreparedStatements;
        }

        return builder.ConnectionString;
    }

    /// <summary>
    /// Dapper's process-wide settings, made once here for the api and the silo's stores alike: columns are
    /// snake_case, C# properties PascalCase (time_zone maps to TimeZone).
    /// </summary>
    public static void UseDapperConventions() => Dapper.DefaultTypeMap.MatchNamesWithUnderscores = true;

    /// <summary>Statements Npgsql keeps prepared per connection unless the connection string says otherwise.</summary>
    public const int AutoPreparedStatements = 100;

    /// <summary>
    /// Registers the shared <see cref="NpgsqlDataSource"/> and a hosted service that applies migrations and the
    /// registered <see cref="IDatabaseStartupTask"/>s. Call it before <c>AddMedSpaOrleans</c>: hosted services start
    /// in registration order, and Orleans' providers read their query catalog when the silo starts.
    /// The data source's connections log in as the configured user and run as the role
    /// <see cref="Data.TenantConnections.RuntimeRole"/>, so row-level security applies to them (migration 0210); the
    /// migrator and Orleans' providers use the configured connection string as it is (the tables' owner).
    /// </summary>
    public static IHostApplicationBuilder AddMedSpaDatabase(this IHostApplicationBuilder builder)
    {
        var connectionString = RequireConnectionString(builder.Configuration);
        UseDapperConventions();
        builder.Services.AddSingleton(_ => Data.TenantConnections.BuildTracked(new NpgsqlDataSourceBuilder(connectionString)));
        builder.Services.AddHostedService<MigrationHostedService>();
        return builder;
    }

    private sealed class MigrationHostedService(
        IConfiguration configuration,
        IEnumerable<IDatabaseStartupTask> startupTasks,
        ILogger<MigrationHostedService> logger) : IHostedService
    {
        public async Task StartAsync(CancellationToken cancellationToken)
        {
            var applied = await DatabaseMigrator.MigrateAsync(RequireConnectionString(configuration), logger, cancellationToken);
            logger.LogInformation("Database schema up to date ({Count} new scripts applied)", applied.Count);
            foreach (var task in startupTasks)
            {
                await task.RunAsync(cancellationToken);
            }
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
