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

    public static string RequireConnectionString(IConfiguration configuration) =>
        configuration.GetConnectionString(ConnectionStringName) is { Length: > 0 } cs
            ? cs
            : throw new InvalidOperationException(
                "No PostgreSQL connection string: set ConnectionStrings__Postgres (./medspa run sets it for you).");

    /// <summary>
    /// Registers the shared <see cref="NpgsqlDataSource"/> and a hosted service that applies migrations and the
    /// registered <see cref="IDatabaseStartupTask"/>s. Call it before <c>AddMedSpaOrleans</c>: hosted services start
    /// in registration order, and Orleans' providers read their query catalog when the silo starts.
    /// </summary>
    public static IHostApplicationBuilder AddMedSpaDatabase(this IHostApplicationBuilder builder)
    {
        var connectionString = RequireConnectionString(builder.Configuration);
        builder.Services.AddSingleton(_ => new NpgsqlDataSourceBuilder(connectionString).Build());
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
