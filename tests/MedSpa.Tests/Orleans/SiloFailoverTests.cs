using System.Diagnostics;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces.Housekeeping;
using Microsoft.Extensions.DependencyInjection;
using Polly;
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
    public async Task After_the_silo_hosting_a_grain_is_killed_a_retried_call_reactivates_it_elsewhere_with_its_stored_state()
    {
        var housekeeping = factory.Grains.GetGrain<IHousekeepingGrain>(IHousekeepingGrain.GlobalKey);
        var before = await housekeeping.RunNowAsync();
        var location = await factory.HousekeepingLocationAsync();
        Assert.NotNull(location);
        var host = factory.StandaloneSilos.Single(s => s.SiloPort == location.Endpoint.Port);
        var survivor = factory.StandaloneSilos.Single(s => s != host);

        host.Kill();

        // Without a retry, a call to the dead silo's grain fails with a transient Orleans error.
        var failure = await Assert.ThrowsAnyAsync<Exception>(() => housekeeping.GetStatusAsync());
        Assert.True(GrainCallRetry.IsTransient(failure), failure.ToString());

        var retry = factory.Services.GetRequiredKeyedService<ResiliencePipeline>(GrainCallRetry.Key);
        var attempts = 0;
        var clock = Stopwatch.StartNew();
        var after = await retry.ExecuteAsync(async _ =>
        {
            attempts++;
            return await housekeeping.GetStatusAsync();
        });
        output.WriteLine($"retried call succeeded after {clock.Elapsed.TotalSeconds:F1} s in {attempts} attempt(s)");

        Assert.Equal(before.RunCount, after.RunCount);
        Assert.Equal(before.LastRunAt, after.LastRunAt);
        Assert.Equal(survivor.SiloPort, (await factory.HousekeepingLocationAsync())!.Endpoint.Port);
    }
}
