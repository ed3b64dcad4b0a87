using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Npgsql;
using Orleans;
using Orleans.Runtime;

namespace MedSpa.Silo.Health;

/// <summary>
/// <c>/health/live</c> and <c>/health/ready</c>, the same in the api and in a standalone silo (<c>MedSpa.Silo.Host</c>):
/// ready means PostgreSQL answers, this process's silo is Active in the membership (a client: the cluster has an active
/// silo), and the host is not stopping.
/// </summary>
public static class HealthProbes
{
    /// <summary>Checks that must pass before the instance gets traffic.</summary>
    public const string ReadyTag = "ready";

    /// <summary>How long a dependency may take to answer a probe before it counts as down.</summary>
    public static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(3);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static IHealthChecksBuilder AddMedSpaHealthChecks(this IServiceCollection services) =>
        services.AddHealthChecks()
            .AddCheck<PostgresHealthCheck>("postgresql", tags: [ReadyTag])
            .AddCheck<OrleansHealthCheck>("orleans", tags: [ReadyTag])
            .AddCheck<StoppingHealthCheck>("stopping", tags: [ReadyTag]);

    /// <summary>Maps <c>/health/live</c> and <c>/health/ready</c> (anonymous).</summary>
    public static void MapMedSpaHealth(this IEndpointRouteBuilder app)
    {
        app.MapHealthChecks("/health/live", new HealthCheckOptions
        {
            // Liveness is "the process answers": dependencies failing must not get a healthy process restarted.
            Predicate = _ => false,
            ResponseWriter = WriteJsonAsync,
        }).AllowAnonymous();
        app.MapHealthChecks("/health/ready", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(ReadyTag),
            ResponseWriter = WriteJsonAsync,
        }).AllowAnonymous();
    }

    /// <summary><c>{ status, totalDurationMs, checks: [{ name, status, description, durationMs }] }</c>.</summary>
    public static Task WriteJsonAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        context.Response.Headers.CacheControl = "no-store";
        var body = new
        {
            status = report.Status.ToString().ToLowerInvariant(),
            totalDurationMs = Math.Round(report.TotalDuration.TotalMilliseconds, 1),
            checks = report.Entries.Select(e => new
            {
                name = e.Key,
                status = e.Value.Status.ToString().ToLowerInvariant(),
                description = e.Value.Description ?? e.Value.Exception?.Message,
                durationMs = Math.Round(e.Value.Duration.TotalMilliseconds, 1),
            }),
        };
        return context.Response.WriteAsJsonAsync(body, Json, context.RequestAborted);
    }
}

/// <summary>
/// PostgreSQL answers a query through the application's own data source (so pool exhaustion shows up too).
/// Written by hand: a one-line query does not need the AspNetCore.HealthChecks.NpgSql package.
/// </summary>
public sealed class PostgresHealthCheck(NpgsqlDataSource dataSource) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(HealthProbes.ProbeTimeout);
        try
        {
            await using var command = dataSource.CreateCommand("SELECT 1");
            await command.ExecuteScalarAsync(timeout.Token);
            return HealthCheckResult.Healthy("PostgreSQL answered.");
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or TimeoutException or System.Net.Sockets.SocketException)
        {
            if (Data.DatabaseFailures.IsUnavailable(e))
            {
                // The next probe opens a fresh connection rather than one the outage broke.
                Data.DatabaseFailures.ForgetPooledConnections(dataSource);
            }

            return HealthCheckResult.Unhealthy($"PostgreSQL is unreachable: {e.Message}");
        }
    }
}

/// <summary>
/// Co-hosted: this process's silo is Active in the cluster membership. Client mode: the cluster answers a
/// management call and has at least one active silo.
/// </summary>
public sealed class OrleansHealthCheck(IServiceProvider services) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (services.GetService<ILocalSiloDetails>() is { } local)
        {
            var status = services.GetRequiredService<IClusterMembershipService>().CurrentSnapshot.GetSiloStatus(local.SiloAddress);
            return status == SiloStatus.Active
                ? HealthCheckResult.Healthy($"Silo {local.SiloAddress} is active.")
                : HealthCheckResult.Unhealthy($"Silo {local.SiloAddress} is {status}.");
        }

        try
        {
            var hosts = await services.GetRequiredService<IClusterClient>().GetGrain<IManagementGrain>(0)
                .GetHosts(onlyActive: true, cancellationToken).WaitAsync(HealthProbes.ProbeTimeout, cancellationToken);
            return hosts.Count > 0
                ? HealthCheckResult.Healthy($"Connected to a cluster with {hosts.Count} active silo(s).")
                : HealthCheckResult.Unhealthy("The cluster has no active silo.");
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy($"The Orleans cluster is unreachable: {e.Message}");
        }
    }
}

/// <summary>
/// Unready from the moment a stop begins (SIGTERM, a rolling restart), before the silo leaves the membership: a load
/// balancer or Kubernetes stops sending new work while the silo hands its grains over.
/// </summary>
public sealed class StoppingHealthCheck(IHostApplicationLifetime lifetime) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(lifetime.ApplicationStopping.IsCancellationRequested
            ? HealthCheckResult.Unhealthy("The host is stopping.")
            : HealthCheckResult.Healthy("The host is running."));
}
