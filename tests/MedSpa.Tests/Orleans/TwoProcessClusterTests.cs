using System.Net;
using MedSpa.Api.Features.Cluster;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces.Housekeeping;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;
using Polly;

namespace MedSpa.Tests.OrleansCluster;

/// <summary>
/// The api plus a standalone silo process on one PostgreSQL database and cluster id. The standalone silo starts
/// first, so the grains its startup activates (the housekeeping grain) live in the other process.
/// </summary>
public abstract class StandaloneSiloClusterFactory : MedSpaApiFactory
{
    private readonly List<StandaloneSiloProcess> _silos = [];

    /// <summary>How many standalone silo processes to start before the api.</summary>
    protected virtual int StandaloneSiloCount => 1;

    public IReadOnlyList<StandaloneSiloProcess> StandaloneSilos => _silos;
    public StandaloneSiloProcess StandaloneSilo => _silos[0];

    protected override async Task BeforeServerStartAsync()
    {
        for (var i = 0; i < StandaloneSiloCount; i++)
        {
            _silos.Add(StandaloneSiloProcess.Start(ConnectionString, ClusterId));
        }

        // A bound for a hung start, not a speed check: a cold silo process (JIT, migrations check, membership) on a loaded
        // 2-core machine took over a minute once while the rest of the suite ran beside it.
        await Task.WhenAll(_silos.Select(s => s.WaitUntilActiveAsync(ConnectionString, ClusterId, TimeSpan.FromMinutes(3))));
    }

    public IGrainFactory Grains => Services.GetRequiredService<IGrainFactory>();

    public Task<SiloAddress?> HousekeepingLocationAsync() =>
        Grains.GetGrain<IManagementGrain>(0).GetActivationAddress(Grains.GetGrain<IHousekeepingGrain>(IHousekeepingGrain.GlobalKey)).AsTask();

    protected override void Dispose(bool disposing)
    {
        // Runs after the api host has stopped (WebApplicationFactory.DisposeAsync ends here).
        foreach (var silo in _silos)
        {
            silo.Dispose();
        }

        base.Dispose(disposing);
    }
}

/// <summary>The api as a pure Orleans client (<c>Orleans:Mode=client</c>): every grain call goes to the other process.</summary>
public sealed class ClientModeClusterFactory : StandaloneSiloClusterFactory
{
    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?> { ["Orleans:Mode"] = "client" };
}

/// <summary>The api co-hosting a second silo of the standalone silo's cluster.</summary>
public sealed class SecondSiloClusterFactory : StandaloneSiloClusterFactory;

public sealed class ApiAsClusterClientTests(ClientModeClusterFactory factory) : IClassFixture<ClientModeClusterFactory>
{
    [Fact]
    public async Task The_cluster_endpoint_served_by_a_client_reports_the_standalone_silo_and_its_housekeeping()
    {
        using var client = await factory.CreateOperatorClientAsync();

        using var response = await client.GetAsync("/api/admin/cluster");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.ReadJsonAsync<ClusterStatusResponse>();
        Assert.Equal(1, body.ActiveSilos);
        var silo = body.Silos.Single(s => s.Status == ClusterSiloStatus.Active);
        Assert.EndsWith(":" + factory.StandaloneSilo.SiloPort, silo.Address, StringComparison.Ordinal);
        Assert.Equal(factory.StandaloneSilo.GatewayPort, silo.GatewayPort);
        // The standalone silo's startup registered the housekeeping reminder with the default period.
        Assert.Equal(TimeSpan.FromHours(1), body.Housekeeping.Period);

        var json = await (await client.GetAsync("/api/admin/cluster")).ReadJsonAsync();
        Assert.Equal("active", json.GetProperty("silos")[0].GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_grain_call_from_the_client_runs_in_the_standalone_silo_process()
    {
        var location = await factory.HousekeepingLocationAsync();
        Assert.NotNull(location);
        Assert.Equal(factory.StandaloneSilo.SiloPort, location.Endpoint.Port);

        var status = await factory.Grains.GetGrain<IHousekeepingGrain>(IHousekeepingGrain.GlobalKey).RunNowAsync();
        Assert.True(status.RunCount >= 1);
    }

    [Fact]
    public async Task Only_the_platform_operator_sees_the_cluster_and_every_tenant_role_gets_404()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var operatorClient = await factory.CreateOperatorClientAsync();

        Assert.Equal(HttpStatusCode.OK, (await operatorClient.GetAsync("/api/admin/cluster")).StatusCode);
        foreach (var role in Roles.All)
        {
            var user = role == Roles.Owner ? tenant.Owner : await tenant.CreateUserAsync(role);
            Assert.Equal(HttpStatusCode.NotFound, (await tenant.ClientFor(user).GetAsync("/api/admin/cluster")).StatusCode);
        }

        Assert.Equal(HttpStatusCode.NotFound, (await factory.CreateClient().GetAsync("/api/admin/cluster")).StatusCode);
    }
}

public sealed class ApiAsSecondSiloTests(SecondSiloClusterFactory factory) : IClassFixture<SecondSiloClusterFactory>
{
    [Fact]
    public async Task The_api_silo_and_the_standalone_silo_see_each_other_as_active()
    {
        var hosts = await Eventually.WaitForAsync(
            () => factory.Grains.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true),
            h => h.Count == 2, TimeSpan.FromSeconds(30), "two active silos");

        Assert.Equal(
            new[] { factory.SiloPort, factory.StandaloneSilo.SiloPort }.Order(),
            hosts.Keys.Select(a => a.Endpoint.Port).Order());
    }

    [Fact]
    public async Task The_standalone_process_answers_calls_from_the_api_process()
    {
        var management = factory.Grains.GetGrain<IManagementGrain>(0);
        var hosts = await Eventually.WaitForAsync(
            () => management.GetHosts(onlyActive: true), h => h.Count == 2, TimeSpan.FromSeconds(30), "two active silos");
        var standalone = hosts.Keys.Single(a => a.Endpoint.Port == factory.StandaloneSilo.SiloPort);

        // Served by the standalone silo's own runtime: a call that has to cross to the other process.
        var statistics = Assert.Single(await management.GetRuntimeStatistics([standalone]));
        Assert.InRange(statistics.DateTime, DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow.AddMinutes(1));

        // The housekeeping grain (first activated by the standalone silo's start-up) answers from whichever
        // silo the directory now places it on, with the state the standalone silo stored.
        var retry = factory.Services.GetRequiredKeyedService<ResiliencePipeline>(GrainCallRetry.Key);
        var status = await retry.ExecuteAsync(async _ =>
            await factory.Grains.GetGrain<IHousekeepingGrain>(IHousekeepingGrain.GlobalKey).GetStatusAsync());
        Assert.Equal(TimeSpan.FromHours(1), status.Period);
    }
}
