using MedSpa.Grains;
using MedSpa.Grains.Housekeeping;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Orleans.TestingHost;

namespace MedSpa.Tests.TestHost;

/// <summary>
/// The in-memory mode, for grain tests only: an in-process Orleans test cluster with localhost clustering, memory
/// grain storage under the production storage name and in-memory reminders. The server itself never runs like this
/// (it refuses to start without PostgreSQL); anything about storage is tested against PostgreSQL instead.
/// </summary>
public sealed class InMemoryTestCluster : IAsyncLifetime
{
    public TestCluster Cluster { get; } = new TestClusterBuilder(initialSilosCount: 1)
        .AddSiloBuilderConfigurator<SiloConfigurator>()
        .Build();

    public IGrainFactory Grains => Cluster.GrainFactory;

    public Task InitializeAsync() => Cluster.DeployAsync();

    public async Task DisposeAsync() => await Cluster.DisposeAsync();

    private sealed class SiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo)
        {
            silo.AddMemoryGrainStorage(GrainStorage.Name);
            silo.AddMemoryGrainStorageAsDefault();
            silo.UseInMemoryReminderService();
            silo.Services.TryAddSingleton(TimeProvider.System);
            silo.Services.AddOptions<HousekeepingOptions>();
            silo.Services.AddSingleton<CountingHousekeepingTask>();
            silo.Services.AddSingleton<IHousekeepingTask>(sp => sp.GetRequiredService<CountingHousekeepingTask>());
            silo.Services.AddSingleton<IHousekeepingTask, FailingHousekeepingTask>();
        }
    }
}

/// <summary>A housekeeping task that reports a growing number of removed rows, so runs can be told apart.</summary>
public sealed class CountingHousekeepingTask : IHousekeepingTask
{
    private int _runs;

    public string Name => "counting";

    public Task<int> RunAsync(DateTimeOffset now, CancellationToken cancellationToken) => Task.FromResult(Interlocked.Increment(ref _runs));
}

public sealed class FailingHousekeepingTask : IHousekeepingTask
{
    public string Name => "failing";

    public Task<int> RunAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
        throw new InvalidOperationException("the table is locked");
}
