using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces.Housekeeping;
using Microsoft.AspNetCore.Http.HttpResults;
using Polly;

namespace MedSpa.Api.Features.Cluster;

/// <summary>Status of a silo as the membership table records it.</summary>
public enum ClusterSiloStatus { Created, Joining, Active, ShuttingDown, Stopping, Dead }

public sealed record ClusterSilo(
    string Address,
    string Name,
    string HostName,
    ClusterSiloStatus Status,
    int GatewayPort,
    DateTimeOffset StartedAt,
    DateTimeOffset LastHeartbeatAt);

public sealed record ClusterStatusResponse(int ActiveSilos, IReadOnlyList<ClusterSilo> Silos, HousekeepingStatus Housekeeping);

/// <summary>
/// Operator diagnostics for the Orleans cluster: which silos the membership table knows (dead ones are kept a while
/// by Orleans) and what the housekeeping grain last did. Deployment-wide, not per tenant, so it is for the platform
/// operator only; every tenant role gets 404.
/// </summary>
public static class ClusterApi
{
    public static IHostApplicationBuilder AddClusterFeature(this IHostApplicationBuilder builder)
    {
        builder.Services.AddGrainCallRetry();
        return builder;
    }

    public static WebApplication MapClusterApi(this WebApplication app)
    {
        var group = app.MapGroup("/api/admin/cluster").RequireOperator().WithTags("Operations");
        group.MapGet("", GetClusterAsync)
            .WithName("GetClusterStatus")
            .WithSummary("Silos of the Orleans cluster and the housekeeping status.");
        return app;
    }

    private static async Task<Ok<ClusterStatusResponse>> GetClusterAsync(
        IGrainFactory grains,
        [FromKeyedServices(GrainCallRetry.Key)] ResiliencePipeline retry,
        CancellationToken cancellationToken)
    {
        // Both calls only read, so retrying them after a silo failure is safe.
        var hosts = await retry.ExecuteAsync(
            async ct => await grains.GetGrain<IManagementGrain>(0).GetDetailedHosts(onlyActive: false, ct), cancellationToken);
        var housekeeping = await retry.ExecuteAsync(
            async _ => await grains.GetGrain<IHousekeepingGrain>(IHousekeepingGrain.GlobalKey).GetStatusAsync(), cancellationToken);

        var silos = hosts
            .Select(h => new ClusterSilo(
                h.SiloAddress.Endpoint.ToString(),
                h.SiloName,
                h.HostName,
                ToStatus(h.Status),
                h.ProxyPort,
                new DateTimeOffset(DateTime.SpecifyKind(h.StartTime, DateTimeKind.Utc)),
                new DateTimeOffset(DateTime.SpecifyKind(h.IAmAliveTime, DateTimeKind.Utc))))
            .OrderBy(s => s.Status == ClusterSiloStatus.Active ? 0 : 1)
            .ThenByDescending(s => s.StartedAt)
            .ToList();
        return TypedResults.Ok(new ClusterStatusResponse(silos.Count(s => s.Status == ClusterSiloStatus.Active), silos, housekeeping));
    }

    private static ClusterSiloStatus ToStatus(SiloStatus status) => status switch
    {
        SiloStatus.Joining => ClusterSiloStatus.Joining,
        SiloStatus.Active => ClusterSiloStatus.Active,
        SiloStatus.ShuttingDown => ClusterSiloStatus.ShuttingDown,
        SiloStatus.Stopping => ClusterSiloStatus.Stopping,
        SiloStatus.Dead => ClusterSiloStatus.Dead,
        _ => ClusterSiloStatus.Created,
    };
}
