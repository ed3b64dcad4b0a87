using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using MedSpa.Api.Features.Auth;
using MedSpa.Api.Features.Board.Live;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces.Board;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MedSpa.Benchmarks;

// Live-board push benchmark (issue 3 §6). For each client count: N SignalR clients (WebSockets) join one clinic's
// board; status changes are published at a steady rate; each client timestamps every event it receives.
//   board   — publish through the clinic's board grain (what the flow grains do once their state is durable):
//             PostgreSQL write, one-way observer call to the host, SignalR group send.
//   http    — through the HTTP API as a front desk would (POST /api/rooms/{id}/out-of-service | in-service):
//             HTTP handler, room grain (its own PostgreSQL write), then the board path above. Latency counts from
//             just before the request is sent, so it includes the whole API call.
//   baseline — the same envelopes sent straight to the SignalR group from the same process (no Orleans, no database):
//             the floor the board path adds to.
// Latency = client receipt − moment the publish call was made (one process, one monotonic clock).
public static class BoardPushBenchmark
{
    public static async Task Main(string[] args)
    {
        // WebApplicationFactory finds the api's content root through MvcTestingAppManifest.json in the working directory.
        Directory.SetCurrentDirectory(AppContext.BaseDirectory);
        var settings = Settings.Parse(args);
        var adminCs = Environment.GetEnvironmentVariable("MEDSPA_TEST_PG")
                      ?? throw new InvalidOperationException("MEDSPA_TEST_PG is not set: run through ./medspa bench.");
        var dbName = "bench_" + Guid.NewGuid().ToString("N")[..12];
        await using (var admin = new NpgsqlConnection(adminCs))
        {
            await admin.ExecuteAsync($"CREATE DATABASE \"{dbName}\"");
        }

        var cs = new NpgsqlConnectionStringBuilder(adminCs) { Database = dbName, MaxPoolSize = 50 }.ConnectionString;
        await using var server = new BenchServer(cs);
        server.Start();
        Console.WriteLine($"# Live board push benchmark — {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}");
        Console.WriteLine($"server {server.BaseAddress}; rate {settings.Rate}/s; {settings.Events} events per run; warm-up {settings.Warmup}; clients: {settings.Client}");
        Console.WriteLine();
        Console.WriteLine("| path | clients | events | deliveries | lost | p50 ms | p99 ms | max ms | publish p50 ms |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");

        var idle = new List<string>();
        foreach (var clients in settings.Clients)
        {
            var tenant = await server.CreateTenantAsync();
            var connected = await ConnectAsync(server, tenant, clients, settings.Client);
        // Raw clients ping like the board page does (every 5 s), or the server would time them out.
        using var pinging = new CancellationTokenSource();
        var pinger = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(5));
            while (await timer.WaitForNextTickAsync(pinging.Token).ConfigureAwait(false))
            {
                foreach (var raw in connected.OfType<RawBoardClient>()) await raw.PingAsync();
            }
        });
            var room = tenant.RoomId;
            foreach (var path in new[] { "baseline", "board", "http" })
            {
                var result = await RunAsync(server, tenant, connected, room, path, settings);
                Console.WriteLine(result);
            }

            // Idle: everyone connected, nothing published (keep-alive pings, renewals and timers only).
            var cpu = await MeasureIdleCpuAsync(settings.IdleSeconds);
            idle.Add($"| {clients} | {settings.IdleSeconds} s | {cpu:F2} % of one core |");
            await pinging.CancelAsync();
        await pinger.ContinueWith(_ => { });
        await Task.WhenAll(connected.Select(c => c.DisposeAsync().AsTask()));
        }

        Console.WriteLine();
        Console.WriteLine("Idle CPU of the process (server + silo + the connected benchmark clients), no events published:");
        Console.WriteLine();
        Console.WriteLine("| clients | window | CPU |");
        Console.WriteLine("|---:|---:|---:|");
        Console.WriteLine($"| 0 | {settings.IdleSeconds} s | {await MeasureIdleCpuAsync(settings.IdleSeconds):F2} % of one core |");
        foreach (var line in idle) Console.WriteLine(line);

        await server.DisposeAsync();
        await using (var admin = new NpgsqlConnection(adminCs))
        {
            NpgsqlConnection.ClearAllPools();
            await admin.ExecuteAsync($"DROP DATABASE IF EXISTS \"{dbName}\" WITH (FORCE)");
        }
    }

    private static async Task<List<IBenchClient>> ConnectAsync(BenchServer server, BenchTenant tenant, int count, string kind)
    {
        var clients = new List<IBenchClient>(count);
        using var gate = new SemaphoreSlim(32);
        var tasks = Enumerable.Range(0, count).Select(async _ =>
        {
            await gate.WaitAsync();
            try
            {
                IBenchClient client;
                if (kind == "signalr")
                {
                    var hubClient = new BenchClient(server.BaseAddress, tenant.Token);
                    await hubClient.Connection.StartAsync();
                    await hubClient.Connection.InvokeAsync<JsonElement>("JoinBoard", tenant.ClinicId, (long?)null);
                    client = hubClient;
                }
                else
                {
                    var raw = new RawBoardClient();
                    await raw.ConnectAsync(server.BaseAddress, tenant.Token, tenant.ClinicId);
                    client = raw;
                }

                lock (clients) clients.Add(client);
            }
            finally
            {
                gate.Release();
            }
        });
        await Task.WhenAll(tasks);
        return clients;
    }

    private static async Task<string> RunAsync(BenchServer server, BenchTenant tenant, List<IBenchClient> clients, Guid room, string path, Settings settings)
    {
        var board = server.Grains.GetGrain<IClinicBoardGrain>(BoardKeys.For(tenant.TenantId, tenant.ClinicId));
        var hub = server.Services.GetRequiredService<IHubContext<ClinicHub>>();
        var group = BoardLiveFeed.GroupName(tenant.TenantId, tenant.ClinicId);
        var baselineSeq = 1_000_000_000L * (path == "baseline" ? 1 : 0);
        var total = settings.Warmup + settings.Events;
        var sentAt = new Dictionary<long, long>(total);
        var publishTimes = new List<double>(total);
        foreach (var c in clients) c.Reset();

        // http: alternate out-of-service / in-service on the room through the API, as a front desk would; each call
        // makes the room grain publish exactly one room.updated, matched to its call by order afterwards.
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", tenant.DeskToken);
        var httpStartSeq = path == "http" ? (await board.GetSnapshotAsync()).Seq : 0;
        var httpCalls = new List<(long T0, long T1)>(total);

        var interval = TimeSpan.FromSeconds(1.0 / settings.Rate);
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < total; i++)
        {
            // Steady rate: wait until this event's slot (no catching up in bursts after a slow publish).
            var due = start + (long)(i * interval.TotalSeconds * Stopwatch.Frequency);
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
            if (wait > TimeSpan.Zero) await Task.Delay(wait);

            var card = new RoomCard(room, "Room 1", i % 2 == 0 ? RoomStatus.InProgress : RoomStatus.Documenting, TreatmentPhase.InProgress,
                Guid.NewGuid(), "Jane Doe", null, "Botox", DateTimeOffset.UtcNow, 30, 3, false, DateTimeOffset.UtcNow, null, DateTimeOffset.UtcNow);
            var t0 = Stopwatch.GetTimestamp();
            long seq;
            if (path == "board")
            {
                seq = await board.PublishAsync([new BoardChange(BoardEventNames.RoomUpdated, card)]);
            }
            else if (path == "http")
            {
                var outOfService = _roomOutOfService = !_roomOutOfService;
                using var response = outOfService
                    ? await http.PostAsJsonAsync($"/api/rooms/{room}/out-of-service", new { reason = $"bench {i}" })
                    : await http.PostAsync($"/api/rooms/{room}/in-service", null);
                response.EnsureSuccessStatusCode();
                httpCalls.Add((t0, Stopwatch.GetTimestamp()));
                continue;
            }
            else
            {
                seq = ++baselineSeq;
                await hub.Clients.Group(group).SendAsync(ClinicHub.EventMethod, new BoardEnvelope(BoardEventNames.RoomUpdated, seq, DateTimeOffset.UtcNow, card));
            }

            var t1 = Stopwatch.GetTimestamp();
            if (i >= settings.Warmup)
            {
                sentAt[seq] = t0;
                publishTimes.Add(Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds);
            }
        }

        if (path == "http")
        {
            var catchUp = await board.GetSinceAsync(httpStartSeq);
            var roomEvents = catchUp.Events.Where(e => e.Event == BoardEventNames.RoomUpdated && e.Data is RoomCard c && c.RoomId == room).ToList();
            if (catchUp.SnapshotNeeded || roomEvents.Count != httpCalls.Count)
            {
                throw new InvalidOperationException($"http path: {httpCalls.Count} calls but {roomEvents.Count} room.updated events");
            }

            for (var i = settings.Warmup; i < httpCalls.Count; i++)
            {
                sentAt[roomEvents[i].Seq] = httpCalls[i].T0;
                publishTimes.Add(Stopwatch.GetElapsedTime(httpCalls[i].T0, httpCalls[i].T1).TotalMilliseconds);
            }
        }

        // Wait (bounded) for the last deliveries.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        var expected = sentAt.Keys.ToHashSet();
        while (DateTime.UtcNow < deadline && clients.Any(c => !c.HasAll(expected))) await Task.Delay(50);

        var latencies = new List<double>(clients.Count * expected.Count);
        long lost = 0;
        foreach (var c in clients)
        {
            var received = c.Snapshot();
            foreach (var (seq, t0) in sentAt)
            {
                if (received.TryGetValue(seq, out var t)) latencies.Add(Stopwatch.GetElapsedTime(t0, t).TotalMilliseconds);
                else lost++;
            }
        }

        latencies.Sort();
        publishTimes.Sort();
        return string.Create(CultureInfo.InvariantCulture,
            $"| {path} | {clients.Count} | {expected.Count} | {latencies.Count} | {lost} | {Pct(latencies, 50):F2} | {Pct(latencies, 99):F2} | {(latencies.Count > 0 ? latencies[^1] : double.NaN):F2} | {Pct(publishTimes, 50):F2} |");
    }

    // The bench room's out-of-service flag, carried across runs so every call is a real change.
    private static bool _roomOutOfService;

    private static double Pct(List<double> sorted, double p) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p / 100 * sorted.Count) - 1)];

    private static async Task<double> MeasureIdleCpuAsync(int seconds)
    {
        var process = Process.GetCurrentProcess();
        process.Refresh();
        var cpu0 = process.TotalProcessorTime;
        var wall = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(seconds));
        process.Refresh();
        return (process.TotalProcessorTime - cpu0).TotalMilliseconds / wall.Elapsed.TotalMilliseconds * 100;
    }
}

sealed record Settings(int[] Clients, double Rate, int Events, int Warmup, int IdleSeconds, string Client)
{
    public static Settings Parse(string[] args)
    {
        var s = new Settings([100, 1000], 20, 400, 40, 30, "raw");
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            var v = args[i + 1];
            s = args[i] switch
            {
                "--clients" => s with { Clients = [.. v.Split(',').Select(int.Parse)] },
                "--rate" => s with { Rate = double.Parse(v, CultureInfo.InvariantCulture) },
                "--events" => s with { Events = int.Parse(v, CultureInfo.InvariantCulture) },
                "--warmup" => s with { Warmup = int.Parse(v, CultureInfo.InvariantCulture) },
                "--client" => s with { Client = v is "raw" or "signalr" ? v : throw new ArgumentException("--client raw|signalr") },
                "--idle" => s with { IdleSeconds = int.Parse(v, CultureInfo.InvariantCulture) },
                _ => throw new ArgumentException($"Unknown option {args[i]} (--clients 100,1000 --rate 20 --events 400 --warmup 40 --idle 30 --client raw|signalr)"),
            };
        }

        return s;
    }
}

public interface IBenchClient : IAsyncDisposable
{
    void Reset();
    bool HasAll(HashSet<long> seqs);
    Dictionary<long, long> Snapshot();
}

/// <summary>Token: the wall screen's (display) token; DeskToken: a front desk's, for the HTTP path; RoomId: a real room.</summary>
sealed record BenchTenant(Guid TenantId, Guid ClinicId, string Token, string DeskToken, Guid RoomId);

/// <summary>One SignalR client: records when each seq arrived (reads only the seq of the envelope).</summary>
sealed class BenchClient : IBenchClient
{
    private readonly object _lock = new();
    private Dictionary<long, long> _received = [];

    public BenchClient(Uri baseAddress, string token)
    {
        Connection = new HubConnectionBuilder()
            .WithUrl(new Uri(baseAddress, ClinicHub.Path), o =>
            {
                o.AccessTokenProvider = () => Task.FromResult<string?>(token);
                o.Transports = Microsoft.AspNetCore.Http.Connections.HttpTransportType.WebSockets;
                o.SkipNegotiation = true;
            })
            .AddJsonProtocol(o => ApiConventions.ConfigureJson(o.PayloadSerializerOptions))
            .Build();
        Connection.On<JsonElement>(ClinicHub.EventMethod, e =>
        {
            var at = Stopwatch.GetTimestamp();
            var seq = e.GetProperty("seq").GetInt64();
            lock (_lock) _received.TryAdd(seq, at);
        });
    }

    public HubConnection Connection { get; }

    public ValueTask DisposeAsync() => Connection.DisposeAsync();

    public void Reset() { lock (_lock) _received = []; }

    public bool HasAll(HashSet<long> seqs) { lock (_lock) return seqs.All(_received.ContainsKey); }

    public Dictionary<long, long> Snapshot() { lock (_lock) return new Dictionary<long, long>(_received); }
}

/// <summary>The real server (api + co-hosted silo) on a Kestrel socket, on the benchmark's database.</summary>
sealed class BenchServer(string connectionString) : WebApplicationFactory<Program>
{
    public Uri BaseAddress =>
        new(Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    public IGrainFactory Grains => Services.GetRequiredService<IGrainFactory>();

    public string ConnectionString { get; } = connectionString;

    public void Start()
    {
        UseKestrel(0);
        StartServer();
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Production");
        var cluster = "bench-" + Guid.NewGuid().ToString("N")[..8];
        builder.UseSetting("ConnectionStrings:Postgres", ConnectionString);
        builder.UseSetting("Orleans:ClusterId", cluster);
        builder.UseSetting("Orleans:ServiceId", cluster);
        builder.UseSetting("Orleans:SiloPort", FreePort().ToString(CultureInfo.InvariantCulture));
        builder.UseSetting("Orleans:GatewayPort", FreePort().ToString(CultureInfo.InvariantCulture));
        builder.UseSetting("Seed:Demo", "false");
        builder.UseSetting("Logging:LogLevel:Default", "Warning");
        builder.UseSetting("Auth:SigningKey", Environment.GetEnvironmentVariable("Auth__SigningKey")
                                              ?? Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(48)));
    }

    public async Task<BenchTenant> CreateTenantAsync()
    {
        var tenantId = Guid.NewGuid();
        var clinicId = Guid.NewGuid();
        var userId = Guid.NewGuid();
        var deskId = Guid.NewGuid();
        var roomId = Guid.NewGuid();
        await using var conn = new NpgsqlConnection(ConnectionString);
        await conn.ExecuteAsync(
            """
            INSERT INTO tenants (id, name, slug) VALUES (@tenantId, 'Bench', @slug);
            INSERT INTO clinics (tenant_id, id, name, time_zone, currency) VALUES (@tenantId, @clinicId, 'Bench clinic', 'UTC', 'USD');
            INSERT INTO users (tenant_id, id, email, display_name, role, password_hash) VALUES (@tenantId, @userId, @email, 'Wall', 'display', '!');
            INSERT INTO user_clinics (tenant_id, user_id, clinic_id) VALUES (@tenantId, @userId, @clinicId);
            INSERT INTO users (tenant_id, id, email, display_name, role, password_hash) VALUES (@tenantId, @deskId, @deskEmail, 'Desk', 'front-desk', '!');
            INSERT INTO user_clinics (tenant_id, user_id, clinic_id) VALUES (@tenantId, @deskId, @clinicId);
            INSERT INTO rooms (tenant_id, id, clinic_id, number, name, kind) VALUES (@tenantId, @roomId, @clinicId, '1', 'Room 1', 'treatment');
            """,
            new
            {
                tenantId, clinicId, userId, deskId, roomId, slug = "b-" + tenantId.ToString("N")[..12],
                email = $"bench-{userId:N}@example.test", deskEmail = $"desk-{deskId:N}@example.test",
            });
        var issuer = Services.GetRequiredService<AccessTokenIssuer>();
        var (token, _) = issuer.Issue(new TokenSubject(userId, tenantId, Roles.Display, "bench@example.test", "Wall", [clinicId], Guid.NewGuid()));
        var (deskToken, _) = issuer.Issue(new TokenSubject(deskId, tenantId, Roles.FrontDesk, "desk@example.test", "Desk", [clinicId], Guid.NewGuid()));
        return new BenchTenant(tenantId, clinicId, token, deskToken, roomId);
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
