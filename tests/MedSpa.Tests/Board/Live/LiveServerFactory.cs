using System.Collections.Concurrent;
using System.Collections.Immutable;
using Dapper;
using MedSpa.Api.Features.Board.Live;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MedSpa.Tests.Board.Live;

/// <summary>The real server on a real Kestrel socket (SignalR over WebSockets, browsers).</summary>
public class LiveServerFactory : MedSpaApiFactory
{
    public LiveServerFactory() => UseKestrel(0);

    public Uri BaseAddress =>
        new(Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    public IGrainFactory Grains => Services.GetRequiredService<IGrainFactory>();

    protected override void StartHost() => StartServer();

    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>
    {
        // Renew often so lapsed subscriptions and presence heal within a test's patience.
        ["BoardLive:RenewEvery"] = "00:00:03",
    };

    /// <summary>A SignalR client of <c>/hubs/clinic</c> signed in as <paramref name="accessToken"/>.</summary>
    public BoardClient Client(string accessToken, string? device = null) => new(BaseAddress, accessToken, device);
}

/// <summary>A second API host + silo on the primary's database and cluster (its own ports).</summary>
public sealed class SecondHostFactory(LiveServerFactory primary) : LiveServerFactory
{
    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>(base.ExtraSettings)
    {
        ["ConnectionStrings:Postgres"] = primary.ConnectionString,
        ["Orleans:ClusterId"] = primary.ClusterId,
        ["Orleans:ServiceId"] = primary.ClusterId,
        ["Auth:SigningKey"] = primary.SigningKey,
    };
}

/// <summary>Records every board event a connection receives, in arrival order.</summary>
public sealed class BoardClient : IAsyncDisposable
{
    private readonly ConcurrentQueue<BoardEnvelope> _received = new();
    private readonly ConcurrentQueue<string> _raw = new();
    private static readonly System.Text.Json.JsonSerializerOptions _json = CreateJson();

    private static System.Text.Json.JsonSerializerOptions CreateJson()
    {
        var options = new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web);
        MedSpa.Api.Infrastructure.ApiConventions.ConfigureJson(options);
        options.Converters.Add(new BoardEventDataReader());
        return options;
    }

    public BoardClient(Uri baseAddress, string accessToken, string? device)
    {
        var url = new Uri(baseAddress, ClinicHub.Path + (device is null ? "" : "?device=" + Uri.EscapeDataString(device)));
        Connection = new HubConnectionBuilder()
            .WithUrl(url, o => o.AccessTokenProvider = () => Task.FromResult<string?>(accessToken))
            .WithStatefulReconnect()
            .AddJsonProtocol(o =>
            {
                MedSpa.Api.Infrastructure.ApiConventions.ConfigureJson(o.PayloadSerializerOptions);
                o.PayloadSerializerOptions.Converters.Add(new BoardEventDataReader());
            })
            .Build();
        Connection.On<System.Text.Json.JsonElement>(ClinicHub.EventMethod, json =>
        {
            _raw.Enqueue(json.GetRawText());
            _received.Enqueue(System.Text.Json.JsonSerializer.Deserialize<BoardEnvelope>(json, _json)!);
        });
        Connection.On<BoardPresence>(ClinicHub.PresenceMethod, p =>
        {
            lock (_presenceLock)
            {
                PresenceMessages++;
                PresenceEntriesReceived += p.Connected.Length;
                if (Presence is null || p.Version >= Presence.Version) Presence = p;
            }
        });
        Connection.On<BoardPresenceChange>(ClinicHub.PresenceChangedMethod, change =>
        {
            lock (_presenceLock)
            {
                PresenceMessages++;
                PresenceEntriesReceived += change.Upserted.Length + change.Removed.Length;
                // A change can arrive before the join's answer (the screen is a member before it reads the board):
                // keep it, and apply it after the join's list if it follows on from it.
                if (Presence is null) _earlyChanges.Add(change);
                else ApplyChange(change);
            }
        });
    }

    private readonly List<BoardPresenceChange> _earlyChanges = [];

    /// <summary>Changes that did not follow on from the version held (the page rejoins for a whole list then).</summary>
    public int PresenceGaps { get; private set; }

    private void ApplyChange(BoardPresenceChange change)
    {
        if (change.Version <= Presence!.Version) return;
        if (change.PreviousVersion != Presence.Version)
        {
            PresenceGaps++;
            return;
        }

        Presence = Apply(Presence, change);
    }

    private readonly object _presenceLock = new();

    public HubConnection Connection { get; }

    /// <summary>Who is connected, as this client holds it: the join's list with every later change applied (as the page does).</summary>
    public BoardPresence? Presence { get; private set; }

    /// <summary>Presence messages received (whole lists and changes) and the entries they carried.</summary>
    public int PresenceMessages { get; private set; }

    public int PresenceEntriesReceived { get; private set; }

    private static BoardPresence Apply(BoardPresence presence, BoardPresenceChange change)
    {
        var entries = presence.Connected.ToDictionary(e => new PresenceKey(e.UserId, e.DeviceId));
        foreach (var key in change.Removed) entries.Remove(key);
        foreach (var entry in change.Upserted) entries[new PresenceKey(entry.UserId, entry.DeviceId)] = entry;
        return new BoardPresence([.. entries.Values], change.AsOf, change.Version);
    }
    public IReadOnlyList<BoardEnvelope> Received => [.. _received];

    /// <summary>
    /// What a client applies under the board protocol (the /board page does the same): an event whose seq it already
    /// has is a harmless redelivery (e.g. a transport resend after a stateful reconnect) and is skipped. Gaps and
    /// out-of-order events are not hidden: they stay in the list.
    /// </summary>
    public IReadOnlyList<BoardEnvelope> Applied
    {
        get
        {
            var applied = new List<BoardEnvelope>();
            foreach (var e in _received)
            {
                if (applied.Count == 0 || e.Seq != applied[^1].Seq && !applied.Exists(a => a.Seq == e.Seq))
                {
                    applied.Add(e);
                }
            }

            return applied;
        }
    }
    /// <summary>The same events as JSON text, as they came over the wire.</summary>
    public IReadOnlyList<string> ReceivedJson => [.. _raw];

    public async Task<BoardJoinResult> JoinAsync(Guid clinicId, long? lastSeq = null)
    {
        if (Connection.State == HubConnectionState.Disconnected) await Connection.StartAsync();
        var result = await Connection.InvokeAsync<BoardJoinResult>("JoinBoard", clinicId, lastSeq);
        lock (_presenceLock)
        {
            if (Presence is null || result.Presence.Version >= Presence.Version) Presence = result.Presence;
            foreach (var change in _earlyChanges) ApplyChange(change);
            _earlyChanges.Clear();
        }

        return result;
    }

    public async ValueTask DisposeAsync() => await Connection.DisposeAsync();
}

public static class BoardTestData
{
    public static RoomCard Room(Guid roomId, RoomStatus status, string? patient = null, string name = "Room 1") =>
        new(roomId, name, status, status == RoomStatus.InProgress ? TreatmentPhase.JustStarted : null, null, patient, null,
            patient is null ? null : "Botox", null, 30, null, false, DateTimeOffset.UtcNow, null, DateTimeOffset.UtcNow);

    public static BoardChange RoomChange(Guid roomId, RoomStatus status, string? patient = null) =>
        new(BoardEventNames.RoomUpdated, Room(roomId, status, patient));

    public static IClinicBoardGrain Board(this IGrainFactory grains, TestTenant tenant) =>
        grains.GetGrain<IClinicBoardGrain>(BoardKeys.For(tenant.TenantId, tenant.ClinicId));

    public static async Task<Guid> AddRoomAsync(this TestTenant tenant, string number, string name)
    {
        var id = Guid.NewGuid();
        await using var conn = new NpgsqlConnection(tenant.Factory.ConnectionString);
        await conn.ExecuteAsync(
            "INSERT INTO rooms (tenant_id, id, clinic_id, number, name, kind) VALUES (@TenantId, @id, @ClinicId, @number, @name, 'treatment')",
            new { tenant.TenantId, id, tenant.ClinicId, number, name });
        return id;
    }

    public static async Task<Guid> AddProviderAsync(this TestTenant tenant, string displayName, Guid? userId)
    {
        var id = Guid.NewGuid();
        await using var conn = new NpgsqlConnection(tenant.Factory.ConnectionString);
        await conn.ExecuteAsync(
            """
            INSERT INTO providers (tenant_id, id, user_id, first_name, last_name, display_name, title, color, clinic_ids)
            VALUES (@TenantId, @id, @userId, 'First', 'Last', @displayName, 'injector', '#336699', ARRAY[@ClinicId])
            """,
            new { tenant.TenantId, id, userId, displayName, tenant.ClinicId });
        return id;
    }

    public static async Task<Guid> AddClinicAsync(this TestTenant tenant, bool showFullNames = false)
    {
        var id = Guid.NewGuid();
        await using var conn = new NpgsqlConnection(tenant.Factory.ConnectionString);
        await conn.ExecuteAsync(
            """
            INSERT INTO clinics (tenant_id, id, name, time_zone, currency, show_full_patient_names)
            VALUES (@TenantId, @id, 'Second clinic', 'America/New_York', 'USD', @showFullNames)
            """,
            new { tenant.TenantId, id, showFullNames });
        return id;
    }

    public static ImmutableArray<BoardChange> RoomChanges(Guid roomId, int count) =>
        [.. Enumerable.Range(0, count)
            .Select(i => RoomChange(roomId, i % 2 == 0 ? RoomStatus.Waiting : RoomStatus.InProgress, $"Patient Number{i}"))];
}

/// <summary>
/// Reads <see cref="BoardEventData"/> the way a client does: the wire carries no type discriminator, so the shape
/// tells (clients usually switch on the event name instead).
/// </summary>
public sealed class BoardEventDataReader : System.Text.Json.Serialization.JsonConverter<BoardEventData>
{
    public override BoardEventData? Read(
        ref System.Text.Json.Utf8JsonReader reader, Type typeToConvert, System.Text.Json.JsonSerializerOptions options)
    {
        using var doc = System.Text.Json.JsonDocument.ParseValue(ref reader);
        var root = doc.RootElement;
        Type type = root.TryGetProperty("roomId", out _) && root.TryGetProperty("outOfServiceReason", out _) ? typeof(RoomCard)
            : root.TryGetProperty("connection", out _) ? typeof(ProviderCard)
            : root.TryGetProperty("entries", out _) ? typeof(WaitingQueueView)
            : typeof(VisitFlowEvent);
        return (BoardEventData?)System.Text.Json.JsonSerializer.Deserialize(root, type, options);
    }

    public override void Write(System.Text.Json.Utf8JsonWriter writer, BoardEventData value, System.Text.Json.JsonSerializerOptions options) =>
        System.Text.Json.JsonSerializer.Serialize(writer, value, value.GetType(), options);
}

/// <summary>Waits for a condition that becomes true asynchronously (no fixed sleeps).</summary>
public static class Eventually
{
    public static async Task TrueAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail("Timed out waiting until " + what);
            await Task.Delay(20);
        }
    }

    public static async Task TrueAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail("Timed out waiting until " + what);
            await Task.Delay(20);
        }
    }
}
