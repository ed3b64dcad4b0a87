using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Dapper;
using MedSpa.Benchmarks.Baseline;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;
using Npgsql;

namespace MedSpa.Benchmarks;

// Redemption benchmark (issue 14 §7): `./medspa bench redemption [options]`. Redemptions of one session each against
// ONE hot package, by C concurrent callers in a closed loop (each sends its next redemption as soon as the last one
// is answered), for a fixed time per row:
//   classic — the row-lock design, in this process against the same PostgreSQL: BEGIN; SELECT … FOR UPDATE;
//             UPDATE balance; INSERT history; COMMIT from a connection pool (Baseline/ClassicRedemptionStore.cs).
//   grain   — IPackageBalanceGrain.RedeemAsync through the co-hosted silo's grain factory (eligibility, the balance,
//             its durable grain state, group commit).
//   http    — POST /api/packages/{id}/redemptions with an Idempotency-Key, as a front desk would, to the same server.
// Both designs acknowledge only once durable: the PostgreSQL the benchmark runs on has fsync on and synchronous_commit
// on (./medspa starts it so and the header prints what the server reports). Each caller count runs classic, then
// grain, then http back to back so all three meet the same machine; the ratio table compares each to the classic row
// right before it. Afterwards every design's books are checked: balance + redeemed = initial, and the history holds
// each acknowledged redemption once.
public static class RedemptionBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var settings = RedemptionSettings.Parse(args);
        Directory.SetCurrentDirectory(AppContext.BaseDirectory);
        var adminCs = Environment.GetEnvironmentVariable("MEDSPA_TEST_PG")
                      ?? throw new InvalidOperationException("MEDSPA_TEST_PG is not set: run through ./medspa bench redemption.");
        var dbName = "bench_" + Guid.NewGuid().ToString("N")[..12];
        await using (var admin = new NpgsqlConnection(adminCs))
        {
            await admin.ExecuteAsync($"CREATE DATABASE \"{dbName}\"");
        }

        var cs = new NpgsqlConnectionStringBuilder(adminCs) { Database = dbName, MaxPoolSize = settings.DbPool }.ConnectionString;
        var server = new BenchServer(cs, settings.ServerSettings);
        ClassicRedemptionStore? classic = null;
        try
        {
            server.Start();
            classic = await ClassicRedemptionStore.CreateAsync(cs, settings.DbPool);
            var world = await RedemptionWorld.CreateAsync(server, classic, settings.InitialSessions, settings.Paths);
            using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 1000, PooledConnectionLifetime = Timeout.InfiniteTimeSpan };
            using var http = new HttpClient(handler) { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", world.Tenant.DeskToken);

            var paths = settings.Paths.ToList();
            if (paths.Contains("http") && await world.HttpUnavailableAsync(http) is { } why)
            {
                paths.Remove("http");
                Console.Error.WriteLine($"POST /api/packages/{{id}}/redemptions answered 404 ({why}): the http rows are left out.");
            }

            var pg = await ServerSettingsAsync(cs);
            Console.WriteLine($"# Redemption benchmark — {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, "
                              + $"{System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}, "
                              + $"load average {LoadAverage()}");
            Console.WriteLine($"PostgreSQL {pg}");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                                  $"one hot package per design ({settings.InitialSessions:N0} sessions), 1 session per redemption; ")
                              + string.Create(CultureInfo.InvariantCulture,
                                  $"closed loop, {settings.Duration.TotalSeconds:F0} s per row after a {settings.Warmup.TotalSeconds:F0} s ")
                              + $"warm-up per design; connection pool {settings.DbPool} (classic and the server alike); "
                              + $"GC {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")}; paths {string.Join(", ", paths)}");
            Console.WriteLine();
            Console.WriteLine("| design | callers | redemptions | refused/errors | redemptions/s | p50 ms | p99 ms | max ms "
                              + "| PG commits / redemption | WAL syncs / redemption | grain-state writes / redemption | package state after, KB | process CPU |");
            Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");

            foreach (var path in paths)
            {
                await ClosedLoopAsync(world.Redeemer(path, http), 32, settings.Warmup);
            }

            var ratios = new List<string>();
            foreach (var callers in settings.Callers)
            {
                RunResult? reference = null;
                foreach (var path in paths)
                {
                    var before = await PgCounters.ReadAsync(cs);
                    var result = await ClosedLoopAsync(world.Redeemer(path, http), callers, settings.Duration);
                    result.Counters = (await PgCounters.ReadAsync(cs)).Minus(before);
                    Console.WriteLine(result.Row(path, callers));
                    if (path == "classic") reference = result;
                    else if (reference is not null) ratios.Add(result.RatioRow(path, callers, reference));
                }
            }

            if (ratios.Count > 0)
            {
                Console.WriteLine();
                Console.WriteLine("Ratio to the classic row right before it (same run and machine; issue 14's target: grain ≥ 10× the classic "
                                  + "throughput at 128 callers, with a lower p99):");
                Console.WriteLine();
                Console.WriteLine("| design | callers | redemptions/s (design / classic) | throughput × classic | p50 ms (design / classic) "
                                  + "| p99 ms (design / classic) | p99 ÷ classic |");
                Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
                foreach (var line in ratios) Console.WriteLine(line);
            }

            Console.WriteLine();
            var ok = await world.VerifyAsync(cs, Console.Out);
            return ok ? 0 : 1;
        }
        finally
        {
            if (classic is not null) await classic.DisposeAsync();
            await server.DisposeAsync();
            await using var admin = new NpgsqlConnection(adminCs);
            NpgsqlConnection.ClearAllPools();
            await admin.ExecuteAsync($"DROP DATABASE IF EXISTS \"{dbName}\" WITH (FORCE)");
        }
    }

    /// <summary>What makes an acknowledgement durable on this server, as it reports it.</summary>
    private static async Task<string> ServerSettingsAsync(string cs)
    {
        await using var conn = new NpgsqlConnection(cs);
        var version = await conn.ExecuteScalarAsync<string>("SHOW server_version");
        var names = new[] { "fsync", "synchronous_commit", "wal_sync_method", "full_page_writes", "commit_delay", "wal_level", "shared_buffers" };
        var values = new List<string>();
        foreach (var name in names) values.Add($"{name}={await conn.ExecuteScalarAsync<string>($"SHOW {name}")}");
        return $"{version}: {string.Join(", ", values)}";
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "n/a";
        }
    }

    /// <summary><paramref name="callers"/> callers, each redeeming back to back for <paramref name="duration"/>.</summary>
    internal static async Task<RunResult> ClosedLoopAsync(Func<string, Task<bool>> redeem, int callers, TimeSpan duration)
    {
        var result = new RunResult();
        var stopAt = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        result.Begin();
        await Task.WhenAll(Enumerable.Range(0, callers).Select(_ => Task.Run(async () =>
        {
            var latencies = new List<double>(4096);
            while (Stopwatch.GetTimestamp() < stopAt)
            {
                var start = Stopwatch.GetTimestamp();
                try
                {
                    if (await redeem(Guid.NewGuid().ToString("N"))) latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                    else result.Failed("refused");
                }
                catch (Exception e) when (e is HttpRequestException or InvalidOperationException or TimeoutException or TaskCanceledException
                                              or OrleansException)
                {
                    result.Failed(e.GetType().Name + ": " + e.Message);
                }
            }

            result.Add(latencies);
        })));
        result.End();
        return result;
    }

    internal sealed class RunResult
    {
        private readonly object _lock = new();
        private readonly List<double> _latencies = [];
        private readonly List<string> _errorSamples = [];
        private long _start, _end;
        private TimeSpan _cpu0, _cpu1;

        public int Errors { get; private set; }
        public PgCounters? Counters { get; set; }
        public int Count => _latencies.Count;
        public double Seconds => Stopwatch.GetElapsedTime(_start, _end).TotalSeconds;
        public double Throughput => Count / Seconds;
        public double P50 => Pct(50);
        public double P99 => Pct(99);

        public void Begin()
        {
            _cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            _start = Stopwatch.GetTimestamp();
        }

        public void End()
        {
            _end = Stopwatch.GetTimestamp();
            _cpu1 = Process.GetCurrentProcess().TotalProcessorTime;
            _latencies.Sort();
        }

        public void Add(List<double> latencies)
        {
            lock (_lock) _latencies.AddRange(latencies);
        }

        public void Failed(string what)
        {
            lock (_lock)
            {
                Errors++;
                if (_errorSamples.Count < 3) _errorSamples.Add(what);
            }
        }

        private double Pct(int p) => Stats.Percentile(_latencies, p);

        public string Row(string path, int callers)
        {
            var cpu = (_cpu1 - _cpu0).TotalSeconds / Seconds * 100;
            double Per(long n) => Count == 0 ? double.NaN : n / (double)Count;
            var c = Counters ?? new PgCounters(0, 0, 0, 0);
            var row = string.Create(CultureInfo.InvariantCulture,
                          $"| {path} | {callers} | {Count} | {Errors} | {Throughput:F0} | {P50:F2} | {P99:F2} ")
                      + string.Create(CultureInfo.InvariantCulture,
                          $"| {(Count > 0 ? _latencies[^1] : double.NaN):F2} | {Per(c.Commits):F2} | {Per(c.WalSyncs):F3} ")
                      + string.Create(CultureInfo.InvariantCulture, $"| {Per(c.GrainStateWrites):F3} | {c.LargestPackageState / 1024.0:F0} | {cpu:F0} % |");
            return _errorSamples.Count == 0 ? row : row + Environment.NewLine + string.Join(Environment.NewLine, _errorSamples.Select(e => "  error: " + e));
        }

        public string RatioRow(string path, int callers, RunResult classic) =>
            string.Create(CultureInfo.InvariantCulture,
                $"| {path} | {callers} | {Throughput:F0} / {classic.Throughput:F0} | {Throughput / classic.Throughput:F2} ")
            + string.Create(CultureInfo.InvariantCulture,
                $"| {P50:F2} / {classic.P50:F2} | {P99:F2} / {classic.P99:F2} | {P99 / classic.P99:F2} |");
    }
}

/// <summary>
/// PostgreSQL counters over one row: commits of the benchmark's database, WAL flushes to disk of the whole server
/// (pg_stat_wal.wal_sync: what fsync on costs), rows written to the Orleans grain-state table, and the largest stored
/// package grain state at the end (bytes: what each of its writes carries).
/// </summary>
sealed record PgCounters(long Commits, long WalSyncs, long GrainStateWrites, long LargestPackageState)
{
    public static async Task<PgCounters> ReadAsync(string cs)
    {
        await using var conn = new NpgsqlConnection(cs);
        await conn.ExecuteAsync("SELECT pg_stat_clear_snapshot()");
        return await conn.QuerySingleAsync<PgCounters>(
            """
            SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()) AS Commits,
                   (SELECT wal_sync FROM pg_stat_wal) AS WalSyncs,
                   coalesce((SELECT n_tup_upd + n_tup_ins FROM pg_stat_user_tables WHERE relname = 'orleans_grain_state'), 0) AS GrainStateWrites,
                   coalesce((SELECT max(octet_length(payload)) FROM orleans_grain_state WHERE grain_type LIKE '%package%'), 0)::bigint AS LargestPackageState
            """);
    }

    public PgCounters Minus(PgCounters before) =>
        new(Commits - before.Commits, WalSyncs - before.WalSyncs, GrainStateWrites - before.GrainStateWrites, LargestPackageState);
}

/// <summary>The tenant, patient, service and the hot packages of each design; counts what each acknowledged.</summary>
sealed class RedemptionWorld
{
    private long _grainAcknowledged;
    private long _httpAcknowledged;
    private long _classicAcknowledged;

    private RedemptionWorld(BenchServer server, ClassicRedemptionStore classic, BenchTenant tenant, Guid patientId, Guid serviceId, long initial)
    {
        Server = server;
        Classic = classic;
        Tenant = tenant;
        PatientId = patientId;
        ServiceId = serviceId;
        Initial = initial;
    }

    public BenchServer Server { get; }
    public ClassicRedemptionStore Classic { get; }
    public BenchTenant Tenant { get; }
    public Guid PatientId { get; }
    public Guid ServiceId { get; }
    public long Initial { get; }
    public Guid GrainPackage { get; private set; }
    public Guid HttpPackage { get; private set; }
    public Guid ClassicPackage { get; private set; }

    public static async Task<RedemptionWorld> CreateAsync(BenchServer server, ClassicRedemptionStore classic, long initial, string[] paths)
    {
        var tenant = await server.CreateTenantAsync();
        var patientId = Guid.NewGuid();
        var serviceId = Guid.NewGuid();
        await using (var conn = new NpgsqlConnection(server.ConnectionString))
        {
            await conn.ExecuteAsync(
                """
                INSERT INTO patients (tenant_id, id, first_name, last_name) VALUES (@TenantId, @patientId, 'Hot', 'Package');
                INSERT INTO services (tenant_id, id, name, category, duration_minutes, price_amount, price_currency, tax_category, income_category)
                    VALUES (@TenantId, @serviceId, 'HydraFacial', 'facial', 60, 20000, 'USD', 'service', 'services');
                """,
                new { tenant.TenantId, patientId, serviceId });
        }

        var world = new RedemptionWorld(server, classic, tenant, patientId, serviceId, initial);
        if (paths.Contains("grain")) world.GrainPackage = await world.CreateGrainPackageAsync();
        if (paths.Contains("http")) world.HttpPackage = await world.CreateGrainPackageAsync();
        world.ClassicPackage = await classic.CreatePackageAsync(initial);
        return world;
    }

    private static readonly Money SessionValue = new(100, "USD");

    private async Task<Guid> CreateGrainPackageAsync()
    {
        var id = Guid.NewGuid();
        var terms = new PackageTerms(
            Guid.NewGuid(), 1, "Hot package", null, PackageType.Standard, SessionValue * Initial, SessionValue * Initial, false, false, [],
            "services", checked((int)Initial), 0, null, null, null, false, false,
            [new PackageServiceTerms(ServiceId, "HydraFacial", SessionValue, 0, Money.Zero("USD"), Money.Zero("USD"))],
            PackageRestrictions.None, false, 0, []);
        var answer = await Grain(id).CreateAsync(new PackagePurchase(
            PatientId, Tenant.ClinicId, terms, SessionValue * Initial, DateTimeOffset.UtcNow, "UTC", null, null, Guid.NewGuid()));
        if (answer.Refused) throw new InvalidOperationException($"creating the hot package was refused: {answer.Refusal}");
        return id;
    }

    private IPackageBalanceGrain Grain(Guid id) => Server.Grains.GetGrain<IPackageBalanceGrain>(PackageKeys.For(Tenant.TenantId, id));

    private PackageRedemptionRequest Request(string operationId) =>
        new(operationId, ServiceId, 1, null, PatientId, Tenant.ClinicId, null, null, DateTimeOffset.UtcNow, null, Guid.NewGuid());

    public Func<string, Task<bool>> Redeemer(string path, HttpClient http) => path switch
    {
        "classic" => async op =>
        {
            var ok = await Classic.RedeemAsync(ClassicPackage, op, ServiceId, PatientId, Tenant.ClinicId, 1);
            if (ok) Interlocked.Increment(ref _classicAcknowledged);
            return ok;
        },
        "grain" => async op =>
        {
            var answer = await Grain(GrainPackage).RedeemAsync(Request(op));
            if (!answer.Refused) Interlocked.Increment(ref _grainAcknowledged);
            return !answer.Refused;
        },
        "http" => async op =>
        {
            using var response = await SendRedemptionAsync(http, op);
            if (response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Created)
            {
                Interlocked.Increment(ref _httpAcknowledged);
                return true;
            }

            return false;
        },
        _ => throw new ArgumentException($"unknown path {path}"),
    };

    private Task<HttpResponseMessage> SendRedemptionAsync(HttpClient http, string operationId)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/api/packages/{HttpPackage}/redemptions")
        {
            Content = JsonContent.Create(new { serviceId = ServiceId, quantity = 1, patientId = PatientId, clinicId = Tenant.ClinicId }),
        };
        request.Headers.Add("Idempotency-Key", operationId);
        return http.SendAsync(request);
    }

    /// <summary>Null when the server serves the redemption endpoint (one real redemption, counted like the others);
    /// the 404's body when it does not (a server from before the endpoint).</summary>
    public async Task<string?> HttpUnavailableAsync(HttpClient http)
    {
        using var response = await SendRedemptionAsync(http, Guid.NewGuid().ToString("N"));
        if (response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Created)
        {
            Interlocked.Increment(ref _httpAcknowledged);
            return null;
        }

        if (response.StatusCode is HttpStatusCode.NotFound) return await response.Content.ReadAsStringAsync();
        throw new InvalidOperationException(
            $"POST /api/packages/{{id}}/redemptions answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    /// <summary>No session lost or created: for each design, balance + acknowledged = initial, and its history holds each
    /// acknowledged redemption once.</summary>
    public async Task<bool> VerifyAsync(string cs, TextWriter output)
    {
        var ok = true;
        var (left, redeemed, rows) = await Classic.ReadAsync(ClassicPackage);
        var classicOk = left + _classicAcknowledged == Initial && redeemed == _classicAcknowledged && rows == _classicAcknowledged;
        ok &= classicOk;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                             $"Books check classic {(classicOk ? "PASSED" : "FAILED")}: balance {left} + acknowledged {_classicAcknowledged} ")
                         + string.Create(CultureInfo.InvariantCulture,
                             $"= {left + _classicAcknowledged} (initial {Initial}); history: {rows} rows, {redeemed} sessions"));
        foreach (var (name, id, acknowledged) in new[] { ("grain", GrainPackage, _grainAcknowledged), ("http", HttpPackage, _httpAcknowledged) })
        {
            if (id == Guid.Empty) continue;
            var grain = Grain(id);
            await grain.FlushProjectionAsync();
            var view = (await grain.GetAsync()).Package ?? throw new InvalidOperationException($"the {name} package is gone");
            var history = await PackageHistory.CountAsync(cs, Tenant.TenantId, id);
            var good = view.SessionsLeft + acknowledged == Initial && (history is null || history == acknowledged);
            ok &= good;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                                 $"Books check {name} {(good ? "PASSED" : "FAILED")}: balance {view.SessionsLeft} + acknowledged {acknowledged} ")
                             + string.Create(CultureInfo.InvariantCulture,
                                 $"= {view.SessionsLeft + acknowledged} (initial {Initial}); history: ")
                             + (history is { } h ? string.Create(CultureInfo.InvariantCulture, $"{h} rows in PostgreSQL") : "(no history table)"));
        }

        return ok;
    }
}

/// <summary>The package redemption history in PostgreSQL (written by the grain's outbox).</summary>
static class PackageHistory
{
    /// <summary>Committed redemptions of the package in its history table, or null when the server has none.</summary>
    public static async Task<long?> CountAsync(string cs, Guid tenantId, Guid packageId)
    {
        await using var conn = new NpgsqlConnection(cs);
        var table = await conn.ExecuteScalarAsync<string?>("SELECT to_regclass('package_redemptions')::text");
        if (table is null) return null;
        return await conn.ExecuteScalarAsync<long>(
            "SELECT count(*) FROM package_redemptions WHERE tenant_id = @tenantId AND purchase_id = @packageId AND state = 'committed'",
            new { tenantId, packageId });
    }
}

sealed record RedemptionSettings(int[] Callers, TimeSpan Duration, TimeSpan Warmup, int DbPool, string[] Paths, long InitialSessions)
{
    public Dictionary<string, string> ServerSettings { get; init; } = [];

    public const string Usage =
        "redemption --callers 32,128,256 --duration 10 --warmup 5 --db-pool 50 --paths classic,grain,http --sessions 2000000 "
        + "--set Config:Key=value";

    public static RedemptionSettings Parse(string[] args)
    {
        var s = new RedemptionSettings([32, 128, 256], TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(5), 50, ["classic", "grain", "http"], 2_000_000);
        for (var i = 1; i < args.Length; i += 2)
        {
            if (i + 1 >= args.Length) throw new ArgumentException($"{args[i]} needs a value ({Usage})");
            var v = args[i + 1];
            s = args[i] switch
            {
                "--callers" => s with { Callers = [.. v.Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture))] },
                "--duration" => s with { Duration = TimeSpan.FromSeconds(double.Parse(v, CultureInfo.InvariantCulture)) },
                "--warmup" => s with { Warmup = TimeSpan.FromSeconds(double.Parse(v, CultureInfo.InvariantCulture)) },
                "--db-pool" => s with { DbPool = int.Parse(v, CultureInfo.InvariantCulture) },
                "--sessions" => s with { InitialSessions = long.Parse(v, CultureInfo.InvariantCulture) },
                "--paths" => s with
                {
                    Paths = v.Split(',', StringSplitOptions.RemoveEmptyEntries) is var p && p.All(x => x is "classic" or "grain" or "http")
                        ? p
                        : throw new ArgumentException("--paths classic,grain,http"),
                },
                "--set" when v.Contains('=', StringComparison.Ordinal) => s with
                {
                    ServerSettings = new(s.ServerSettings)
                    {
                        [v[..v.IndexOf('=', StringComparison.Ordinal)]] = v[(v.IndexOf('=', StringComparison.Ordinal) + 1)..],
                    },
                },
                _ => throw new ArgumentException($"Unknown option {args[i]} ({Usage})"),
            };
        }

        return s;
    }
}
