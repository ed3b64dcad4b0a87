using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Dapper;
using MedSpa.Api.Features.Auth;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Inventory;
using MedSpa.Silo.Audit;
using MedSpa.Silo.Data;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MedSpa.Benchmarks;

// Treatment chart benchmark (issue 16 §6, issue 17 §7): `./medspa bench chart [--seconds N] [--callers 1,8,32] [--sync off] [--recall off] [--parts on]`.
//   parts     — the clinic-wide serial points of the chart path, each alone (see PartsAsync).
//   chart ops — providers chart through the HTTP API, closed loop: each caller repeats add a toxin point → change its
//               units → remove it (three timed operations, each with its operation id and expected version, each also
//               a use/return in inventory). "one chart": every caller on the same visit's chart (the single writer's
//               ceiling); "100 charts": each caller picks one of 100 visits at random per cycle.
//   sync      — offline operations (issue 17 §1) through POST /api/visits/{id}/chart/operations: two tablets merging on one
//               chart, closed loop, each sending batches of 1 or 20 operations (adds, moves, dose changes, note fields)
//               over a shared pool of 40 points, raising its Lamport clock from each answer (ops/s, batch p50/p99); then a
//               queue of 500 operations applied on reconnect (one batch, 5 fresh charts: ms), and the same batch resent.
//   recall    — one clinic-year of charts (365 days x 40 treatments x 8 points = 116,800 points) seeded with SQL, then the
//               recall by lot over HTTP (GET /api/recalls/injectables?lotNumber=...) and the same query alone in SQL,
//               each 50 times over random lots: p50/p99 (target < 100 ms). Every answer's row count is checked.
public static class ChartBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = Arg(args, "--seconds", 10);
        var callers = (ArgText(args, "--callers") ?? "1,8,32").Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToArray();
        Directory.SetCurrentDirectory(AppContext.BaseDirectory);
        var adminCs = Environment.GetEnvironmentVariable("MEDSPA_TEST_PG")
                      ?? throw new InvalidOperationException("MEDSPA_TEST_PG is not set: run through ./medspa bench chart.");
        var dbName = "bench_" + Guid.NewGuid().ToString("N")[..12];
        await using (var admin = new NpgsqlConnection(adminCs))
        {
            await admin.ExecuteAsync($"CREATE DATABASE \"{dbName}\"");
        }

        var cs = new NpgsqlConnectionStringBuilder(adminCs) { Database = dbName, MaxPoolSize = 64 }.ConnectionString;
        var server = new BenchServer(cs, new Dictionary<string, string>());
        try
        {
            server.Start();
            var tenant = await server.CreateTenantAsync();
            var world = await SeedWorldAsync(server, tenant);
            using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 1000, PooledConnectionLifetime = Timeout.InfiniteTimeSpan };
            using var http = new HttpClient(handler) { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", world.ProviderToken);

            Console.WriteLine($"# Chart benchmark — {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, "
                              + $"{System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}, "
                              + $"load average {File.ReadAllText("/proc/loadavg").Split(' ').Take(3).Aggregate((a, b) => a + " " + b)}");
            Console.WriteLine($"closed loop, {seconds} s per row after a 3 s warm-up; one op = one HTTP call (add, update units or remove a point)");
            Console.WriteLine();
            Console.WriteLine("| charts | callers | ops | errors | ops/s | p50 ms | p99 ms |");
            Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
            await OpsAsync(http, world.Visits.Take(1).ToArray(), world.Botox, 4, TimeSpan.FromSeconds(3));
            foreach (var (label, visits) in new[] { ("one chart", world.Visits.Take(1).ToArray()), ("100 charts", world.Visits) })
            {
                foreach (var c in callers)
                {
                    var r = await OpsAsync(http, visits, world.Botox, c, TimeSpan.FromSeconds(seconds));
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"| {label} | {c} | {r.Count} | {r.Errors} | {r.Count / r.Seconds:F1} | {Pct(r.Latencies, 50):F2} | {Pct(r.Latencies, 99):F2} |"));
                }
            }

            if (ArgText(args, "--parts") == "on")
            {
                await PartsAsync(server, tenant, world, callers, TimeSpan.FromSeconds(seconds));
            }

            if (ArgText(args, "--sync") != "off")
            {
                await SyncAsync(http, world, seconds);
            }

            if (ArgText(args, "--recall") == "off")
            {
                return 0;
            }

            // Recall over a clinic-year.
            var seed = Stopwatch.StartNew();
            await SeedYearAsync(cs, tenant.TenantId, tenant.ClinicId, world.ProviderId, world.Botox, world.Voluma);
            Console.WriteLine();
            Console.WriteLine($"recall: 116,800 points seeded in {seed.Elapsed.TotalSeconds:F1} s; 50 queries per row over random lots BTX-0..BTX-11 (1,200 visits each)");
            Console.WriteLine();
            Console.WriteLine("| recall by lot | queries | rows per answer | p50 ms | p99 ms | target |");
            Console.WriteLine("|---|---:|---:|---:|---:|---|");
            var owner = new HttpClient(handler, disposeHandler: false) { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
            owner.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", world.OwnerToken);
            var random = new Random(16);
            var httpTimes = new List<double>();
            var sqlTimes = new List<double>();
            var rowsOk = true;
            for (var i = 0; i < 55; i++)
            {
                var lot = random.Next(0, 12);
                const int expected = 30 * 40;
                var start = Stopwatch.GetTimestamp();
                var answer = await owner.GetFromJsonAsync<System.Text.Json.JsonElement>($"/api/recalls/injectables?lotNumber=BTX-{lot}");
                var elapsed = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                rowsOk &= answer.GetProperty("rows").GetArrayLength() == expected;
                if (i >= 5) httpTimes.Add(elapsed);
            }

            var sql = MedSpa.Api.Features.Charts.RecallApi.RecallSql.Replace("/*filter*/", "cp.lot_number = @lotNumber", StringComparison.Ordinal);
            await using (var conn = new NpgsqlConnection(cs))
            {
                await conn.OpenAsync();
                for (var i = 0; i < 55; i++)
                {
                    var lot = random.Next(0, 12);
                    var start = Stopwatch.GetTimestamp();
                    var rows = (await conn.QueryAsync(sql, new { tenantId = tenant.TenantId, lotNumber = $"BTX-{lot}" })).Count();
                    var elapsed = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                    rowsOk &= rows == 30 * 40;
                    if (i >= 5) sqlTimes.Add(elapsed);
                }
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| HTTP (query + JSON) | {httpTimes.Count} | 1200 | {Pct(httpTimes, 50):F2} | {Pct(httpTimes, 99):F2} | < 100 ms |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| SQL alone | {sqlTimes.Count} | 1200 | {Pct(sqlTimes, 50):F2} | {Pct(sqlTimes, 99):F2} | < 100 ms |"));
            Console.WriteLine();
            Console.WriteLine($"Row check {(rowsOk ? "PASSED" : "FAILED")}: every recall answered exactly the lot's 1,200 visits");
            return rowsOk ? 0 : 1;
        }
        finally
        {
            await server.DisposeAsync();
            await using var admin = new NpgsqlConnection(adminCs);
            NpgsqlConnection.ClearAllPools();
            await admin.ExecuteAsync($"DROP DATABASE IF EXISTS \"{dbName}\" WITH (FORCE)");
        }
    }

    /// <summary>Two devices merging on one chart, then 500 queued operations on reconnect.</summary>
    private static async Task SyncAsync(HttpClient http, ChartWorld world, int seconds)
    {
        Console.WriteLine();
        Console.WriteLine($"sync: two tablets on one chart, closed loop, {seconds} s per row; a pool of 40 points; ops = operations in the batches");
        Console.WriteLine();
        Console.WriteLine("| devices | ops per batch | batches | ops | errors | ops/s | batch p50 ms | batch p99 ms | superseded | conflicts seen |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        var visit = world.Visits[1];
        var points = Enumerable.Range(0, 40).Select(_ => Guid.NewGuid()).ToArray();
        foreach (var size in new[] { 1, 20 })
        {
            var result = new OpsResult();
            var ops = 0;
            var superseded = 0;
            var stopAt = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
            var begin = Stopwatch.GetTimestamp();
            await Task.WhenAll(new[] { "bench-a", "bench-b" }.Select(device => Task.Run(async () =>
            {
                var random = new Random(device.GetHashCode(StringComparison.Ordinal));
                long sequence = size == 1 ? 0 : 1_000_000, clock = 0, seen = 0;
                while (Stopwatch.GetTimestamp() < stopAt)
                {
                    var batch = Enumerable.Range(0, size).Select(_ => SyncOp(random, points, world.Botox, ++sequence, ++clock, device)).ToArray();
                    var start = Stopwatch.GetTimestamp();
                    using var response = await http.PostAsJsonAsync($"/api/visits/{visit}/chart/operations",
                        new { deviceId = device, seenVersion = seen, operations = batch });
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        lock (result) result.Errors++;
                        continue;
                    }

                    var elapsed = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                    var answer = await response.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>();
                    clock = Math.Max(clock, answer.GetProperty("clock").GetInt64());
                    seen = answer.GetProperty("syncVersion").GetInt64();
                    var lost = answer.GetProperty("results").EnumerateArray().Count(r => r.GetProperty("outcome").GetString() == "superseded");
                    lock (result)
                    {
                        result.Latencies.Add(elapsed);
                        ops += size;
                        superseded += lost;
                    }
                }
            })));
            result.Seconds = Stopwatch.GetElapsedTime(begin).TotalSeconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| 2 | {size} | {result.Count} | {ops} | {result.Errors} | {ops / result.Seconds:F1} | {Pct(result.Latencies, 50):F2} | {Pct(result.Latencies, 99):F2} | {superseded} | {(superseded > 0 ? "yes" : "no")} |"));
        }

        // A tablet back online with 500 queued operations: 200 adds, 150 moves, 100 dose changes, 50 note fields.
        Console.WriteLine();
        Console.WriteLine("| 500 queued operations, one batch | run | apply ms | resend ms | points after | applied |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        var applies = new List<double>();
        for (var run = 0; run < 5; run++)
        {
            var chart = world.Visits[50 + run];
            var random = new Random(run);
            var own = Enumerable.Range(0, 200).Select(_ => Guid.NewGuid()).ToArray();
            var queue = new List<object>();
            long seq = 0;
            foreach (var p in own) queue.Add(AddOp(p, world.Botox, ++seq, seq, "bench-offline", random));
            for (var i = 0; i < 150; i++) queue.Add(new { operationId = Guid.NewGuid().ToString("N"), sequence = ++seq, clock = seq, kind = "move-point", pointId = own[random.Next(own.Length)], x = random.Next(101), y = random.Next(101) });
            for (var i = 0; i < 100; i++) queue.Add(new { operationId = Guid.NewGuid().ToString("N"), sequence = ++seq, clock = seq, kind = "update-point", pointId = own[random.Next(own.Length)], productId = world.Botox, lotNumber = "BENCH-1", units = 1 + random.Next(8) });
            for (var i = 0; i < 50; i++) queue.Add(new { operationId = Guid.NewGuid().ToString("N"), sequence = ++seq, clock = seq, kind = "set-note-field", field = "treatmentNotes", value = $"note {i}" });
            var body = new { deviceId = "bench-offline", seenVersion = 0, operations = queue };
            var start = Stopwatch.GetTimestamp();
            using var response = await http.PostAsJsonAsync($"/api/visits/{chart}/chart/operations", body);
            var apply = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            var answer = await response.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>();
            if (response.StatusCode != HttpStatusCode.OK)
            {
                Console.WriteLine($"| refused | {run} | {(int)response.StatusCode} | {answer} | | |");
                continue;
            }

            start = Stopwatch.GetTimestamp();
            using var again = await http.PostAsJsonAsync($"/api/visits/{chart}/chart/operations", body);
            var resend = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            applies.Add(apply);
            var applied = answer.GetProperty("results").EnumerateArray().Count(r => r.GetProperty("outcome").GetString() == "applied");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| | {run} | {apply:F0} | {resend:F0} | {answer.GetProperty("chart").GetProperty("points").GetArrayLength()} | {applied} |"));
        }

        if (applies.Count > 0)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"500-operation batch: median {Pct(applies, 50):F0} ms, max {applies.Max():F0} ms"));
        }
    }

    private static object AddOp(Guid point, Guid botox, long sequence, long clock, string device, Random random) => new
    {
        operationId = $"{device}-{Guid.NewGuid():N}", sequence, clock, kind = "add-point", pointId = point, zone = "forehead",
        x = random.Next(101), y = random.Next(101), productId = botox, lotNumber = "BENCH-1", units = 1 + random.Next(8),
    };

    /// <summary>One tablet operation on the shared pool: an add (or re-add), a move, a dose change or a note field.</summary>
    private static object SyncOp(Random random, Guid[] points, Guid botox, long sequence, long clock, string device)
    {
        var point = points[random.Next(points.Length)];
        return random.Next(4) switch
        {
            0 => AddOp(point, botox, sequence, clock, device, random),
            1 => new { operationId = $"{device}-{Guid.NewGuid():N}", sequence, clock, kind = "move-point", pointId = point, x = random.Next(101), y = random.Next(101) },
            2 => new { operationId = $"{device}-{Guid.NewGuid():N}", sequence, clock, kind = "update-point", pointId = point, productId = botox, lotNumber = "BENCH-1", units = 1 + random.Next(8) },
            _ => new { operationId = $"{device}-{Guid.NewGuid():N}", sequence, clock, kind = "set-note-field", field = "plan", value = $"{device} {sequence}" },
        };
    }

    private sealed record ChartWorld(Guid ProviderId, string ProviderToken, string OwnerToken, Guid Botox, Guid Voluma, Guid[] Visits);

    private sealed class OpsResult
    {
        public List<double> Latencies { get; } = [];
        public int Errors;
        public double Seconds;
        public int Count => Latencies.Count;
    }

    /// <summary>Closed loop: each caller repeats add → update → remove on a chart (one of <paramref name="visits"/>).</summary>
    private static async Task<OpsResult> OpsAsync(HttpClient http, Guid[] visits, Guid botox, int callers, TimeSpan duration)
    {
        var result = new OpsResult();
        var stopAt = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var begin = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, callers).Select(caller => Task.Run(async () =>
        {
            var random = new Random(caller);
            var latencies = new List<double>(4096);
            var errors = 0;
            async Task<bool> TimedAsync(Func<Task<HttpResponseMessage>> call)
            {
                var start = Stopwatch.GetTimestamp();
                try
                {
                    using var response = await call();
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        errors++;
                        return false;
                    }

                    latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                    return true;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    errors++;
                    return false;
                }
            }

            while (Stopwatch.GetTimestamp() < stopAt)
            {
                var visit = visits[random.Next(visits.Length)];
                var point = Guid.NewGuid();
                var url = $"/api/visits/{visit}/chart/points";
                if (!await TimedAsync(() => http.PostAsJsonAsync(url, new
                    {
                        operationId = Guid.NewGuid().ToString("N"), pointId = point, zone = "forehead", x = 50, y = 30, productId = botox,
                        lotNumber = "BENCH-1", units = 2,
                    })))
                {
                    continue;
                }

                await TimedAsync(() => http.PutAsJsonAsync($"{url}/{point}", new
                {
                    operationId = Guid.NewGuid().ToString("N"), expectedVersion = 1, zone = "forehead", x = 50, y = 30, productId = botox,
                    lotNumber = "BENCH-1", units = 2.5,
                }));
                await TimedAsync(() => http.DeleteAsync($"{url}/{point}?operationId={Guid.NewGuid():N}&expectedVersion=2"));
            }

            lock (result)
            {
                result.Latencies.AddRange(latencies);
                result.Errors += errors;
            }
        })));
        result.Seconds = Stopwatch.GetElapsedTime(begin).TotalSeconds;
        return result;
    }

    private static async Task<ChartWorld> SeedWorldAsync(BenchServer server, BenchTenant tenant)
    {
        var providerId = Guid.NewGuid();
        var providerUser = Guid.NewGuid();
        var ownerUser = Guid.NewGuid();
        var serviceId = Guid.NewGuid();
        var botox = Guid.NewGuid();
        var voluma = Guid.NewGuid();
        await using (var conn = new NpgsqlConnection(server.ConnectionString))
        {
            await conn.ExecuteAsync(
                """
                INSERT INTO users (tenant_id, id, email, display_name, role, password_hash) VALUES
                    (@TenantId, @providerUser, @providerEmail, 'Provider', 'provider', '!'),
                    (@TenantId, @ownerUser, @ownerEmail, 'Owner', 'owner', '!');
                INSERT INTO user_clinics (tenant_id, user_id, clinic_id) VALUES (@TenantId, @providerUser, @ClinicId);
                INSERT INTO providers (tenant_id, id, first_name, last_name, display_name, title, color, clinic_ids)
                VALUES (@TenantId, @providerId, 'Ana', 'Rivera', 'Ana Rivera', 'np', '#7c3aed', ARRAY[@ClinicId]);
                INSERT INTO services (tenant_id, id, name, category, duration_minutes, price_amount, price_currency, tax_category, income_category)
                VALUES (@TenantId, @serviceId, 'Botox', 'neurotoxin', 30, 0, 'USD', 'medical', 'injectables');
                INSERT INTO products (tenant_id, id, name, kind, unit, units_per_package, price_per_unit_amount, price_currency, stability_hours,
                                      syringe_size_ml, tax_category, income_category)
                VALUES (@TenantId, @botox, 'Botox Cosmetic', 'neurotoxin', 'units', 100, 1400, 'USD', 24, NULL, 'medical', 'injectables'),
                       (@TenantId, @voluma, 'Juvederm Voluma XC', 'filler', 'syringe', 1, 85000, 'USD', NULL, 1.0, 'medical', 'injectables');
                INSERT INTO patients (tenant_id, id, first_name, last_name)
                SELECT @TenantId, md5(@TenantId::text || 'bp' || i)::uuid, 'Bench', 'Patient ' || i FROM generate_series(0, 99) AS i;
                INSERT INTO appointments (tenant_id, id, clinic_id, patient_id, provider_id, service_id, starts_at, duration_minutes, ends_at, created_by)
                SELECT @TenantId, md5(@TenantId::text || 'bv' || i)::uuid, @ClinicId, md5(@TenantId::text || 'bp' || i)::uuid, @providerId, @serviceId,
                       timestamptz '2030-01-01 09:00+00' + make_interval(hours => i), 30,
                       timestamptz '2030-01-01 09:00+00' + make_interval(hours => i, mins => 30), @ownerUser
                FROM generate_series(0, 99) AS i;
                """,
                new
                {
                    tenant.TenantId, tenant.ClinicId, providerId, providerUser, ownerUser, serviceId, botox, voluma,
                    providerEmail = $"p-{providerUser:N}@example.test", ownerEmail = $"o-{ownerUser:N}@example.test",
                });
        }

        var received = await server.Grains.GetGrain<IInventoryGrain>(InventoryKeys.For(tenant.TenantId, tenant.ClinicId, botox)).ReceiveLotAsync(
            new ReceiveLot("bench-lot", "BENCH-1", new DateOnly(2035, 1, 1), 1_000_000m, new Money(420, "USD"), "Allergan", ownerUser, DateTimeOffset.UtcNow));
        if (received.Refused) throw new InvalidOperationException("The bench lot was refused: " + received.Refusal!.Message);
        var issuer = server.Services.GetRequiredService<AccessTokenIssuer>();
        var (providerToken, _) = issuer.Issue(new TokenSubject(providerUser, tenant.TenantId, Roles.Provider, "p@example.test", "Provider",
            [tenant.ClinicId], Guid.NewGuid()));
        var (ownerToken, _) = issuer.Issue(new TokenSubject(ownerUser, tenant.TenantId, Roles.Owner, "o@example.test", "Owner", [tenant.ClinicId], Guid.NewGuid()));
        Guid[] visits;
        await using (var conn = new NpgsqlConnection(server.ConnectionString))
        {
            visits = [.. await conn.QueryAsync<Guid>("SELECT id FROM appointments WHERE tenant_id = @TenantId ORDER BY starts_at", new { tenant.TenantId })];
        }

        return new ChartWorld(providerId, providerToken, ownerToken, botox, voluma, visits);
    }

    /// <summary>The clinic-year of the tests (tests/MedSpa.Tests/Charts/RecallTests.cs, ChartYear), written with SQL.</summary>
    private static async Task SeedYearAsync(string cs, Guid tenantId, Guid clinicId, Guid providerId, Guid botox, Guid voluma)
    {
        await using var conn = new NpgsqlConnection(cs);
        await conn.ExecuteAsync(
            """
            INSERT INTO patients (tenant_id, id, first_name, last_name, email)
            SELECT @tenantId, md5(@tenantId::text || 'patient' || i)::uuid, 'Patient', 'No ' || i, 'p' || i || '@patients.example'
            FROM generate_series(0, 1999) AS i;
            INSERT INTO treatment_charts (tenant_id, visit_id, clinic_id, patient_id, provider_id, status, version, visit_date, created_at, updated_at)
            SELECT @tenantId, md5(@tenantId::text || 'visit' || d || '/' || t)::uuid, @clinicId,
                   md5(@tenantId::text || 'patient' || ((d * 40 + t) % 2000))::uuid, @providerId, 'ready-for-review', 8,
                   timestamptz '2025-01-01 00:00+00' + make_interval(days => d, hours => 14 + t / 6), now(), now()
            FROM generate_series(0, 364) AS d, generate_series(0, 39) AS t;
            INSERT INTO chart_points (tenant_id, visit_id, point_id, clinic_id, patient_id, provider_id, visit_date, zone, x, y, product_id,
                                      product_name, product_kind, lot_number, units, volume_ml, version)
            SELECT c.tenant_id, c.visit_id, md5(c.visit_id::text || k)::uuid, c.clinic_id, c.patient_id, c.provider_id, c.visit_date,
                   'zone ' || k, 10 + k, 20 + k, CASE WHEN k < 6 THEN @botox ELSE @voluma END,
                   CASE WHEN k < 6 THEN 'Botox Cosmetic' ELSE 'Juvederm Voluma XC' END, CASE WHEN k < 6 THEN 'neurotoxin' ELSE 'filler' END,
                   CASE WHEN k < 6 THEN 'BTX-' || (((c.visit_date AT TIME ZONE 'UTC')::date - DATE '2025-01-01') / 30)
                        ELSE 'VOL-' || (((c.visit_date AT TIME ZONE 'UTC')::date - DATE '2025-01-01') / 60) END,
                   CASE WHEN k < 6 THEN 4 END, CASE WHEN k >= 6 THEN 0.5 END, 1
            FROM treatment_charts c, generate_series(0, 7) AS k
            WHERE c.tenant_id = @tenantId AND c.visit_date < timestamptz '2026-01-01 00:00+00';
            ANALYZE chart_points;
            """, new { tenantId, clinicId, providerId, botox, voluma }, commandTimeout: 600);
    }

    /// <summary>
    /// The serial points of one clinic's chart path, each alone at the same callers (`--parts on`): the clinic's
    /// inventory grain of the product (one use or one return per op, as a chart op makes), and the organisation's audit
    /// chain — one append per op, as the chart filter makes it: first one transaction and advisory lock per append (how
    /// every append went before the group commit, still the path of an append inside a caller's transaction), then the
    /// group-committed append the chart filter uses now.
    /// </summary>
    private static async Task PartsAsync(BenchServer server, BenchTenant tenant, ChartWorld world, int[] callers, TimeSpan duration)
    {
        var audit = server.Services.GetRequiredService<AuditTrail>();
        var db = server.Services.GetRequiredService<NpgsqlDataSource>();
        var inventory = server.Grains.GetGrain<IInventoryGrain>(InventoryKeys.For(tenant.TenantId, tenant.ClinicId, world.Botox));
        var visit = world.Visits[0];
        var patient = Guid.NewGuid();
        var row = 0; // a use and its return share an id, unique per row (a reused id would be a replay)
        AuditEntry Entry() => new(world.ProviderId, "provider", "bench", "bench", "chart.changed", null, visit, "chart", visit, "bench part");
        var parts = new (string Label, Func<int, long, Task<bool>> Op)[]
        {
            ("inventory grain (use, return)", async (caller, n) =>
            {
                var op = $"bench-part:{row}:{caller}:{n / 2}";
                var answer = n % 2 == 0
                    ? await inventory.UseAsync(new UseRequest(op, "BENCH-1", 0.5m, visit, visit, world.ProviderId, patient))
                    : await inventory.ReturnAsync(op);
                return answer.Refusal is null;
            }),
            ("audit: a lock per append (before)", async (_, _) =>
            {
                await using var conn = await db.OpenTenantConnectionAsync(tenant.TenantId, CancellationToken.None);
                await using var tx = await conn.BeginTransactionAsync();
                await audit.AppendAsync(conn, tx, tenant.TenantId, Entry(), CancellationToken.None);
                await tx.CommitAsync();
                return true;
            }),
            ("audit: group commit (now)", async (_, _) =>
            {
                await audit.AppendAsync(tenant.TenantId, Entry(), CancellationToken.None);
                return true;
            }),
        };
        Console.WriteLine();
        Console.WriteLine("| part alone | callers | ops | errors | ops/s | p50 ms | p99 ms |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var (label, op) in parts)
        {
            foreach (var c in callers)
            {
                row++;
                var r = new OpsResult();
                var stopAt = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
                var begin = Stopwatch.GetTimestamp();
                await Task.WhenAll(Enumerable.Range(0, c).Select(caller => Task.Run(async () =>
                {
                    var latencies = new List<double>(4096);
                    var errors = 0;
                    for (long n = 0; Stopwatch.GetTimestamp() < stopAt || n % 2 == 1; n++)
                    {
                        var start = Stopwatch.GetTimestamp();
                        if (await op(caller, n)) latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                        else errors++;
                    }

                    lock (r)
                    {
                        r.Latencies.AddRange(latencies);
                        r.Errors += errors;
                    }
                })));
                r.Seconds = Stopwatch.GetElapsedTime(begin).TotalSeconds;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {label} | {c} | {r.Count} | {r.Errors} | {r.Count / r.Seconds:F1} | {Pct(r.Latencies, 50):F2} | {Pct(r.Latencies, 99):F2} |"));
            }
        }

        var verified = await audit.VerifyAsync(tenant.TenantId, CancellationToken.None);
        Console.WriteLine($"Audit chain check {(verified.Valid ? "PASSED" : "FAILED")}: {verified.EventsChecked} rows verified");
    }

    private static double Pct(List<double> values, int p)
    {
        if (values.Count == 0) return 0;
        var sorted = values.Order().ToList();
        return sorted[Math.Clamp((int)Math.Ceiling(p / 100.0 * sorted.Count) - 1, 0, sorted.Count - 1)];
    }

    private static int Arg(string[] args, string name, int fallback) =>
        ArgText(args, name) is { } text ? int.Parse(text, CultureInfo.InvariantCulture) : fallback;

    private static string? ArgText(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
