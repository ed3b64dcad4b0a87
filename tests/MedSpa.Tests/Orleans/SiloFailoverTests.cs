using System.Diagnostics;
using System.Net;
using MedSpa.Api.Features.Cluster;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces.Housekeeping;
using MedSpa.Tests.TestHost;
using Xunit.Abstractions;

namespace MedSpa.Tests.OrleansCluster;

/// <summary>Two standalone silo processes and the api as their client, so either silo can be killed.</summary>
public sealed class FailoverClusterFactory : StandaloneSiloClusterFactory
{
    protected override int StandaloneSiloCount => 2;
    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?> { ["Orleans:Mode"] = "client" };
}

public sealed class SiloFailoverTests(FailoverClusterFactory factory, ITestOutputHelper output) : IClassFixture<FailoverClusterFactory>
{
    [Fact]
    public async Task After_the_silo_hosting_a_grain_is_killed_the_endpoint_retries_until_the_grain_is_reactivated_elsewhere_with_its_state()
    {
        using var client = await factory.CreateOperatorClientAsync();
        var housekeeping = factory.Grains.GetGrain<IHousekeepingGrain>(IHousekeepingGrain.GlobalKey);
        var before = await housekeeping.RunNowAsync();
        var location = await factory.HousekeepingLocationAsync();
        Assert.NotNull(location);
        var host = factory.StandaloneSilos.Single(s => s.SiloPort == location.Endpoint.Port);
        var survivor = factory.StandaloneSilos.Single(s => s != host);

        host.Kill();

        // Without a retry, a call to the dead silo's grain fails with a transient Orleans error...
        var failure = await Assert.ThrowsAnyAsync<Exception>(() => housekeeping.GetStatusAsync());
        Assert.True(GrainCallRetry.IsTransient(failure), failure.ToString());

        // ...while the endpoint, whose grain calls go through the retry pipeline, answers once the cluster has
        // declared the silo dead and the grain has re-activated on the survivor from its stored state.
        var clock = Stopwatch.StartNew();
        using var response = await client.GetAsync("/api/admin/cluster");
        output.WriteLine($"GET /api/admin/cluster answered {(int)response.StatusCode} after {clock.Elapsed.TotalSeconds:F1} s");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var after = (await response.ReadJsonAsync<ClusterStatusResponse>()).Housekeeping;
        Assert.Equal(before.RunCount, after.RunCount);
        Assert.Equal(before.LastRunAt, after.LastRunAt);
        Assert.Equal(survivor.SiloPort, (await factory.HousekeepingLocationAsync())!.Endpoint.Port);
    }
}
