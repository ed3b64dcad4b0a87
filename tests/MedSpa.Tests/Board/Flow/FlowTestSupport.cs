using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Grains.Board;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MedSpa.Tests.Board.Flow;

/// <summary>
/// Records what the flow grains publish to clinic boards, in order. Stands in for the board grain (another branch)
/// so these tests can assert exactly which cards and events the flow produces.
/// </summary>
public sealed class RecordingBoardPublisher : IBoardPublisher
{
    private readonly ConcurrentQueue<(Guid TenantId, Guid ClinicId, BoardChange Change)> _published = new();
    private readonly ConcurrentDictionary<Guid, bool> _unreachable = new();

    /// <summary>Makes publishes for the tenant fail (as when the board's silo is down) until <see cref="Restore"/>.</summary>
    public void MakeUnreachable(Guid tenantId) => _unreachable[tenantId] = true;

    public void Restore(Guid tenantId) => _unreachable.TryRemove(tenantId, out _);

    public Task PublishAsync(Guid tenantId, Guid clinicId, ImmutableArray<BoardChange> changes)
    {
        if (_unreachable.ContainsKey(tenantId))
        {
            throw new TimeoutException("The board is unreachable (test).");
        }

        foreach (var change in changes)
        {
            _published.Enqueue((tenantId, clinicId, change));
        }

        return Task.CompletedTask;
    }

    public IReadOnlyList<BoardChange> For(Guid tenantId, Guid clinicId) =>
        [.. _published.Where(p => p.TenantId == tenantId && p.ClinicId == clinicId).Select(p => p.Change)];

    public RoomCard? LastRoomCard(Guid tenantId, Guid clinicId, Guid roomId) =>
        For(tenantId, clinicId).Select(c => c.Data).OfType<RoomCard>().LastOrDefault(c => c.RoomId == roomId);

    public ProviderCard? LastProviderCard(Guid tenantId, Guid clinicId, Guid providerId) =>
        For(tenantId, clinicId).Select(c => c.Data).OfType<ProviderCard>().LastOrDefault(c => c.ProviderId == providerId);
}

/// <summary>The real server (api + silo on PostgreSQL) with the board publishes recorded.</summary>
public class FlowApiFactory : MedSpaApiFactory
{
    public RecordingBoardPublisher Board { get; } = new();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureTestServices(services => services.AddSingleton<IBoardPublisher>(Board));
    }
}

/// <summary>A second server process on an existing database and Orleans service id: a restart of the first.</summary>
public sealed class RestartedFlowApiFactory(MedSpaApiFactory previous) : FlowApiFactory
{
    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>
    {
        ["ConnectionStrings:Postgres"] = previous.ConnectionString,
        ["Orleans:ClusterId"] = previous.ClusterId,
        ["Orleans:ServiceId"] = previous.ClusterId,
        ["Auth:SigningKey"] = previous.SigningKey,
    };
}

/// <summary>
/// One tenant's clinic with the reference rows a schedule needs (patients, providers, a service, rooms), inserted
/// straight into the database, plus a front-desk user.
/// </summary>
public sealed class FlowWorld
{
    private FlowWorld(TestTenant tenant, TestUser frontDesk) { Tenant = tenant; FrontDesk = frontDesk; }

    public TestTenant Tenant { get; }
    public TestUser FrontDesk { get; }
    public Guid TenantId => Tenant.TenantId;
    public Guid ClinicId => Tenant.ClinicId;
    public List<Guid> Patients { get; } = [];
    public List<Guid> Providers { get; } = [];
    public List<Guid> Rooms { get; } = [];
    public Guid ServiceId { get; private set; }

    /// <summary>A Monday far enough ahead that nothing else books it; 10:00 in the clinic (New York, UTC-5 in December).</summary>
    public static readonly DateTimeOffset Day = new(2030, 12, 2, 10, 0, 0, TimeSpan.FromHours(-5));

    public static async Task<FlowWorld> CreateAsync(MedSpaApiFactory factory, int patients = 3, int providers = 2, int rooms = 2)
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var world = new FlowWorld(tenant, await tenant.CreateUserAsync("front-desk"));
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        string[] names = ["Jane Doe", "John Smith", "Maria Garcia", "Wei Chen", "Amara Okafor"];
        for (var i = 0; i < patients; i++)
        {
            var id = Guid.NewGuid();
            var name = names[i % names.Length].Split(' ');
            await conn.ExecuteAsync("INSERT INTO patients (tenant_id, id, first_name, last_name) VALUES (@TenantId, @id, @first, @last)",
                new { tenant.TenantId, id, first = name[0], last = name[1] });
            world.Patients.Add(id);
        }

        for (var i = 0; i < providers; i++)
        {
            var id = Guid.NewGuid();
            await conn.ExecuteAsync(
                """
                INSERT INTO providers (tenant_id, id, first_name, last_name, display_name, title, color, clinic_ids)
                VALUES (@TenantId, @id, 'Ana', @last, @display, 'np', '#7c3aed', @clinics)
                """,
                new { tenant.TenantId, id, last = $"Rivera{i}", display = $"Ana Rivera {i}", clinics = new[] { tenant.ClinicId } });
            world.Providers.Add(id);
        }

        world.ServiceId = Guid.NewGuid();
        await conn.ExecuteAsync(
            """
            INSERT INTO services (tenant_id, id, name, category, duration_minutes, price_amount, price_currency, tax_category, income_category)
            VALUES (@TenantId, @ServiceId, 'Botox', 'neurotoxin', 30, 0, 'USD', 'medical', 'injectables')
            """, new { tenant.TenantId, world.ServiceId });

        for (var i = 0; i < rooms; i++)
        {
            var id = Guid.NewGuid();
            await conn.ExecuteAsync(
                "INSERT INTO rooms (tenant_id, id, clinic_id, number, name, kind) VALUES (@TenantId, @id, @ClinicId, @number, @name, 'treatment')",
                new { tenant.TenantId, id, tenant.ClinicId, number = $"{i + 1}", name = $"Room {i + 1}" });
            world.Rooms.Add(id);
        }

        return world;
    }

    public HttpClient Desk() => Tenant.ClientFor(FrontDesk);

    public object Booking(int patient = 0, int provider = 0, int? room = null, DateTimeOffset? start = null, int minutes = 30, int priority = 0) =>
        new
    {
        clinicId = ClinicId,
        patientId = Patients[patient],
        providerId = Providers[provider],
        serviceId = ServiceId,
        roomId = room is { } r ? Rooms[r] : (Guid?)null,
        start = start ?? Day,
        durationMinutes = minutes,
        notes = "first visit",
        priority,
    };

    public async Task<Guid> BookAsync(HttpClient client, object booking)
    {
        var response = await client.PostAsJsonAsync("/api/appointments", booking, MedSpaApiFactory.Json);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.ReadJsonAsync()).GetProperty("id").GetGuid();
    }

    public async Task<string> SqlStatusAsync(Guid appointmentId)
    {
        await using var conn = new NpgsqlConnection(Tenant.Factory.ConnectionString);
        return await conn.ExecuteScalarAsync<string>("SELECT status FROM appointments WHERE tenant_id = @TenantId AND id = @appointmentId",
            new { TenantId, appointmentId }) ?? throw new InvalidOperationException("No such appointment row.");
    }
}

public static class FlowHttp
{
    public static Task<HttpResponseMessage> PostJson(this HttpClient client, string url, object body) =>
        client.PostAsJsonAsync(url, body, MedSpaApiFactory.Json);

    public static Task<HttpResponseMessage> Visit(
        this HttpClient client, Guid appointmentId, string command, object? body = null, string? device = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/api/visits/{appointmentId}/{command}")
        {
            Content = JsonContent.Create(body ?? new { }, options: MedSpaApiFactory.Json),
        };
        if (device is not null)
        {
            request.Headers.Add("X-Device-Id", device);
        }

        return client.SendAsync(request);
    }

    public static async Task<JsonElement> OkJsonAsync(this Task<HttpResponseMessage> call)
    {
        var response = await call;
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"Expected 200, got {(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    public static async Task<JsonElement> ProblemAsync(this Task<HttpResponseMessage> call, HttpStatusCode status, string code)
    {
        var response = await call;
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"Expected {(int)status}, got {(int)response.StatusCode}: {body}");
        var json = JsonDocument.Parse(body).RootElement.Clone();
        Assert.Equal(code, json.GetProperty("code").GetString());
        return json;
    }
}
