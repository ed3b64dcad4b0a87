using MedSpa.Silo;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MedSpa.Tests.OrleansCluster;

/// <summary>
/// A silo host built exactly as the server builds it (<c>AddMedSpaDatabase</c> + <c>AddMedSpaOrleans</c>: migrations,
/// AdoNet clustering, storage and reminders on PostgreSQL), on free ports, for tests that need Orleans itself
/// rather than HTTP. Several instances with the same cluster id form one cluster.
/// </summary>
public sealed class TestSilo : IAsyncDisposable
{
    private readonly IHost _host;
    private bool _stopped;

    private TestSilo(IHost host, string clusterId, int siloPort)
    {
        _host = host;
        ClusterId = clusterId;
        SiloPort = siloPort;
    }

    public string ClusterId { get; }
    public int SiloPort { get; }
    public IServiceProvider Services => _host.Services;
    public IGrainFactory Grains => _host.Services.GetRequiredService<IGrainFactory>();

    public static string NewClusterId() => "t-" + Guid.NewGuid().ToString("N")[..12];

    public static async Task<TestSilo> StartAsync(
        string connectionString,
        string clusterId,
        IDictionary<string, string?>? settings = null,
        Action<IServiceCollection>? configureServices = null)
    {
        var host = Build(connectionString, clusterId, settings, configureServices, out var siloPort);
        var silo = new TestSilo(host, clusterId, siloPort);
        try
        {
            await host.StartAsync();
        }
        catch
        {
            await silo.DisposeAsync();
            throw;
        }

        return silo;
    }

    public static IHost Build(
        string connectionString,
        string clusterId,
        IDictionary<string, string?>? settings,
        Action<IServiceCollection>? configureServices,
        out int siloPort)
    {
        siloPort = FreePorts.Next();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Testing", DisableDefaults = true });
        var config = new Dictionary<string, string?>
        {
            ["ConnectionStrings:Postgres"] = connectionString,
            ["Orleans:ClusterId"] = clusterId,
            ["Orleans:ServiceId"] = clusterId,
            ["Orleans:SiloPort"] = siloPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Orleans:GatewayPort"] = FreePorts.Next().ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            config[key] = value;
        }

        builder.Configuration.AddInMemoryCollection(config);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.AddMedSpaDatabase();
        builder.AddMedSpaOrleans();
        configureServices?.Invoke(builder.Services);
        return builder.Build();
    }

    /// <summary>Graceful stop: the silo leaves the membership as Dead and hands its reminders over.</summary>
    public async Task StopAsync()
    {
        if (!_stopped)
        {
            _stopped = true;
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await _host.StopAsync(cts.Token);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        finally
        {
            _host.Dispose();
        }
    }
}

/// <summary>A fresh database for one test class, migrated once; test silos use their own cluster/service ids in it.</summary>
public sealed class MigratedDatabase : IAsyncLifetime
{
    private TestDatabase? _database;

    public string ConnectionString => _database?.ConnectionString ?? throw new InvalidOperationException("Not initialised.");

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync();
        await DatabaseMigrator.MigrateAsync(_database.ConnectionString);
    }

    public async Task DisposeAsync()
    {
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }
}

public static class Eventually
{
    /// <summary>Polls <paramref name="probe"/> until it returns a value satisfying <paramref name="done"/> or the deadline passes.</summary>
    public static async Task<T> WaitForAsync<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        T last;
        Exception? lastError = null;
        while (true)
        {
            try
            {
                last = await probe();
                if (done(last))
                {
                    return last;
                }
            }
            catch (Exception ex) when (DateTime.UtcNow < deadline)
            {
                lastError = ex;
                last = default!;
            }

            if (DateTime.UtcNow >= deadline)
            {
                throw new TimeoutException($"Timed out after {timeout} waiting for {what}. Last value: {last}", lastError);
            }

            await Task.Delay(100);
        }
    }
}
