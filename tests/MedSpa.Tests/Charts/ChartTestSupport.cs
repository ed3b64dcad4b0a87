using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Inventory;
using MedSpa.Grains;
using MedSpa.Tests.Board.Flow;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Orleans.Storage;

namespace MedSpa.Tests.Charts;

/// <summary>The real server (api + silo on PostgreSQL) with email going to an SMTP server on loopback.</summary>
public sealed class ChartApiFactory : MedSpaApiFactory
{
    public LoopbackSmtpServer Smtp { get; } = new();

    public IGrainFactory Grains => Services.GetRequiredService<IGrainFactory>();

    /// <summary>Every call the silo's grains received, by grain key and method, counted as it arrives (the calls are the
    /// real ones: the filter only counts and passes them on).</summary>
    public GrainCallCounter Calls { get; } = new();

    /// <summary>Every grain-state write the silo made, by grain key and state name (the writes are the real ones).</summary>
    public GrainStateWriteCounter Writes { get; } = new();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureServices(services => services.AddSingleton<IIncomingGrainCallFilter>(Calls));
        builder.ConfigureTestServices(services => Writes.Wrap(services, GrainStorage.Name));
    }

    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>
    {
        ["Email:Smtp:Host"] = Smtp.Host,
        ["Email:Smtp:Port"] = Smtp.Port.ToString(CultureInfo.InvariantCulture),
        ["Email:Smtp:Security"] = "none",
        ["Email:From"] = "clinic@medspa.example",
    };

    private int _disposed;

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            await Smtp.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }
}

/// <summary>Counts the grain calls a silo receives, per grain key and method name.</summary>
public sealed class GrainCallCounter : IIncomingGrainCallFilter
{
    private readonly ConcurrentDictionary<(string Key, string Method), int> _calls = new();

    public int Count(string grainKey, string method) => _calls.GetValueOrDefault((grainKey, method));

    public Task Invoke(IIncomingGrainCallContext context)
    {
        _calls.AddOrUpdate((context.TargetId.Key.ToString()!, context.MethodName), 1, (_, n) => n + 1);
        return context.Invoke();
    }
}

/// <summary>Counts the grain-state writes of one storage, per grain key and state name: it wraps the storage the silo
/// registered (the real one does every read and write) and takes its place in the silo's lifecycle.</summary>
public sealed class GrainStateWriteCounter
{
    private readonly ConcurrentDictionary<(string Key, string State), int> _writes = new();

    public int Count(string grainKey, string stateName) => _writes.GetValueOrDefault((grainKey, stateName));

    public void Wrap(IServiceCollection services, string storageName)
    {
        var registered = services.Last(d => d.ServiceType == typeof(IGrainStorage) && Equals(d.ServiceKey, storageName));
        var create = registered.KeyedImplementationFactory
                     ?? throw new InvalidOperationException($"The grain storage '{storageName}' is not registered through a factory.");
        services.Remove(registered);
        services.AddKeyedSingleton<IGrainStorage>(storageName, (sp, key) => new Counting((IGrainStorage)create(sp, key), this));
    }

    private sealed class Counting(IGrainStorage inner, GrainStateWriteCounter counter) : IGrainStorage, ILifecycleParticipant<ISiloLifecycle>
    {
        public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
            inner.ReadStateAsync(stateName, grainId, grainState);

        public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        {
            await inner.WriteStateAsync(stateName, grainId, grainState);
            counter._writes.AddOrUpdate((grainId.Key.ToString()!, stateName), 1, (_, n) => n + 1);
        }

        public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
            inner.ClearStateAsync(stateName, grainId, grainState);

        public void Participate(ISiloLifecycle lifecycle) => (inner as ILifecycleParticipant<ISiloLifecycle>)?.Participate(lifecycle);
    }
}

/// <summary>
/// A clinic with patients, two providers (and their users), a toxin (Botox, $14/unit) and a filler (Voluma, $850 per
/// 1.0 ml syringe) in the catalog, and lots received into the clinic's inventory through the inventory grain: a good
/// lot of each, an expired Botox lot and a recalled one.
/// </summary>
public sealed class ChartWorld
{
    public const string BotoxLot = "BTX-GOOD";
    public const string ExpiredLot = "BTX-OLD";
    public const string RecalledLot = "BTX-RECALL";
    public const string VolumaLot = "VOL-GOOD";

    private ChartWorld(MedSpaApiFactory factory, FlowWorld flow) { Factory = factory; Flow = flow; }

    public MedSpaApiFactory Factory { get; }
    public FlowWorld Flow { get; }
    public Guid TenantId => Flow.TenantId;
    public Guid ClinicId => Flow.ClinicId;
    public Guid Botox { get; } = Guid.NewGuid();
    public Guid Voluma { get; } = Guid.NewGuid();
    public TestUser Provider { get; private set; } = null!;
    public TestUser Provider2 { get; private set; } = null!;

    public HttpClient Desk() => Flow.Desk();
    public HttpClient Owner() => Flow.Tenant.ClientFor(Flow.Tenant.Owner);
    public HttpClient ProviderClient() => Flow.Tenant.ClientFor(Provider);
    public HttpClient Provider2Client() => Flow.Tenant.ClientFor(Provider2);

    public static async Task<ChartWorld> CreateAsync(MedSpaApiFactory factory, int patients = 3, decimal botoxUnits = 1000m)
    {
        var world = new ChartWorld(factory, await FlowWorld.CreateAsync(factory, patients: patients));
        world.Provider = await world.Flow.Tenant.CreateUserAsync("provider");
        world.Provider2 = await world.Flow.Tenant.CreateUserAsync("provider");
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            await conn.ExecuteAsync(
                """
                INSERT INTO products (tenant_id, id, name, kind, unit, units_per_package, price_per_unit_amount, price_currency,
                                      stability_hours, syringe_size_ml, tax_category, income_category)
                VALUES (@TenantId, @Botox, 'Botox Cosmetic', 'neurotoxin', 'units', 100, 1400, 'USD', 24, NULL, 'medical', 'injectables'),
                       (@TenantId, @Voluma, 'Juvederm Voluma XC', 'filler', 'syringe', 1, 85000, 'USD', NULL, 1.0, 'medical', 'injectables')
                """, new { world.TenantId, world.Botox, world.Voluma });
            await conn.ExecuteAsync("UPDATE patients SET email = 'patient-' || id || '@patients.example' WHERE tenant_id = @TenantId",
                new { world.TenantId });
        }

        await world.ReceiveAsync(world.Botox, BotoxLot, new DateOnly(2031, 6, 30), botoxUnits);
        await world.ReceiveAsync(world.Botox, ExpiredLot, new DateOnly(2020, 1, 31), 100);
        await world.ReceiveAsync(world.Botox, RecalledLot, new DateOnly(2031, 6, 30), 100);
        await world.ReceiveAsync(world.Voluma, VolumaLot, new DateOnly(2031, 3, 31), 20);
        var recall = await world.Inventory(world.Botox).SetLotStatusAsync(
            new LotStatusChange("recall-" + Guid.NewGuid().ToString("N"), RecalledLot, LotStatus.Recalled, "Manufacturer recall", world.Flow.Tenant.Owner.UserId));
        Assert.Null(recall.Refusal);
        return world;
    }

    public IInventoryGrain Inventory(Guid productId) => Factory.Services.GetRequiredService<IGrainFactory>().GetGrain<IInventoryGrain>(InventoryKeys.For(TenantId, ClinicId, productId));

    public async Task ReceiveAsync(Guid productId, string lot, DateOnly expires, decimal quantity)
    {
        var answer = await Inventory(productId).ReceiveLotAsync(new ReceiveLot("recv-" + Guid.NewGuid().ToString("N"), lot, expires, quantity,
            new Money(420, "USD"), "Allergan", Flow.Tenant.Owner.UserId, DateTimeOffset.UtcNow));
        Assert.Null(answer.Refusal);
    }

    public async Task<decimal> OnHandAsync(Guid productId, string lot) =>
        (await Inventory(productId).GetAsync()).Inventory!.Lots.Single(l => l.LotNumber == lot).OnHand;

    public async Task<Guid> BookVisitAsync(int patient = 0, int provider = 0, DateTimeOffset? start = null) =>
        await Flow.BookAsync(Desk(), Flow.Booking(patient: patient, provider: provider, start: start));

    public static object Toxin(string zone, decimal units, Guid product, string lot = BotoxLot, string? op = null, Guid? pointId = null,
        decimal x = 50, decimal y = 30, long? expectedVersion = null) => new
    {
        operationId = op ?? Guid.NewGuid().ToString("N"), pointId, expectedVersion, zone, x, y, productId = product, lotNumber = lot, units,
        depth = "intramuscular", technique = "serial-puncture", needleGauge = "30G",
    };

    public static object Filler(string zone, decimal ml, Guid product, string lot = VolumaLot, string? op = null, long? expectedVersion = null) => new
    {
        operationId = op ?? Guid.NewGuid().ToString("N"), expectedVersion, zone, x = 40m, y = 60m, productId = product, lotNumber = lot,
        volumeMl = ml, depth = "supraperiosteal", technique = "bolus", needleGauge = "27G",
    };

    public static string Chart(Guid visitId) => $"/api/visits/{visitId}/chart";
}

public static class ChartHttp
{
    public static Task<JsonElement> AddPointAsync(this HttpClient client, Guid visitId, object point) =>
        client.SendAsync(HttpMethod.Post, ChartWorld.Chart(visitId) + "/points", point);

    public static JsonElement Point(this JsonElement chart, Guid pointId) =>
        chart.GetProperty("points").EnumerateArray().Single(p => p.GetProperty("id").GetGuid() == pointId);

    public static async Task<JsonElement> ProblemAsync(this HttpClient client, HttpMethod method, string url, object? body, HttpStatusCode status, string code)
    {
        var (actual, json) = await client.TrySendAsync(method, url, body);
        Assert.True(actual == status, $"{method} {url}: expected {(int)status}, got {(int)actual}: {json}");
        Assert.Equal(code, json.GetProperty("code").GetString());
        return json;
    }
}
